"""The embedded default store: one SQLite database file in the data dir.

Layout: ``<data_dir>/stowage.db`` (WAL mode, so readers never wait for the writer) and
``<data_dir>/stowage.lock`` (an exclusive ``flock``: one process owns a data dir at a time,
because the revision counter lives in the writing process).

Writes go through the single writer thread of ``sqlite_writer`` (group commit). Durability:
``synchronous=FULL`` by default, so an acknowledged write survives ``kill -9`` *and* power
loss: the commit fsyncs the WAL before any waiter is resolved. (``NORMAL`` would already
survive ``kill -9``, since a committed WAL frame sits in the OS page cache, but not an OS crash;
group commit makes FULL cheap enough that there is no reason to offer less by default.)

Reads run on the event loop against a separate read connection: a point lookup is a few
microseconds of SQLite, cheaper than a hop to a thread would be, and WAL readers never block on
the writer. (An in-memory index was the alternative; it costs the whole dataset in RAM and a
second source of truth for the same speed within a small factor: see bench/store.py.) The
last few thousand keys read are kept with their values (``RECENT_KEYS``): this process is the
database's only writer, and every commit's events update the keys kept before any writer hears
back, so a kept value is never older than an acknowledged write; a txn that lost a compare drops
the keys it compared, so its retry reads what is committed now; and a value read while a commit
was still on its way to the loop is not kept, so reads never go back in time. RunTask reads the same cluster
record and task definition over and over: a dict lookup instead of a statement each time. Watch
replay, which can read many rows, runs in a worker thread on its own connection.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

from stowage.store.base import (
    Compacted,
    Compare,
    Delete,
    Event,
    EventType,
    FutureRevision,
    KeyValue,
    Op,
    Put,
    RangeResult,
    StoreUnavailable,
    TxnResult,
)
from stowage.store.compare import check_operand
from stowage.store.guarded import guarded_write
from stowage.store.sqlite_writer import (
    HISTORY_COLUMNS,
    KV_COLUMNS,
    MAX_BATCH,
    CompactRequest,
    Outcome,
    TxnRequest,
    Writer,
    connect,
    prefix_clause,
    row_to_event,
    row_to_kv,
)
from stowage.store.watchhub import Subscription, WatchHub

RECENT_KEYS = 4096
"""Keys whose last read value ``get`` keeps (oldest read first out)."""
DB_NAME = "stowage.db"
LOCK_NAME = "stowage.lock"

Synchronous = Literal["FULL", "NORMAL"]


class SqliteStore:
    """A ``Store`` on one SQLite file. Bind it to one event loop: create it, use it and close it
    on the same loop."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        synchronous: Synchronous = "FULL",
        max_batch: int = MAX_BATCH,
        watch_buffer: int = 50_000,
    ) -> None:
        """``max_batch``: most txns per commit. ``watch_buffer``: most events a watcher may
        fall behind before it is switched to catching up from the history table."""
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.data_dir / DB_NAME
        self._lock_fd = _lock_data_dir(self.data_dir / LOCK_NAME)
        try:
            self._writer = Writer(self.path, synchronous, self._deliver, max_batch)
            self._read = connect(self.path, synchronous)
            self._replay_conn = connect(self.path, synchronous)
        except BaseException:
            os.close(self._lock_fd)
            raise
        self._replay_lock = threading.Lock()
        self._hub = WatchHub(self._replay, max_pending=watch_buffer)
        self._hub.current_revision = self._writer.revision
        self._closed = False
        self._recent: dict[str, KeyValue | None] = {}
        self._writer.start()

    @property
    def commits(self) -> int:
        """SQLite commits so far; with group commit this is far below the number of writes."""
        return self._writer.commits

    # -- reads (on the loop, read connection) -----------------------------------------------
    async def get(self, key: str) -> KeyValue | None:
        self._check_open()
        recent = self._recent
        if key in recent:
            return recent[key]
        try:
            row = self._read.execute(f"SELECT {KV_COLUMNS} FROM kv WHERE key = ?", (key,)).fetchone()
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite read failed: {e}") from e
        kv = None if row is None else row_to_kv(row)
        if self._writer.revision == self._hub.current_revision:
            # Kept only when the read could not see a commit the loop has not heard of yet:
            # that commit's (earlier) delivery would otherwise overwrite a newer value.
            recent[key] = kv
            if len(recent) > RECENT_KEYS:
                del recent[next(iter(recent))]
        return kv

    async def range(self, prefix: str, *, start_after: str | None = None, limit: int = 0) -> RangeResult:
        self._check_open()
        where, params = prefix_clause(prefix)
        if start_after is not None and start_after >= prefix:
            # one lower bound only: given two, SQLite seeks on the first and filters the rest,
            # which makes late pages scan every earlier key
            where, params = where.replace("key >= ?", "key > ?", 1), [start_after, *params[1:]]
        sql = f"SELECT {KV_COLUMNS} FROM kv WHERE {where} ORDER BY key"
        if limit:
            sql += " LIMIT ?"
            params.append(limit + 1)  # one extra row tells whether more follow
        try:
            # one read transaction, so the revision is the one the rows were read at
            self._read.execute("BEGIN")
            try:
                revision = self._meta(self._read, "revision")
                rows = self._read.execute(sql, params).fetchall()
            finally:
                self._read.execute("COMMIT")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite read failed: {e}") from e
        more = bool(limit) and len(rows) > limit
        if more:
            rows = rows[:limit]
        return RangeResult([row_to_kv(r) for r in rows], more, revision)

    async def revision(self) -> int:
        self._check_open()
        try:
            return self._meta(self._read, "revision")
        except sqlite3.Error as e:
            raise StoreUnavailable(f"sqlite read failed: {e}") from e

    @staticmethod
    def _meta(conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(row[0])

    # -- writes (queued to the writer thread) -----------------------------------------------
    async def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        return await guarded_write(self.txn, key, Put(key, value), expect_mod_revision)

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        return await guarded_write(self.txn, key, Delete(key), expect_mod_revision)

    async def txn(
        self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        self._check_open()
        for c in compares:
            check_operand(c)
        future: asyncio.Future[TxnResult] = asyncio.get_running_loop().create_future()
        self._writer.submit(TxnRequest(tuple(compares), tuple(success), tuple(failure), future))
        return await future

    async def compact(self, revision: int) -> None:
        self._check_open()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._writer.submit(CompactRequest(revision, future))
        await future

    def _deliver(self, outcomes: list[Outcome]) -> None:
        """On the loop, in commit order: publish each txn's events, then wake its waiter."""
        recent = self._recent
        for outcome in outcomes:
            if outcome.events:
                for event in outcome.events:
                    if event.kv.key in recent:
                        recent[event.kv.key] = event.kv if event.type is EventType.PUT else None
                self._hub.publish(outcome.events)
            for key in outcome.lost:
                # A compare lost to a commit this loop may not have heard of yet (a later
                # batch): the retry reads the database, as it would without the kept keys.
                recent.pop(key, None)
            if outcome.future.done():  # the caller was cancelled; the write stands anyway
                continue
            if outcome.error is not None:
                outcome.future.set_exception(outcome.error)
            else:
                outcome.future.set_result(outcome.result)

    # -- watch ---------------------------------------------------------------------------------
    @property
    def watchers(self) -> int:
        """Open watches (what ``/metrics`` reports)."""
        return self._hub.subscribers

    def watch(self, prefix: str, *, start_revision: int | None = None) -> SqliteWatch:
        self._check_open()
        return SqliteWatch(self._hub.subscribe(prefix, start_revision))

    async def _replay(self, prefix: str, start_revision: int) -> tuple[list[Event], int]:
        return await asyncio.to_thread(self._replay_sync, prefix, start_revision)

    def _replay_sync(self, prefix: str, start_revision: int) -> tuple[list[Event], int]:
        where, params = prefix_clause(prefix)
        with self._replay_lock:
            conn = self._replay_conn
            if self._closed:
                raise StoreUnavailable("store is closed")
            conn.execute("BEGIN")
            try:
                revision = self._meta(conn, "revision")
                compacted = self._meta(conn, "compacted")
                if start_revision < compacted:
                    raise Compacted(start_revision, compacted)
                if start_revision > revision + 1:
                    raise FutureRevision(f"revision {start_revision} is in the future")
                rows: list[tuple[Any, ...]] = conn.execute(
                    f"SELECT {HISTORY_COLUMNS} FROM history WHERE rev >= ? AND {where} ORDER BY rev, seq",
                    [start_revision, *params],
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        return [row_to_event(r) for r in rows], revision

    # -- lifecycle -----------------------------------------------------------------------------
    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Everything queued before this point is committed and delivered before we return:
        # the writer drains its queue, and its last delivery is scheduled on the loop before
        # the thread ends, hence before to_thread's own completion callback.
        await asyncio.to_thread(self._writer.stop)
        await asyncio.sleep(0)
        self._hub.close()
        self._read.close()
        with self._replay_lock:
            self._replay_conn.close()
        os.close(self._lock_fd)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")


class SqliteWatch:
    def __init__(self, sub: Subscription) -> None:
        self._sub = sub

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        return self._sub.__aiter__()

    async def started(self) -> None:
        """Subscribed synchronously by ``watch``: nothing to wait for."""

    async def close(self) -> None:
        await self._sub.close()


def _lock_data_dir(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreUnavailable(f"{path.parent} is in use by another stowage process") from None
    return fd
