"""The data points a target tracking policy looks at, from the metrics pipeline.

- ``ECSServiceAverageCPUUtilization`` / ``ECSServiceAverageMemoryUtilization``: with the
  default one-minute metric period, ``AWS/ECS`` ``CPUUtilization`` / ``MemoryUtilization``
  (Average) by ``ClusterName`` + ``ServiceName``: the minute series ECS publishes, closed 20 s
  after each minute, as AWS's alarms see them.
- The ``...HighResolution`` types, and the two above when the server's metric period is under
  a minute (``--autoscaling-metric-period``, for tests and demos): the same ratio computed from
  the raw Container Insights task series (``CpuUtilized`` / ``CpuReserved``, ``MemoryUtilized``
  / ``MemoryReserved`` by ``ClusterName`` + ``TaskId``; agents sample every stats interval)
  summed over the service's running tasks per period: 100 * sum(used) / sum(reserved), the same
  definition as ``AWS/ECS``'s, so a CPU burn shows within one or two periods instead of
  after the minute closes. High-resolution types use 10 s periods unless the server's is
  shorter.
- ``CustomizedMetricSpecification``: the metric, dimensions and statistic it names (or its
  ``Metrics`` list when that is one ``MetricStat`` returning data), at the metric period,
  from whatever the pipeline keeps (``AWS/ECS``, ``ECS/ContainerInsights``); anything else
  has no data, and a policy without data does nothing (INSUFFICIENT_DATA).

Only complete periods are used (a period still filling would read low).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from stowage.controllers.metrics import Metrics
from stowage.controllers.metrics_query import MetricQuery, MetricQueryError
from stowage.model import autoscaling as model
from stowage.model.autoscaling_rules import SCALE_IN_POINTS

log = logging.getLogger("stowage.controllers.autoscaling")

HIGH_RESOLUTION_PERIOD = 10
_QUERY_PERIODS = (1, 5, 10, 30)
_PAIRS = {"cpu": ("CpuUtilized", "CpuReserved"), "memory": ("MemoryUtilized", "MemoryReserved")}
_ECS_METRIC = {"cpu": "CPUUtilization", "memory": "MemoryUtilization"}


class PointSource(Protocol):
    async def points(
        self, account: str, region: str, cluster: str, service: str, *, config: Mapping[str, Any], now: float
    ) -> list[tuple[float, float]]:
        """(period start, value) pairs, oldest first, covering at least the scale-in window."""
        ...


def query_period(period: int) -> int:
    """A period the metric query accepts: 1, 5, 10, 30 or a multiple of 60."""
    if period >= 60:
        return period - period % 60
    return max(p for p in _QUERY_PERIODS if p <= max(period, 1))


class ServicePoints:
    def __init__(self, metrics: Metrics, period: int = 60) -> None:
        self.metrics = metrics
        self.period = query_period(period)

    async def points(
        self, account: str, region: str, cluster: str, service: str, *, config: Mapping[str, Any], now: float
    ) -> list[tuple[float, float]]:
        predefined = config.get("PredefinedMetricSpecification")
        try:
            if predefined:
                kind_name = str(predefined.get("PredefinedMetricType"))
                kind = "memory" if "Memory" in kind_name else "cpu"
                high = kind_name in (model.ECS_CPU_HIGH, model.ECS_MEMORY_HIGH)
                period = min(self.period, HIGH_RESOLUTION_PERIOD) if high else self.period
                if period >= 60:
                    dims = {"ClusterName": cluster, "ServiceName": service}
                    return await self._query(
                        account,
                        region,
                        "AWS/ECS",
                        _ECS_METRIC[kind],
                        dims=dims,
                        stat="Average",
                        period=period,
                        now=now,
                    )
                return await self._tasks(account, region, cluster, service, kind=kind, period=period, now=now)
            custom = config.get("CustomizedMetricSpecification") or {}
            stat = _metric_stat(custom)
            if stat is None:
                return []
            namespace, name, dims, statistic = stat
            return await self._query(
                account, region, namespace, name, dims=dims, stat=statistic, period=self.period, now=now
            )
        except MetricQueryError as exc:
            log.warning("autoscaling metric query refused: %s", exc.message)
            return []

    def _window(self, period: int, now: float) -> tuple[float, float]:
        end = now - now % period
        return end - (SCALE_IN_POINTS + 2) * period, end

    async def _query(
        self,
        account: str,
        region: str,
        namespace: str,
        metric: str,
        *,
        dims: Mapping[str, str],
        stat: str,
        period: int,
        now: float,
    ) -> list[tuple[float, float]]:
        start, end = self._window(period, now) if period < 60 else (now - (SCALE_IN_POINTS + 2) * period, now)
        got = await self.metrics.query(
            MetricQuery(account, region, namespace, metric, dims, start, end, period, stat)
        )
        return list(zip(got.timestamps, got.values, strict=True))

    async def _tasks(
        self, account: str, region: str, cluster: str, service: str, *, kind: str, period: int, now: float
    ) -> list[tuple[float, float]]:
        used_name, reserved_name = _PAIRS[kind]
        used: dict[float, float] = {}
        reserved: dict[float, float] = {}
        start, end = self._window(period, now)
        for view in self.metrics.task_views(
            account, region, cluster=cluster, service=service, include_pods=False
        ):
            dims = {"ClusterName": cluster, "TaskId": view.meta.task_id}
            for name, into in ((used_name, used), (reserved_name, reserved)):
                q = MetricQuery(
                    account, region, "ECS/ContainerInsights", name, dims, start, end, period, "Average"
                )
                got = await self.metrics.query(q)
                for ts, value in zip(got.timestamps, got.values, strict=True):
                    into[ts] = into.get(ts, 0.0) + value
        return [(ts, 100.0 * used[ts] / reserved[ts]) for ts in sorted(used) if reserved.get(ts, 0.0) > 0]


def _metric_stat(custom: Mapping[str, Any]) -> tuple[str, str, dict[str, str], str] | None:
    """(namespace, metric, dimensions, statistic) of a customized metric, or None."""
    if custom.get("MetricName"):
        dims = {str(d["Name"]): str(d["Value"]) for d in custom.get("Dimensions") or []}
        return (
            str(custom.get("Namespace")),
            str(custom["MetricName"]),
            dims,
            str(custom.get("Statistic") or "Average"),
        )
    queries = [q for q in custom.get("Metrics") or [] if q.get("MetricStat")]
    if len(queries) != 1:
        return None
    stat = queries[0]["MetricStat"]
    metric = stat.get("Metric") or {}
    dims = {str(d["Name"]): str(d["Value"]) for d in metric.get("Dimensions") or []}
    return (
        str(metric.get("Namespace")),
        str(metric.get("MetricName")),
        dims,
        str(stat.get("Stat") or "Average"),
    )
