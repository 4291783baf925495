"""The ingest thread: agents' usage samples → latest values, raw points and minute aggregates.

The ReportStats handler only queues the validated batch (``submit``: a deque append), so the
event loop does no per-sample work. This thread wakes every ``tick`` and, per queued sample:

1. derives rates from the previous sample of the same container (CPU cores from the cumulative
   CPU nanoseconds over the time between the two samples; network and block I/O bytes per
   second), falling back to the agent's ``cpuPercentOfHost`` for a first sample;
2. keeps it as the container's ``Latest`` (what ``stowage top``, ``/metrics`` and
   ``kubectl top`` read);
3. appends a raw point to the container's series (``metrics_series.CONTAINER``);
4. adds it to its minute's ``MinuteBucket``.

A minute is closed ``close_after`` seconds after it ends (samples arrive up to one agent
interval late), which appends the service, cluster and family points of that minute. Samples
for a minute already closed still make raw points, not aggregates. Old or repeated samples
(not newer than the container's latest) are dropped.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from stowage.controllers.metrics_aggregate import MinuteBucket, ServiceState, aggregate, task_usages
from stowage.controllers.metrics_meta import MetricsMeta, TaskMeta
from stowage.controllers.metrics_series import CONTAINER, container_key, task_group
from stowage.controllers.telemetry import Histogram
from stowage.metricstore import MetricStore, MetricStoreClosed, SeriesInfo
from stowage.model.agent_stats import PackedBatch, batch_of

log = logging.getLogger(__name__)

MINUTE = 60.0


class Latest(NamedTuple):
    """A container's newest sample, with what was derived from the one before: a tuple, built
    once per sample in a few hundred nanoseconds (a slotted object with defaults costs more)."""

    ts: float
    cpu_ns: int
    cores: float | None
    """CPU in use, in cores (1.0 = one core), over the last interval; None for a first sample
    the agent gave no host percentage for."""
    mem: int
    mem_limit: int
    rss: int
    net_rx: int
    net_tx: int
    block_read: int
    block_write: int
    rates: tuple[float, float, float, float]
    """net rx, net tx, block read, block write in bytes per second over the last interval."""
    window: float
    """Seconds since the sample before (0 for a first sample)."""
    pids: int
    series: SeriesInfo | None
    """The container's raw series (None while its task is unknown to the index)."""


ZERO_RATES = (0.0, 0.0, 0.0, 0.0)
_new = tuple.__new__


@dataclass(frozen=True, slots=True)
class IngestConfig:
    close_after: float = 20.0
    """Seconds after a minute ends before its aggregates are computed."""
    tick: float = 0.5
    """Seconds between the thread's passes over what was queued. The thread is not woken per
    batch: each wake-up makes it contend with the event loop for the GIL, and handing the GIL
    back and forth costs more CPU than the samples themselves (measured: ~10x at 20 batches/s)."""
    background: bool = True
    """Run the ingest thread; False leaves ``drain`` and ``close_minutes`` to the caller (tests)."""


class Ingestor:
    def __init__(
        self,
        store: MetricStore,
        meta: MetricsMeta,
        services: Callable[[], Iterable[ServiceState]],
        config: IngestConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.meta = meta
        self.services = services
        self.config = config or IngestConfig()
        self.clock = clock
        self.latest: dict[str, dict[str, Latest]] = {}
        """task ARN → container name → its newest sample."""
        self._buckets: dict[float, MinuteBucket] = {}
        self._closed_before = 0.0
        self._queue: collections.deque[tuple[float, str, Sequence[Mapping[str, Any]] | PackedBatch]] = (
            collections.deque()
        )
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.samples = 0
        self.batches = 0
        self.dropped = 0
        self.busy_s = 0.0
        """Thread CPU seconds spent processing."""
        self.latency = Histogram()
        """Seconds from a batch's arrival to its points being in the store's head."""

    # -- the event loop's side ---------------------------------------------------------------
    def submit(self, instance_arn: str, samples: Sequence[Mapping[str, Any]] | PackedBatch) -> None:
        self._queue.append((time.monotonic(), instance_arn, samples))

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def forget(self, task_arn: str) -> None:
        self.latest.pop(task_arn, None)

    def start(self) -> None:
        if not self.config.background:
            return
        self._thread = threading.Thread(target=self._run, name="metrics-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- the thread --------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self._wake.wait(self.config.tick)
            self._wake.clear()
            started = time.thread_time()
            try:
                self.drain()
                self.close_minutes(self.clock())
            except MetricStoreClosed:
                return
            except Exception:  # one bad batch must not end ingestion
                log.exception("metrics ingestion failed")
            self.busy_s += time.thread_time() - started
            if self._stop:
                self.drain()
                return

    def drain(self) -> int:
        """Process everything queued (also callable directly, from tests)."""
        done = 0
        while self._queue:
            received, instance_arn, samples = self._queue.popleft()
            self.ingest(instance_arn, samples)
            self.latency.observe(time.monotonic() - received)
            done += 1
        return done

    def ingest(self, instance_arn: str, samples: Sequence[Mapping[str, Any]] | PackedBatch) -> None:
        """One batch. Written for speed (it runs for every sample): locals, no helper calls on
        the common path, one tuple per sample for the latest value and one for the point, and
        a container's minute accumulator touched once (``MinuteBucket``)."""
        batch = batch_of(samples)
        task_names, container_names = batch.tasks, batch.containers
        tasks = self.meta.tasks
        latest = self.latest
        points: list[tuple[SeriesInfo, tuple[float, ...]]] = []
        closed_before = self._closed_before
        bucket_minute, minute_of = -1.0, None
        kept = dropped = 0
        for r in batch.rows:
            arn = task_names[r[0]]
            name = container_names[r[1]]
            ts = r[2]
            per_task = latest.get(arn)
            if per_task is None:
                per_task = latest[arn] = {}
            prev = per_task.get(name)
            cpu_ns, rx, tx, rd, wr = r[3], r[8], r[9], r[10], r[11]
            cores = None
            rates = ZERO_RATES
            window = 0.0
            series = None
            if prev is not None:
                if ts <= prev.ts:
                    dropped += 1
                    continue
                series = prev.series
                window = ts - prev.ts
                if cpu_ns >= prev.cpu_ns:  # else the container restarted: its counters too
                    cores = (cpu_ns - prev.cpu_ns) / 1e9 / window
                    p_rx, p_tx, p_rd, p_wr = prev.net_rx, prev.net_tx, prev.block_read, prev.block_write
                    rates = (
                        (rx - p_rx) / window if rx >= p_rx else 0.0,
                        (tx - p_tx) / window if tx >= p_tx else 0.0,
                        (rd - p_rd) / window if rd >= p_rd else 0.0,
                        (wr - p_wr) / window if wr >= p_wr else 0.0,
                    )
            if cores is None and r[13] and r[12] == r[12]:  # a host percentage (NaN: none)
                cores = r[12] / 100.0 * r[13]
            meta = tasks.get(arn)
            if series is None and meta is not None:
                series = self._container_series(meta, name)
            mem, limit, rss = r[4], r[5], r[6]
            cur = per_task[name] = _new(
                Latest, (ts, cpu_ns, cores, mem, limit, rss, rx, tx, rd, wr, rates, window, r[14], series)
            )
            kept += 1
            if series is None or cores is None or meta is None:
                continue
            points.append((series, (ts, cores, mem, limit, rss, *rates)))
            minute = ts - ts % MINUTE
            if minute < closed_before:
                continue
            if minute != bucket_minute:
                bucket_minute = minute
                bucket = self._buckets.get(minute)
                if bucket is None:
                    bucket = self._buckets[minute] = MinuteBucket(minute)
                minute_of = bucket.containers
            assert minute_of is not None
            acc = minute_of.get(series)
            if acc is None:
                minute_of[series] = MinuteBucket.start(meta, name, cur, prev)
            else:
                acc[4] = cur  # the container's latest sample in the minute
        self.samples += kept
        self.dropped += dropped
        self.batches += 1
        if points:
            self.store.append(points)

    def _container_series(self, meta: TaskMeta, name: str) -> SeriesInfo:
        c = meta.containers.get(name)
        labels = {
            "account": meta.account,
            "region": meta.region,
            "cluster": meta.cluster,
            "service": meta.service or "",
            "family": meta.family,
            "task": meta.task_id,
            "container": name,
            "instance": meta.instance_id or "",
            "cpu": str(c.cpu_units if c else 0),
            "memory": str(c.memory_reserved_mib if c else 0),
            "task_cpu": str(meta.cpu_units),
            "task_memory": str(meta.memory_reserved_mib),
        }
        info = self.store.series(
            container_key(meta.account, meta.region, meta.cluster, meta.task_id, name),
            task_group(meta.account, meta.region, meta.cluster, meta.task_id),
            CONTAINER.name,
            labels,
        )
        return info

    def close_minutes(self, now: float) -> int:
        """Aggregate every minute that ended ``close_after`` seconds before ``now``."""
        limit = now - self.config.close_after - MINUTE
        newest = limit - limit % MINUTE
        due = {m for m in self._buckets if m <= newest}
        if newest >= self._closed_before:
            due.add(newest)  # a minute without samples still gets its counts (scaled to zero)
        minutes = sorted(due)
        for minute in minutes:
            bucket = self._buckets.pop(minute, None) or MinuteBucket(minute)
            self._close(bucket)
            self._closed_before = max(self._closed_before, minute + MINUTE)
        if minutes:  # once a minute: a pass over every container
            self._sweep()
        return len(minutes)

    def _close(self, bucket: MinuteBucket) -> None:
        instances = list(self.meta.instances.values())
        index = self.meta.index

        def counts(ref: tuple[str, str, str]) -> tuple[int, int]:
            c = index.cluster_counts(*ref)
            return c.running_total, c.pending_total

        points = aggregate(bucket.minute, task_usages(bucket), instances, list(self.services()), counts)
        rows = [
            (self.store.series(key, group, layout.name, labels), row)
            for layout, key, group, labels, row in points
        ]
        if rows:
            self.store.append(rows)

    def _sweep(self) -> None:
        """Forget the latest samples of tasks that stopped or are gone."""
        tasks = self.meta.tasks
        for arn in list(self.latest):
            meta = tasks.get(arn)
            if meta is None or meta.status == "STOPPED":
                self.latest.pop(arn, None)
