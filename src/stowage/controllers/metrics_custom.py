"""Custom metrics (CloudWatch ``PutMetricData``): their series in the metric store, how points are
written, listed and read back as statistics.

One series per (account, region, namespace, metric name, dimension set, unit, resolution), layout
``metrics_series.CUSTOM``: each stored point is one statistic set (count, sum, minimum,
maximum), exact floats. A ``Value`` is ``(1, v, v, v)``; ``Values``/``Counts`` give one point
per value ``(c, c*v, v, v)``; ``StatisticValues`` one point as given. Points live in the minute
tier (kept for the rollup retention, 14 days by default: CloudWatch keeps 1-minute data 15 days)
at their second (standard resolution: their minute), so 1-second periods work for
high-resolution data.

The store keeps one point per timestamp (a re-sent point replaces the old one), but
CloudWatch adds up every value published for a moment. So each point gets a timestamp of its
own inside its second (or minute): the millisecond part counts the points of that second, from
a random start the first time this process writes there (a restarted server shares a second
with the points written before it only by a 1-in-1,000 chance per pair). A second holds 1,000
points, a standard-resolution minute 60,000; past that, points wrap onto earlier slots and
replace them (a documented limit, far above what CloudWatch accepts per series).

Percentiles: each point counts with its weight (``Values``/``Counts`` give exact percentiles);
a ``StatisticValues`` set counts as its average, an approximation (CloudWatch answers no
percentile for statistic sets at all).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import orjson

from stowage.controllers.metrics_series import CUSTOM
from stowage.metricstore import MINUTE, MetricStore, SeriesInfo, basic_statistic

StatPoint = tuple[float, float, float, float]
"""(count, sum, minimum, maximum)"""

_MAX_SLOTS_TRACKED = 200_000


def _scope(account: str, region: str) -> str:
    return f"m/{account}/{region}/"


def _dims_json(dims: Mapping[str, str]) -> str:
    return orjson.dumps(sorted(dims.items())).decode()


def series_group(account: str, region: str, namespace: str, metric: str, dims: Mapping[str, str]) -> str:
    """The group of one metric's series (one per unit it was published with)."""
    return _scope(account, region) + orjson.dumps([namespace, metric, _dims_json(dims)]).decode()


def series_key(
    account: str,
    region: str,
    *,
    namespace: str,
    metric: str,
    dims: Mapping[str, str],
    unit: str,
    resolution: int,
) -> str:
    return f"{series_group(account, region, namespace, metric, dims)}|{unit}|{resolution}"


@dataclass(frozen=True, slots=True)
class Datum:
    metric: str
    dimensions: Mapping[str, str]
    unit: str
    timestamp: float
    resolution: int
    """1 (high resolution: kept at the second) or 60 (kept at the minute)."""
    points: Sequence[StatPoint]


@dataclass(frozen=True, slots=True)
class CustomMetric:
    namespace: str
    metric: str
    dimensions: dict[str, str]
    units: tuple[str, ...]
    last_active: float
    """When a point of it was last written (this process) or flushed."""


class CustomMetrics:
    """Writes and lists custom metrics; ``fold`` reads them (on the store's reader thread)."""

    def __init__(self, store: MetricStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._slots: dict[tuple[int, float], int] = {}
        self._active: dict[int, float] = {}
        self._lock = threading.Lock()
        self._rng = random.Random()

    def put(self, account: str, region: str, namespace: str, data: Sequence[Datum]) -> int:
        """Queue the data's points for the store's next flush; returns how many points."""
        now = self.clock()
        rows: list[tuple[SeriesInfo, tuple[float, ...]]] = []
        with self._lock:
            for d in data:
                width = 60 if d.resolution >= 60 else 1
                key = series_key(
                    account,
                    region,
                    namespace=namespace,
                    metric=d.metric,
                    dims=d.dimensions,
                    unit=d.unit,
                    resolution=width,
                )
                info = self.store.series(
                    key,
                    series_group(account, region, namespace, d.metric, d.dimensions),
                    CUSTOM.name,
                    {
                        "namespace": namespace,
                        "metric": d.metric,
                        "dims": _dims_json(d.dimensions),
                        "unit": d.unit,
                        "resolution": str(width),
                    },
                )
                self._active[info.id] = now
                bucket = d.timestamp - d.timestamp % width
                for point in d.points:
                    rows.append((info, (self._slot(info.id, bucket, width), *point)))
            if len(self._slots) > _MAX_SLOTS_TRACKED:
                self._prune(now)
        self.store.append(rows)
        return len(rows)

    def _slot(self, sid: int, bucket: float, width: int) -> float:
        """A timestamp inside ``bucket`` no other point of the series has (see the module doc)."""
        capacity = width * 1000
        held = self._slots.get((sid, bucket))
        n = self._rng.randrange(capacity) if held is None else held
        self._slots[(sid, bucket)] = (n + 1) % capacity
        return bucket + n / 1000.0

    def _prune(self, now: float) -> None:
        cutoff = now - 3600.0
        for key in [k for k in self._slots if k[1] < cutoff]:
            del self._slots[key]

    def list(self, account: str, region: str) -> Iterator[CustomMetric]:
        """Every custom metric of the account and region kept in the store."""
        scope = _scope(account, region)
        merged: dict[str, CustomMetric] = {}
        for info in self.store.all_series():
            if not info.key.startswith(scope) or info.layout.name != CUSTOM.name:
                continue
            active = max(info.created, info.last, self._active.get(info.id, 0.0))
            held = merged.get(info.group)
            if held is None:
                merged[info.group] = CustomMetric(
                    info.labels["namespace"],
                    info.labels["metric"],
                    dict(orjson.loads(info.labels["dims"])),
                    (info.labels["unit"],),
                    active,
                )
            else:
                merged[info.group] = CustomMetric(
                    held.namespace,
                    held.metric,
                    held.dimensions,
                    (*held.units, info.labels["unit"]),
                    max(held.last_active, active),
                )
        yield from merged.values()


@dataclass(slots=True)
class _Bucket:
    n: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    weighted: list[tuple[float, float]] | None = None

    def add(self, count: float, total: float, low: float, high: float) -> None:
        if count <= 0:
            return
        self.n += count
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        if self.weighted is not None:
            self.weighted.append((low if low == high else total / count, count))

    def value(self, stat: str | float) -> float | None:
        if self.n <= 0:
            return None
        if isinstance(stat, str):
            return basic_statistic(stat, self.n, self.total, self.low, self.high)
        return weighted_percentile(self.weighted or [], stat)


def weighted_percentile(values: list[tuple[float, float]], q: float) -> float | None:
    """Nearest-rank percentile of values given with their counts."""
    if not values:
        return None
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    rank = max(1.0, math.ceil(q / 100.0 * total))
    seen = 0.0
    for value, weight in ordered:
        seen += weight
        if seen >= rank:
            return value
    return ordered[-1][0]


def fold(
    store: MetricStore,
    where: tuple[str, str, str, str],
    dims: Mapping[str, str],
    span: tuple[float, float, int],
    *,
    stat: str | float,
    unit: str | None,
) -> tuple[list[float], list[float], str]:
    """(period starts, values, unit) of a custom metric: ``where`` is (account, region,
    namespace, metric), ``span`` (start, end, period). Runs on the calling thread."""
    account, region, namespace, metric = where
    start, end, period = span
    members = store.group(series_group(account, region, namespace, metric, dims))
    if unit is not None:
        members = [i for i in members if i.labels.get("unit") == unit]
    if not members:
        return [], [], unit or "None"
    buckets: dict[float, _Bucket] = {}
    for info in members:
        # a standard-resolution point is at its minute, whatever slot inside it it was given
        width = 60.0 if info.labels.get("resolution") == "60" else 1.0
        cols = store.read(info, start, end, MINUTE)
        for ts, count, total, low, high in zip(*cols, strict=True):
            at = ts - ts % width
            bucket = at - at % period
            held = buckets.get(bucket)
            if held is None:
                held = buckets[bucket] = _Bucket(weighted=[] if isinstance(stat, float) else None)
            held.add(count, total, low, high)
    timestamps: list[float] = []
    values: list[float] = []
    for ts in sorted(buckets):
        v = buckets[ts].value(stat)
        if v is not None:
            timestamps.append(ts)
            values.append(v)
    return timestamps, values, unit or members[0].labels.get("unit", "None")
