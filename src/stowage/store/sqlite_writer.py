"""The SQLite store's single writer thread: schema, txn application and group commit.

Every write (a txn or a compaction) is queued here. The thread takes everything queued, applies
it inside one SQLite transaction (each txn at its own revision, in queue order, so a txn's
compares see the effects of the txns before it), commits once, and only then resolves the
waiters on the event loop. With ``synchronous=FULL`` a commit costs one fsync; under load one
commit carries hundreds of txns, so durability costs one fsync per batch instead of per write.

Nothing here touches the event loop except through ``call_soon_threadsafe``: the thread owns
its connection, the revision counter and the compaction point.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stowage.store.base import (
    Compacted,
    Compare,
    Delete,
    Event,
    EventType,
    FutureRevision,
    Get,
    KeyValue,
    Op,
    Put,
    StoreError,
    StoreUnavailable,
    TxnResult,
)
from stowage.store.compare import compare_holds

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key        TEXT PRIMARY KEY,
    value      BLOB NOT NULL,
    create_rev INTEGER NOT NULL,
    mod_rev    INTEGER NOT NULL,
    version    INTEGER NOT NULL
) WITHOUT ROWID;
-- One row per event, for watch replay. A DELETE has value NULL and create_rev/version 0;
-- prev_* describe the key before the change (NULL for a create).
CREATE TABLE IF NOT EXISTS history (
    rev             INTEGER NOT NULL,
    seq             INTEGER NOT NULL,
    key             TEXT NOT NULL,
    type            INTEGER NOT NULL,
    value           BLOB,
    create_rev      INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    prev_value      BLOB,
    prev_create_rev INTEGER,
    prev_mod_rev    INTEGER,
    prev_version    INTEGER,
    PRIMARY KEY (rev, seq)
) WITHOUT ROWID;
-- 'revision': the store-wide revision (kept even when every key is gone, so it never goes
-- back); 'compacted': the compaction point (history before it is gone).
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (name, value) VALUES ('revision', 0), ('compacted', 0);
"""

PUT_TYPE, DELETE_TYPE = 0, 1
MAX_BATCH = 2000
CHECKPOINT_EVERY = 16
"""Commits between two background checkpoints (each costs an fsync of the database file)."""
WAL_LIMIT = 256 * 1024 * 1024
"""WAL size past which the writer checkpoints itself (the checkpointer fell behind)."""
CACHE_SIZE = 8192
_IN_CHUNK = 500
_MAX_VARIABLES = 32766
"""SQLite's limit on ``?`` parameters in one statement (since 3.32)."""
"""Keys the writer remembers (values are shared with the events, so mostly references)."""

KV_COLUMNS = "key, value, create_rev, mod_rev, version"
HISTORY_COLUMNS = (
    "rev, key, type, value, create_rev, version, prev_value, prev_create_rev, prev_mod_rev, prev_version"
)


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: no bound).

    SQLite compares TEXT as UTF-8 bytes and UTF-8 preserves code point order, so this bound
    in code points is also the bound in bytes, which is etcd's key order."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1])
        if code < 0x10FFFF:
            code += 1
            if 0xD800 <= code <= 0xDFFF:  # surrogates cannot be encoded; skip over them
                code = 0xE000
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


def prefix_clause(prefix: str) -> tuple[str, list[Any]]:
    """A WHERE fragment (on column ``key``) selecting keys that start with ``prefix``."""
    end = prefix_end(prefix)
    if end is None:
        return "key >= ?", [prefix]
    return "key >= ? AND key < ?", [prefix, end]


def row_to_kv(row: tuple[Any, ...]) -> KeyValue:
    return KeyValue(row[0], row[1], row[2], row[3], row[4])


def row_to_event(row: tuple[Any, ...]) -> Event:
    rev, key, kind, value, create_rev, version, p_value, p_create, p_mod, p_version = row
    prev = None if p_mod is None else KeyValue(key, p_value, p_create, p_mod, p_version)
    kv = KeyValue(key, value if value is not None else b"", create_rev, rev, version)
    return Event(EventType.PUT if kind == PUT_TYPE else EventType.DELETE, kv, prev)


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves. check_same_thread=False because
    # the store opens connections on the loop thread and hands some to worker threads; each
    # connection is still used by one thread at a time.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=256)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=10000")
    conn.execute("PRAGMA journal_size_limit=67108864")
    return conn


@dataclass(slots=True)
class TxnRequest:
    compares: Sequence[Compare]
    success: Sequence[Op]
    failure: Sequence[Op]
    future: asyncio.Future[TxnResult]


@dataclass(slots=True)
class CompactRequest:
    revision: int
    future: asyncio.Future[None]


Request = TxnRequest | CompactRequest


@dataclass(slots=True)
class Outcome:
    """What one request came to; delivered on the event loop in commit order."""

    future: asyncio.Future[Any]
    result: object = None
    error: BaseException | None = None
    events: list[Event] = field(default_factory=list)
    lost: tuple[str, ...] = ()
    """A txn whose compares failed: the keys it compared (the reader's copies may be behind)."""


Deliver = Callable[[list[Outcome]], None]


class Checkpointer:
    """Copies the WAL back into the database file (``wal_checkpoint(PASSIVE)``: never blocks
    the writer or readers) each time the writer pokes it after a commit."""

    def __init__(self, path: Path, synchronous: str) -> None:
        self._conn = connect(path, synchronous)
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="stowage-sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:  # busy, I/O: the next poke tries again
                log.debug("checkpoint failed: %s", exc)


class Writer:
    """The one thread that writes the database. ``submit`` from the loop; results come back
    through ``deliver``, called on the loop of the batch's first request."""

    def __init__(
        self,
        path: Path,
        synchronous: str,
        deliver: Deliver,
        max_batch: int = MAX_BATCH,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._conn = connect(path, synchronous)
        # Checkpoints (copying the WAL back into the database, an fsync of its own) run on a
        # thread of their own: inside a commit they made every hundredth batch wait tens of ms.
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = Checkpointer(path, synchronous)
        self._wal = Path(f"{path}-wal")
        self._conn.executescript(SCHEMA)
        meta = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
        self.revision: int = meta["revision"]
        self.compacted: int = meta["compacted"]
        self._deliver = deliver
        self._max_batch = max_batch
        self._cache: OrderedDict[str, KeyValue | None] = OrderedDict()
        """Recently read or written keys (None: known absent), least recent first."""
        self._cache_size = cache_size
        self._pending: dict[str, KeyValue | None] = {}
        """The batch's writes not yet flushed (None: deleted)."""
        self._history: list[tuple[Any, ...]] = []
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="stowage-sqlite-writer", daemon=True)
        self.commits = 0
        """Number of SQLite commits so far (one per batch): ``txns / commits`` is the batching."""

    def start(self) -> None:
        self._thread.start()
        self._checkpointer.start()

    def submit(self, request: Request) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        """Finish everything queued before this call, then end the thread. Blocks."""
        self._queue.put(None)
        self._thread.join()
        self._checkpointer.stop()
        self._conn.close()

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            outcomes = self._commit(batch)
            loop = batch[0].future.get_loop()
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
                loop.call_soon_threadsafe(self._deliver, outcomes)
            if stopping:
                return

    def _commit(self, batch: list[Request]) -> list[Outcome]:
        revision, compacted = self.revision, self.compacted
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._prefetch(batch)
            outcomes = [
                self._apply_txn(r) if isinstance(r, TxnRequest) else self._apply_compact(r) for r in batch
            ]
            self._flush()
            if self.revision != revision:
                self._conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (self.revision,))
            if self.compacted != compacted:
                self._conn.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (self.compacted,))
            self._conn.execute("COMMIT")
            self.commits += 1
        except Exception as e:  # disk full, I/O error, a bug: fail the batch, keep running
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            self.revision, self.compacted = revision, compacted
            # The cache may hold what was just rolled back: forget it all.
            self._cache.clear()
            self._pending.clear()
            self._history.clear()
            error = StoreUnavailable(f"sqlite commit failed: {e}")
            return [Outcome(r.future, error=error) for r in batch]
        self._after_commit()
        return outcomes

    def _after_commit(self) -> None:
        if self.commits % CHECKPOINT_EVERY == 0:
            self._checkpointer.poke()
        if self.commits % 256 == 0:
            # A safety valve: should the checkpointer fall far behind (a reader pinning the
            # WAL), the writer checkpoints itself, as SQLite's autocheckpoint would.
            with contextlib.suppress(OSError, sqlite3.Error):
                if self._wal.stat().st_size > WAL_LIMIT:
                    self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    # Every statement drops the GIL and must win it back from the busy event loop, which costs
    # far more than the statement itself under load. So a batch runs as few statements as it
    # can: keys are read through a cache (this thread is the database's only writer, so what
    # it read or wrote stays true), and the batch's writes are kept in ``_pending`` and
    # ``_history`` and written by two ``executemany`` just before the commit.

    def _get(self, key: str, overlay: dict[str, KeyValue | None] | None = None) -> KeyValue | None:
        """The key as the txn being applied sees it: its own writes (``overlay``), then the
        batch's, then the cache, then the database."""
        if overlay is not None and key in overlay:
            return overlay[key]
        if key in self._pending:
            return self._pending[key]
        cache = self._cache
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        row = self._conn.execute(f"SELECT {KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
        kv = None if row is None else row_to_kv(row)
        self._remember(key, kv)
        return kv

    def _prefetch(self, batch: list[Request]) -> None:
        """Read every key the batch names and the cache lacks, in a few statements."""
        wanted: set[str] = set()
        for r in batch:
            if isinstance(r, TxnRequest):
                wanted.update(c.key for c in r.compares)
                for op in (*r.success, *r.failure):
                    if not (isinstance(op, Delete) and op.prefix):
                        wanted.add(op.key)
        cache, pending = self._cache, self._pending
        missing = [k for k in wanted if k not in cache and k not in pending]
        for i in range(0, len(missing), _IN_CHUNK):
            chunk = missing[i : i + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn.execute(f"SELECT {KV_COLUMNS} FROM kv WHERE key IN ({marks})", chunk).fetchall()
            found = {r[0]: row_to_kv(r) for r in rows}
            for key in chunk:
                self._remember(key, found.get(key))

    def _remember(self, key: str, kv: KeyValue | None) -> None:
        cache = self._cache
        cache[key] = kv
        cache.move_to_end(key)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

    def _flush(self) -> None:
        """Write the batch's pending changes (inside the open transaction)."""
        pending, history = self._pending, self._history
        if pending:
            puts = [
                (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version)
                for kv in pending.values()
                if kv is not None
            ]
            deletes = [(key,) for key, kv in pending.items() if kv is None]
            self._insert_rows(f"INSERT OR REPLACE INTO kv ({KV_COLUMNS}) VALUES ", puts)
            if deletes:
                self._conn.executemany("DELETE FROM kv WHERE key = ?", deletes)
        self._insert_rows(f"INSERT INTO history (seq, {HISTORY_COLUMNS}) VALUES ", history)
        # Cached before the commit: a failed commit clears the whole cache.
        for key, kv in pending.items():
            self._remember(key, kv)
        pending.clear()
        history.clear()

    def _insert_rows(self, head: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` with multi-row VALUES statements: one statement (one GIL round
        trip) per chunk, where ``executemany`` costs one per row."""
        if not rows:
            return
        width = len(rows[0])
        per = max(1, _MAX_VARIABLES // width)
        group = "(" + ", ".join("?" * width) + ")"
        for i in range(0, len(rows), per):
            chunk = rows[i : i + per]
            params = [value for row in chunk for value in row]
            self._conn.execute(head + ", ".join([group] * len(chunk)), params)

    def _apply_txn(self, req: TxnRequest) -> Outcome:
        # The txn's writes go to ``overlay`` first: if applying it raises (a bug, a bad operand
        # that slipped through), only that txn is dropped and only its waiter sees the error.
        overlay: dict[str, KeyValue | None] = {}
        try:
            ok = all(compare_holds(c, self._get(c.key, overlay)) for c in req.compares)
            rev = self.revision + 1
            events: list[Event] = []
            results: list[KeyValue | int | None] = []
            for op in req.success if ok else req.failure:
                if isinstance(op, Get):
                    results.append(self._get(op.key, overlay))
                elif isinstance(op, Put):
                    events.append(self._put(op, rev, overlay))
                    results.append(rev)
                else:
                    deleted = self._delete(op, rev, overlay)
                    events.extend(deleted)
                    results.append(len(deleted))
        except sqlite3.Error:
            raise  # the database itself failed: the whole batch is rolled back
        except Exception as e:
            return Outcome(req.future, error=e)
        if events:
            self._pending.update(overlay)
            self._history.extend((seq, *_history_row(e)) for seq, e in enumerate(events))
            self.revision = rev
        lost = () if ok else tuple(c.key for c in req.compares)
        return Outcome(req.future, TxnResult(ok, self.revision, results), None, events, lost)

    def _put(self, op: Put, rev: int, overlay: dict[str, KeyValue | None]) -> Event:
        prev = self._get(op.key, overlay)
        if prev is None:
            kv = KeyValue(op.key, op.value, rev, rev, 1)
        else:
            kv = KeyValue(op.key, op.value, prev.create_revision, rev, prev.version + 1)
        overlay[op.key] = kv
        return Event(EventType.PUT, kv, prev)

    def _delete(self, op: Delete, rev: int, overlay: dict[str, KeyValue | None]) -> list[Event]:
        if not op.prefix:
            prev = self._get(op.key, overlay)
            if prev is None:
                return []
            overlay[op.key] = None
            return [Event(EventType.DELETE, KeyValue(op.key, b"", 0, rev, 0), prev)]
        # A range: what the database holds once the batch's writes are in, and the txn's own.
        self._flush()
        where, params = prefix_clause(op.key)
        rows = self._conn.execute(
            f"SELECT {KV_COLUMNS} FROM kv WHERE {where} ORDER BY key", params
        ).fetchall()
        found = {r[0]: row_to_kv(r) for r in rows}
        for key, kv in overlay.items():
            if key.startswith(op.key):
                if kv is None:
                    found.pop(key, None)
                else:
                    found[key] = kv
        events = []
        for key in sorted(found):
            overlay[key] = None
            events.append(Event(EventType.DELETE, KeyValue(key, b"", 0, rev, 0), found[key]))
        return events

    def _apply_compact(self, req: CompactRequest) -> Outcome:
        if req.revision > self.revision:
            error: StoreError = FutureRevision(
                f"cannot compact to {req.revision}: current revision is {self.revision}"
            )
            return Outcome(req.future, error=error)
        if req.revision <= self.compacted:
            return Outcome(req.future, error=Compacted(req.revision, self.compacted))
        self._flush()  # the batch's history rows first, so the cut sees them
        self._conn.execute("DELETE FROM history WHERE rev < ?", (req.revision,))
        self.compacted = req.revision
        return Outcome(req.future)


def _history_row(e: Event) -> tuple[Any, ...]:
    kv, prev = e.kv, e.prev_kv
    return (
        kv.mod_revision,
        kv.key,
        PUT_TYPE if e.type is EventType.PUT else DELETE_TYPE,
        kv.value if e.type is EventType.PUT else None,
        kv.create_revision,
        kv.version,
        None if prev is None else prev.value,
        None if prev is None else prev.create_revision,
        None if prev is None else prev.mod_revision,
        None if prev is None else prev.version,
    )
