"""The metric query function: (namespace, metric, dimensions, start, end, period, stat) → points.

What CloudWatch's GetMetricData/GetMetricStatistics will call. ``MetricQueries.query`` resolves
the metric to stored series (``metrics_catalog``), reads the range from the store on its reader
thread, and reduces each period to the statistic asked for:

- minute series (service, cluster, family) give one statistic set per minute (count, sum,
  minimum, maximum: ECS's own per-minute data point); a period combines its minutes;
- task and container metrics come from the raw container series: each raw point is one sample
  (a task's samples are the sums of its containers' samples taken together, on a 10-second
  grid), so percentiles are exact there; data older than the raw retention comes from the
  minute rollups (``docs/metrics.md`` has the details).

Periods are aligned to multiples of the period since the epoch, as CloudWatch does; periods
with no data are left out. Bad input raises ``MetricQueryError`` with CloudWatch's error code;
a metric or dimension set nothing is kept for is not an error but an empty answer, as in
CloudWatch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from stowage.controllers import metrics_catalog as catalog
from stowage.controllers import metrics_custom
from stowage.controllers.metrics_catalog import Source
from stowage.controllers.metrics_series import RAW_STEP
from stowage.metricstore import (
    MINUTE,
    RAW,
    Columns,
    MetricStore,
    SeriesInfo,
    StatisticError,
    StatSet,
    new_statset,
    parse_statistic,
)

HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
DEFAULT_MAX_POINTS = 100_800
"""GetMetricData's cap on data points per query; GetMetricStatistics passes its own (1,440)."""


class MetricQueryError(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class MetricQuery:
    account: str
    region: str
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    start: float
    end: float
    period: int
    stat: str
    max_points: int = DEFAULT_MAX_POINTS
    unit: str | None = None
    """Only data published with this unit (custom metrics; an AWS metric has one unit)."""


@dataclass(slots=True)
class MetricPoints:
    timestamps: list[float] = field(default_factory=list)
    """Period starts, ascending."""
    values: list[float] = field(default_factory=list)
    unit: str = "None"


def validate(q: MetricQuery) -> str | float:
    """The parsed statistic, or ``MetricQueryError`` for what CloudWatch refuses."""
    try:
        stat = parse_statistic(q.stat)
    except StatisticError as exc:
        raise MetricQueryError("InvalidParameterValue", str(exc)) from None
    if q.period <= 0 or (q.period % 60 != 0 and q.period not in HIGH_RESOLUTION_PERIODS):
        raise MetricQueryError(
            "InvalidParameterValue",
            f"The parameter Period must be 1, 5, 10, 30 or a multiple of 60 (got {q.period}).",
        )
    if q.start >= q.end:
        raise MetricQueryError(
            "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime."
        )
    points = (q.end - q.start) / q.period
    if points > q.max_points:
        raise MetricQueryError(
            "InvalidParameterCombination",
            f"You have requested up to {int(points)} datapoints, which exceeds the limit of "
            f"{q.max_points}. You may reduce the datapoints requested by increasing Period, "
            "or decreasing the time range.",
        )
    return stat


class MetricQueries:
    def __init__(self, store: MetricStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    async def query(self, q: MetricQuery) -> MetricPoints:
        stat = validate(q)
        result: MetricPoints = await self.store.run_read(lambda: self.run(q, stat))
        return result

    def run(self, q: MetricQuery, stat: str | float | None = None) -> MetricPoints:
        """The query on the calling thread (the reader thread, or a test or benchmark)."""
        stat = validate(q) if stat is None else stat
        if not catalog.is_aws_namespace(q.namespace):
            where = (q.account, q.region, q.namespace, q.metric)
            span = (q.start, q.end, q.period)
            times, values, unit = metrics_custom.fold(
                self.store, where, q.dimensions, span, stat=stat, unit=q.unit
            )
            return MetricPoints(times, values, unit)
        if q.unit is not None and q.unit != catalog.unit_of(q.metric):
            return MetricPoints(unit=q.unit)
        found = catalog.resolve(self.store, (q.account, q.region), q.namespace, q.metric, q.dimensions)
        if found is None:
            return MetricPoints(unit=catalog.unit_of(q.metric))
        source, series = found
        sets: dict[float, StatSet] = {}
        if source.kind == catalog.MINUTE_SERIES:
            for info in series:
                cols = self.store.read(info, q.start, q.end, MINUTE, source.columns)
                _fold_minutes(source, info, cols, period=q.period, stat=stat, sets=sets)
        else:
            self._fold_containers(source, series, q, stat=stat, sets=sets)
        out = MetricPoints(unit=source.unit)
        for ts in sorted(sets):
            value = sets[ts].value(stat)
            if value is not None:
                out.timestamps.append(ts)
                out.values.append(value)
        return out

    def _fold_containers(
        self,
        source: Source,
        series: list[SeriesInfo],
        q: MetricQuery,
        stat: str | float,
        sets: dict[float, StatSet],
    ) -> None:
        raw_from = max(q.start, self.clock() - self.store.config.raw_retention)
        per_task = source.kind == catalog.TASK_SERIES
        if raw_from > q.start:
            # Older than the raw tier: minute rollups, summed over the task's containers.
            minutes: dict[float, list[float]] = {}
            for info in series:
                cols = self.store.read(info, q.start, min(raw_from, q.end), MINUTE, source.rollup_columns)
                for minute, n, total, low, high in source.rollup_values(info, cols):
                    held = minutes.get(minute)
                    if held is None:
                        minutes[minute] = [n, total / n, low, high]
                    else:
                        held[0] = max(held[0], n)
                        held[1] += total / n
                        held[2] += low
                        held[3] += high
            for minute, (n, avg, low, high) in minutes.items():
                _statset(sets, minute - minute % q.period, stat).add_set(n, avg * n, low, high)
        if raw_from >= q.end:
            return
        slots: dict[float, float] = {}
        grid = min(RAW_STEP, float(q.period))
        for info in series:
            cols = self.store.read(info, raw_from, q.end, RAW, source.columns)
            values = source.raw_values(info, cols)
            if not per_task:
                for ts, v in zip(cols[0], values, strict=True):
                    _statset(sets, ts - ts % q.period, stat).add(v)
                continue
            # A task's value at a moment is the sum of its containers' samples taken together:
            # put each sample on the nearest slot of a grid (10 s, or the period if shorter),
            # averaging a container's samples that share one, then sum across containers.
            own: dict[float, list[float]] = {}
            for ts, v in zip(cols[0], values, strict=True):
                slot = round(ts / grid) * grid
                held = own.get(slot)
                if held is None:
                    own[slot] = [v, 1.0]
                else:
                    held[0] += v
                    held[1] += 1
            for slot, (total, n) in own.items():
                slots[slot] = slots.get(slot, 0.0) + total / n
        for slot, v in slots.items():
            if q.start <= slot < q.end:
                _statset(sets, slot - slot % q.period, stat).add(v)


def _statset(sets: dict[float, StatSet], bucket: float, stat: str | float) -> StatSet:
    held = sets.get(bucket)
    if held is None:
        held = sets[bucket] = new_statset(stat)
    return held


def _fold_minutes(
    source: Source,
    info: SeriesInfo,
    cols: Columns,
    *,
    period: int,
    stat: str | float,
    sets: dict[float, StatSet],
) -> None:
    for ts, n, total, low, high in source.minute_sets(info, cols):
        _statset(sets, ts - ts % period, stat).add_set(n, total, low, high)
