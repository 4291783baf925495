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
import queue
import sqlite3
import threading
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


Deliver = Callable[[list[Outcome]], None]


class Writer:
    """The one thread that writes the database. ``submit`` from the loop; results come back
    through ``deliver``, called on the loop of the batch's first request."""

    def __init__(self, path: Path, synchronous: str, deliver: Deliver, max_batch: int = MAX_BATCH) -> None:
        self._conn = connect(path, synchronous)
        self._conn.executescript(SCHEMA)
        meta = dict(self._conn.execute("SELECT name, value FROM meta").fetchall())
        self.revision: int = meta["revision"]
        self.compacted: int = meta["compacted"]
        self._deliver = deliver
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="stowage-sqlite-writer", daemon=True)
        self.commits = 0
        """Number of SQLite commits so far (one per batch): ``txns / commits`` is the batching."""

    def start(self) -> None:
        self._thread.start()

    def submit(self, request: Request) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        """Finish everything queued before this call, then end the thread. Blocks."""
        self._queue.put(None)
        self._thread.join()
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
            outcomes = [
                self._apply_txn(r) if isinstance(r, TxnRequest) else self._apply_compact(r) for r in batch
            ]
            if self.revision != revision:
                self._conn.execute("UPDATE meta SET value = ? WHERE name = 'revision'", (self.revision,))
            if self.compacted != compacted:
                self._conn.execute("UPDATE meta SET value = ? WHERE name = 'compacted'", (self.compacted,))
            self._conn.execute("COMMIT")
            self.commits += 1
            return outcomes
        except Exception as e:  # disk full, I/O error, a bug: fail the batch, keep running
            if self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
            self.revision, self.compacted = revision, compacted
            error = StoreUnavailable(f"sqlite commit failed: {e}")
            return [Outcome(r.future, error=error) for r in batch]

    def _get(self, key: str) -> KeyValue | None:
        row = self._conn.execute(f"SELECT {KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else row_to_kv(row)

    def _apply_txn(self, req: TxnRequest) -> Outcome:
        conn = self._conn
        # A savepoint per txn: if applying one txn raises (a bug, a bad operand that slipped
        # through), only that txn is undone and only its waiter sees the error.
        conn.execute("SAVEPOINT txn")
        try:
            ok = all(compare_holds(c, self._get(c.key)) for c in req.compares)
            rev = self.revision + 1
            events: list[Event] = []
            results: list[KeyValue | int | None] = []
            for op in req.success if ok else req.failure:
                if isinstance(op, Get):
                    results.append(self._get(op.key))
                elif isinstance(op, Put):
                    events.append(self._put(op, rev))
                    results.append(rev)
                else:
                    deleted = self._delete(op, rev)
                    events.extend(deleted)
                    results.append(len(deleted))
            if events:
                conn.executemany(
                    f"INSERT INTO history (seq, {HISTORY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(seq, *_history_row(e)) for seq, e in enumerate(events)],
                )
            conn.execute("RELEASE txn")
        except sqlite3.Error:
            raise  # the database itself failed: the whole batch is rolled back
        except Exception as e:
            conn.execute("ROLLBACK TO txn")
            conn.execute("RELEASE txn")
            return Outcome(req.future, error=e)
        if events:
            self.revision = rev
        return Outcome(req.future, TxnResult(ok, self.revision, results), None, events)

    def _put(self, op: Put, rev: int) -> Event:
        prev = self._get(op.key)
        if prev is None:
            kv = KeyValue(op.key, op.value, rev, rev, 1)
        else:
            kv = KeyValue(op.key, op.value, prev.create_revision, rev, prev.version + 1)
        self._conn.execute(
            f"INSERT OR REPLACE INTO kv ({KV_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version),
        )
        return Event(EventType.PUT, kv, prev)

    def _delete(self, op: Delete, rev: int) -> list[Event]:
        if op.prefix:
            where, params = prefix_clause(op.key)
        else:
            where, params = "key = ?", [op.key]
        rows = self._conn.execute(
            f"SELECT {KV_COLUMNS} FROM kv WHERE {where} ORDER BY key", params
        ).fetchall()
        if rows:
            self._conn.execute(f"DELETE FROM kv WHERE {where}", params)
        return [Event(EventType.DELETE, KeyValue(r[0], b"", 0, rev, 0), row_to_kv(r)) for r in rows]

    def _apply_compact(self, req: CompactRequest) -> Outcome:
        if req.revision > self.revision:
            error: StoreError = FutureRevision(
                f"cannot compact to {req.revision}: current revision is {self.revision}"
            )
            return Outcome(req.future, error=error)
        if req.revision <= self.compacted:
            return Outcome(req.future, error=Compacted(req.revision, self.compacted))
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
