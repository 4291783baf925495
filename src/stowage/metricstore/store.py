"""``MetricStore``: an embedded time-series store in one SQLite file (``metrics.db``).

Why not the KV store or the log store: metrics are tens of thousands of series each getting a
point every few seconds, read by time range and statistic, and thinned out with age. So they
get their own file, format and threads:

- ``append`` puts points in an in-memory head (one lock acquisition per batch) and returns;
  nothing touches SQLite on the caller's thread.
- the **writer thread** flushes the head every ``flush_interval`` seconds, one uncompressed
  chunk per series in one transaction, and every ``maintain_interval`` runs the maintenance
  pass (``maintenance``: compaction to packed hours, minute rollups, retention, size bound).
  A crash loses at most the last flush interval; ``close`` flushes everything.
- ``read`` returns a series' points in a time range from its chunks plus the head, on the
  calling thread with a connection of its own (WAL: reads never wait for the writer);
  ``read_async`` runs it on the store's reader thread.

Series are registered in memory first (``series``) and written with the next flush, so a new
series costs no SQLite round trip. ``group`` finds the series sharing a group name (the
containers of one task, say) without a query.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stowage.metricstore import codec, maintenance
from stowage.metricstore.codec import Columns
from stowage.metricstore.db import MAX_SPAN, ChunkRow, MetricDb, SeriesRow, connect
from stowage.metricstore.layout import MINUTE, RAW, Layout
from stowage.metricstore.maintenance import PassResult, Policy

log = logging.getLogger(__name__)

DB_FILE = "metrics.db"
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    raw_retention: float = DAY
    """Seconds raw points are kept."""
    rollup_retention: float = 14 * DAY
    """Seconds minute points (rollups, and series whose step is a minute) are kept."""
    max_bytes: int = 2 * 1024**3
    """The database file is kept under this size (oldest points evicted first)."""
    flush_interval: float = 60.0
    """Seconds between flushes of the head: what a crash of the process can lose at most (a
    graceful stop flushes everything). Shorter means more, smaller rows to compact later."""
    maintain_interval: float = 300.0
    background: bool = True
    """Run the writer thread; False leaves flushing and maintenance to explicit calls (tests)."""
    read_only: bool = False
    """Open another process's store to read it (a benchmark, a tool): no writer, no thread."""


@dataclass(slots=True, eq=False)
class SeriesInfo:
    id: int
    key: str
    group: str
    layout: Layout
    labels: dict[str, str]
    created: float
    last: float
    """Timestamp of the newest flushed point (``created`` before any)."""


class MetricStoreClosed(RuntimeError):
    pass


class MetricStore:
    def __init__(
        self,
        path: Path,
        layouts: Iterable[Layout],
        config: StoreConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.config = config or StoreConfig()
        self.clock = clock
        self.layouts = {lay.name: lay for lay in layouts}
        self._wdb = MetricDb(connect(self.path, writer=not self.config.read_only))
        self._lock = threading.Lock()
        self._series: dict[str, SeriesInfo] = {}
        self._by_id: dict[int, SeriesInfo] = {}
        self._groups: dict[str, dict[int, SeriesInfo]] = {}
        self._new: list[SeriesInfo] = []
        self._head: dict[int, list[tuple[float, ...]]] = {}
        self._flushing: dict[int, list[tuple[float, ...]]] = {}
        self._next_id = 1
        self._readers: list[MetricDb] = []
        self._local = threading.local()
        self._closed = False
        self.appended = 0
        self.flushes = 0
        self.last_flush_s = 0.0
        self.last_pass: PassResult | None = None
        for row in self._wdb.load_series():
            self._adopt(row)
        self._wake = threading.Condition()
        self._requests: list[tuple[str, Any, Future[Any]]] = []
        self._rpool = ThreadPoolExecutor(1, thread_name_prefix="metricstore-read")
        self._thread: threading.Thread | None = None
        if self.config.background and not self.config.read_only:
            self._thread = threading.Thread(target=self._run, name="metricstore-writer", daemon=True)
            self._thread.start()

    @classmethod
    def open_in(
        cls,
        data_dir: Path,
        layouts: Iterable[Layout],
        config: StoreConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> MetricStore:
        return cls(Path(data_dir) / DB_FILE, layouts, config, clock=clock)

    def _adopt(self, row: SeriesRow) -> None:
        sid, key, group, layout_name, labels, created, last = row
        layout = self.layouts.get(layout_name)
        self._next_id = max(self._next_id, sid + 1)
        if layout is None:  # a layout this version no longer defines: leave its data alone
            return
        info = SeriesInfo(sid, key, group, layout, labels, created, last)
        self._series[key] = info
        self._by_id[sid] = info
        self._groups.setdefault(group, {})[sid] = info

    # -- series ------------------------------------------------------------------------------
    def series(self, key: str, group: str, layout: str, labels: Mapping[str, str]) -> SeriesInfo:
        """The series ``key``, registered now if new (written with the next flush)."""
        info = self._series.get(key)
        if info is not None:
            return info
        lay = self.layouts[layout]
        with self._lock:
            info = self._series.get(key)
            if info is None:
                now = self.clock()
                info = SeriesInfo(self._next_id, key, group, lay, dict(labels), now, now)
                self._next_id += 1
                self._series[key] = info
                self._by_id[info.id] = info
                self._groups.setdefault(group, {})[info.id] = info
                self._new.append(info)
        return info

    def get(self, key: str) -> SeriesInfo | None:
        return self._series.get(key)

    def group(self, group: str) -> list[SeriesInfo]:
        return list(self._groups.get(group, {}).values())

    def all_series(self) -> list[SeriesInfo]:
        return list(self._by_id.values())

    @property
    def series_count(self) -> int:
        return len(self._by_id)

    # -- writing -----------------------------------------------------------------------------
    def append(self, points: Sequence[tuple[SeriesInfo, tuple[float, ...]]]) -> None:
        """Queue points (``(ts, field1, ...)`` in the series' layout) for the next flush."""
        if self._closed or self.config.read_only:
            raise MetricStoreClosed("the metric store is closed" if self._closed else "opened read-only")
        with self._lock:
            head = self._head
            for info, row in points:
                rows = head.get(info.id)
                if rows is None:
                    head[info.id] = [row]
                else:
                    rows.append(row)
            self.appended += len(points)

    def _flush(self) -> int:
        """Write the head: one RAW chunk per series and hour, new series first, one commit."""
        started = time.perf_counter()
        with self._lock:
            head, self._head = self._head, {}
            new, self._new = self._new, []
            self._flushing = head
        try:
            chunks: list[ChunkRow] = []
            lasts: dict[int, float] = {}
            for sid, rows in head.items():
                info = self._by_id.get(sid)
                if info is None:
                    continue
                rows.sort(key=_first)
                tier = info.layout.native_tier
                width = info.layout.width
                for part in _by_hour(rows):
                    blob = codec.encode_raw(part, width)
                    chunks.append((sid, tier, part[0][0], part[-1][0], len(part), 0, blob))
                lasts[sid] = rows[-1][0]
            series_rows: list[SeriesRow] = [
                (i.id, i.key, i.group, i.layout.name, i.labels, i.created, i.last) for i in new
            ]

            def work() -> None:
                self._wdb.insert_series(series_rows)
                self._wdb.insert_chunks(chunks)

            maintenance.in_txn(self._wdb, work)
            if self._wdb.file_bytes() > self.config.max_bytes:
                # between maintenance passes too: the bound holds after every flush
                maintenance.bound_size(self._wdb, self.config.max_bytes, self.clock())
                self._wdb.release()
            for sid, last in lasts.items():
                info = self._by_id.get(sid)
                if info is not None and last > info.last:
                    info.last = last
        except BaseException:
            with self._lock:  # put it all back: the next flush tries again
                for sid, rows in head.items():
                    self._head.setdefault(sid, []).extend(rows)
                self._new = new + self._new
            raise
        finally:
            with self._lock:
                self._flushing = {}
        self.flushes += 1
        self.last_flush_s = time.perf_counter() - started
        return len(chunks)

    def _maintain(self, now: float | None) -> PassResult:
        now = self.clock() if now is None else now
        cfg = self.config
        result = PassResult()
        grace = 2 * cfg.flush_interval
        with self._lock:
            layouts = {sid: info.layout for sid, info in self._by_id.items()}
        result.compacted = maintenance.compact(self._wdb, layouts, now - grace)
        result.expired_chunks = maintenance.expire(
            self._wdb, Policy(cfg.raw_retention, cfg.rollup_retention, cfg.max_bytes), now
        )
        result.forgotten_series = self._forget(now - cfg.rollup_retention)
        result.evicted_chunks = maintenance.bound_size(self._wdb, cfg.max_bytes, now)
        if result.compacted or result.forgotten_series:
            # the newest point of every series, for the next start-up (at most an hour stale:
            # a series is then kept an hour longer, never dropped early)
            self._wdb.update_last((i.last, i.id) for i in list(self._by_id.values()))
        self._wdb.release()
        result.bytes_after = self._wdb.file_bytes()
        self.last_pass = result
        return result

    def _forget(self, before: float) -> int:
        with self._lock:
            pending = set(self._head) | {i.id for i in self._new}
            gone = [i for i in self._by_id.values() if i.last < before and i.id not in pending]
            for info in gone:
                self._by_id.pop(info.id, None)
                self._series.pop(info.key, None)
                members = self._groups.get(info.group)
                if members is not None:
                    members.pop(info.id, None)
                    if not members:
                        del self._groups[info.group]
        if gone:
            ids = [i.id for i in gone]
            maintenance.in_txn(self._wdb, lambda: self._wdb.delete_series(ids))
        return len(gone)

    # -- the writer thread -------------------------------------------------------------------
    def _run(self) -> None:
        cfg = self.config
        next_flush = time.monotonic() + cfg.flush_interval
        next_pass = time.monotonic() + min(cfg.maintain_interval, 30.0)
        while True:
            with self._wake:
                wait = max(0.0, min(next_flush, next_pass) - time.monotonic())
                if not self._requests:
                    self._wake.wait(wait)
                requests, self._requests = self._requests, []
            for kind, arg, fut in requests:
                if kind == "close":
                    self._serve(fut, self._flush)
                    return
                if kind == "flush":
                    self._serve(fut, self._flush)
                else:
                    self._serve(fut, functools.partial(self._maintain, arg))
            mono = time.monotonic()
            if mono >= next_flush:
                next_flush = mono + cfg.flush_interval
                self._guarded(self._flush)
            if mono >= next_pass:
                next_pass = mono + cfg.maintain_interval
                self._guarded(lambda: self._maintain(None))

    @staticmethod
    def _serve(fut: Future[Any], work: Callable[[], Any]) -> None:
        try:
            fut.set_result(work())
        except BaseException as exc:
            fut.set_exception(exc)

    @staticmethod
    def _guarded(work: Callable[[], Any]) -> None:
        try:
            work()
        except Exception:  # a failed pass is retried at the next interval; the head is kept
            log.exception("metric store background work failed")

    def _ask(self, kind: str, arg: Any = None) -> Any:
        if self._thread is None:
            if kind == "maintain":
                return self._maintain(arg)
            return self._flush()
        fut: Future[Any] = Future()
        with self._wake:
            self._requests.append((kind, arg, fut))
            self._wake.notify()
        return fut.result()

    def flush(self) -> int:
        """Write the head now (blocking); returns the chunks written."""
        return int(self._ask("flush"))

    def maintain(self, now: float | None = None) -> PassResult:
        """Run the maintenance pass now (blocking), as of ``now`` (default: the clock)."""
        result: PassResult = self._ask("maintain", now)
        return result

    def close(self) -> None:
        """Flush and close; further appends fail."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._ask("close")
            self._thread.join()
        elif not self.config.read_only:
            self._flush()
        self._rpool.shutdown(wait=True)
        for db in self._readers:
            db.close()
        self._wdb.close()

    # -- reading -----------------------------------------------------------------------------
    def _reader(self) -> MetricDb:
        db: MetricDb | None = getattr(self._local, "db", None)
        if db is None:
            db = MetricDb(connect(self.path, writer=False))
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        return db

    def read(
        self,
        info: SeriesInfo,
        start: float,
        end: float,
        tier: int | None = None,
        want: Collection[int] | None = None,
    ) -> Columns:
        """Points of ``info`` with ``start <= ts < end`` in ``tier`` (default: its native tier),
        as columns sorted by time. ``want``: only these columns (besides the timestamps) are
        filled in; the others are empty lists."""
        tier = info.layout.native_tier if tier is None else tier
        width = info.layout.tier_width(tier)
        pending: list[tuple[float, ...]] = []
        if tier == info.layout.native_tier:
            # The head before the database: a point flushed in between is then seen twice
            # (and merged), never missed.
            with self._lock:
                pending = [*self._flushing.get(info.id, ()), *self._head.get(info.id, ())]
        blobs = self._reader().read(info.id, tier, start, end)
        parts = [codec.decode(blob, want) for blob in blobs]
        if pending:
            parts.append([list(c) for c in zip(*sorted(pending, key=_first), strict=True)])
        if len(parts) == 1:
            merged = parts[0]
        elif codec.in_order(parts):
            merged = codec.concat(parts, width)
        else:  # overlapping chunks (late points, a point both flushed and in the head)
            parts = [codec.decode(blob) for blob in blobs]
            if pending:
                parts.append([list(c) for c in zip(*sorted(pending, key=_first), strict=True)])
            merged = codec.merge(parts, width)
        return _clip(merged, start, end)

    async def read_async(
        self, info: SeriesInfo, start: float, end: float, tier: int | None = None
    ) -> Columns:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._rpool, self.read, info, start, end, tier)

    async def run_read(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` (a function of several ``read`` calls) on the reader thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._rpool, work)

    def size_bytes(self) -> int:
        """The database file and its WAL on disk."""
        total = 0
        for suffix in ("", "-wal"):
            p = self.path.with_name(self.path.name + suffix)
            if p.exists():
                total += p.stat().st_size
        return total


def _first(row: tuple[float, ...]) -> float:
    return row[0]


def _by_hour(rows: list[tuple[float, ...]]) -> list[list[tuple[float, ...]]]:
    """Sorted rows split so that no chunk crosses an hour boundary (see ``db.MAX_SPAN``)."""
    first, last = rows[0][0], rows[-1][0]
    if math.floor(first / MAX_SPAN) == math.floor(last / MAX_SPAN):
        return [rows]
    out: list[list[tuple[float, ...]]] = []
    for row in rows:
        hour = math.floor(row[0] / MAX_SPAN)
        if out and math.floor(out[-1][0][0] / MAX_SPAN) == hour:
            out[-1].append(row)
        else:
            out.append([row])
    return out


def _clip(cols: Columns, start: float, end: float) -> Columns:
    ts = cols[0]
    if not ts or (ts[0] >= start and ts[-1] < end):
        return cols
    i, j = bisect.bisect_left(ts, start), bisect.bisect_left(ts, end)
    return [c[i:j] if c else c for c in cols]


__all__ = ["DB_FILE", "MINUTE", "RAW", "MetricStore", "SeriesInfo", "StoreConfig"]
