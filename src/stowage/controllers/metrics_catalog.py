"""Which metrics exist and where their numbers come from: namespace, metric and dimensions →
the stored series and how a point becomes a statistic set.

``AWS/ECS`` (what ECS publishes for free):

=====================  ==============================  =======================================
metric                 dimensions                      from
=====================  ==============================  =======================================
CPUUtilization         ClusterName, ServiceName        service minute series (per-task sets)
MemoryUtilization      ClusterName, ServiceName        service minute series
CPUUtilization         ClusterName                     cluster minute series (per-instance)
MemoryUtilization      ClusterName                     cluster minute series
CPUReservation         ClusterName                     cluster minute series
MemoryReservation      ClusterName                     cluster minute series
=====================  ==============================  =======================================

``ECS/ContainerInsights``: ``CpuUtilized``, ``CpuReserved`` (CPU units), ``MemoryUtilized``,
``MemoryReserved`` (MiB), ``NetworkRxBytes``, ``NetworkTxBytes``, ``StorageReadBytes``,
``StorageWriteBytes`` (bytes per second) by ``ClusterName``, by ``ClusterName`` +
``ServiceName``, by ``ClusterName`` + ``TaskDefinitionFamily`` and by ``ClusterName`` + ``TaskId``
(optionally with the task's ``ServiceName``/``TaskDefinitionFamily``); task counts
(``RunningTaskCount``, ``PendingTaskCount``; ``DesiredTaskCount``, ``DeploymentCount`` per
service; ``ServiceCount``, ``ContainerInstanceCount``, ``TaskCount`` per cluster); and per
container (``ClusterName`` + ``TaskId`` + ``ContainerName``): ``ContainerCpuUtilized``,
``ContainerCpuReserved``, ``ContainerMemoryUtilized``, ``ContainerMemoryReserved``,
``ContainerNetworkRxBytes``, ``ContainerNetworkTxBytes``, ``ContainerStorageReadBytes``,
``ContainerStorageWriteBytes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from stowage.controllers import metrics_series as ms
from stowage.metricstore import Columns, MetricStore, SeriesInfo, rollup_column

AWS_ECS = "AWS/ECS"
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
MINUTE_SERIES = "minute"
TASK_SERIES = "task"
CONTAINER_SERIES = "container"
CPU_UNITS_PER_CORE = 1024.0
MIB = 1024.0 * 1024.0

StatRow = tuple[float, float, float, float, float]
"""(timestamp, sample count, sum, minimum, maximum)"""


@dataclass(frozen=True)
class Source:
    kind: str
    unit: str
    minute_sets: Callable[[SeriesInfo, Columns], Iterable[StatRow]] = lambda info, cols: ()
    """Minute series: one statistic set per stored point."""
    raw_values: Callable[[SeriesInfo, Columns], list[float]] = lambda info, cols: []
    """Container series, raw tier: one value per stored point."""
    rollup_values: Callable[[SeriesInfo, Columns], Iterable[StatRow]] = lambda info, cols: ()
    """Container series, minute tier: one statistic set per minute."""
    once: bool = False
    """A per-task constant every container series carries: read one series, not the sum."""
    columns: tuple[int, ...] = ()
    """The columns the callbacks read (minute series, or the raw tier of container series):
    only these are decoded."""
    rollup_columns: tuple[int, ...] = ()
    """Likewise for the minute tier of container series."""


# -- minute series -------------------------------------------------------------------------------
def _value(layout_fields: tuple[str, ...], field: str, unit: str) -> Source:
    col = 1 + layout_fields.index(field)

    def sets(info: SeriesInfo, cols: Columns) -> Iterable[StatRow]:
        return ((ts, 1.0, v, v, v) for ts, v in zip(cols[0], cols[col], strict=True))

    return Source(MINUTE_SERIES, unit, minute_sets=sets, columns=(col,))


def _ratio(fields: tuple[str, ...], parts: tuple[str, str, str, str, str]) -> Source:
    """Utilization from ``parts`` = (used, registered or reserved, sample count, minimum,
    maximum): average 100 * used / reserved over that many samples, with stored extremes."""
    cn, cd, cc, cl, ch = (1 + fields.index(f) for f in parts)

    def sets(info: SeriesInfo, cols: Columns) -> Iterable[StatRow]:
        for i, ts in enumerate(cols[0]):
            count, den_v = cols[cc][i], cols[cd][i]
            if count > 0 and den_v > 0:
                avg = 100.0 * cols[cn][i] / den_v
                yield ts, count, avg * count, cols[cl][i], cols[ch][i]

    return Source(MINUTE_SERIES, "Percent", minute_sets=sets, columns=(cn, cd, cc, cl, ch))


_USAGE_METRICS = {
    "CpuUtilized": ("cpu_used", "None"),
    "CpuReserved": ("cpu_reserved", "None"),
    "MemoryUtilized": ("mem_used", "Megabytes"),
    "MemoryReserved": ("mem_reserved", "Megabytes"),
    "NetworkRxBytes": ("net_rx", "Bytes/Second"),
    "NetworkTxBytes": ("net_tx", "Bytes/Second"),
    "StorageReadBytes": ("disk_read", "Bytes/Second"),
    "StorageWriteBytes": ("disk_write", "Bytes/Second"),
}


def _usage(fields: tuple[str, ...], extra: Mapping[str, str]) -> dict[str, Source]:
    out = {name: _value(fields, f, unit) for name, (f, unit) in _USAGE_METRICS.items()}
    out.update({name: _value(fields, f, "Count") for name, f in extra.items()})
    return out


_SERVICE_F = ms.SERVICE.fields
_CLUSTER_F = ms.CLUSTER.fields
SERVICE_ECS = {
    "CPUUtilization": _ratio(_SERVICE_F, ("cpu_used_r", "cpu_reserved", "cpu_n", "cpu_min", "cpu_max")),
    "MemoryUtilization": _ratio(_SERVICE_F, ("mem_used_r", "mem_reserved", "mem_n", "mem_min", "mem_max")),
}
CLUSTER_ECS = {
    "CPUUtilization": _ratio(
        _CLUSTER_F, ("ec2_cpu_used", "registered_cpu", "instances", "util_cpu_min", "util_cpu_max")
    ),
    "MemoryUtilization": _ratio(
        _CLUSTER_F, ("ec2_mem_used", "registered_mem", "instances", "util_mem_min", "util_mem_max")
    ),
    "CPUReservation": _ratio(
        _CLUSTER_F, ("res_cpu", "registered_cpu", "instances", "res_cpu_min", "res_cpu_max")
    ),
    "MemoryReservation": _ratio(
        _CLUSTER_F, ("res_mem", "registered_mem", "instances", "res_mem_min", "res_mem_max")
    ),
}
SERVICE_CI = _usage(
    _SERVICE_F,
    {
        "RunningTaskCount": "running",
        "PendingTaskCount": "pending",
        "DesiredTaskCount": "desired",
        "DeploymentCount": "deployments",
    },
)
CLUSTER_CI = _usage(
    _CLUSTER_F,
    {
        "RunningTaskCount": "running",
        "PendingTaskCount": "pending",
        "ServiceCount": "services",
        "ContainerInstanceCount": "instances",
        "TaskCount": "task_count",
    },
)
FAMILY_CI = _usage(ms.FAMILY.fields, {"RunningTaskCount": "running"})


# -- container series ----------------------------------------------------------------------------
def _raw(
    field: str, unit: str, scale: float = 1.0, label: str | None = None, kind: str = TASK_SERIES
) -> Source:
    """A container field (or, with ``label``, a constant from the series' labels) times ``scale``."""
    layout = ms.CONTAINER

    def const(info: SeriesInfo) -> float:
        return float(info.labels.get(label or "", "0") or 0) * scale

    def raw_values(info: SeriesInfo, cols: Columns) -> list[float]:
        if label is not None:
            return [const(info)] * len(cols[0])
        return [v * scale for v in cols[layout.index(field)]]

    def rollup_values(info: SeriesInfo, cols: Columns) -> Iterable[StatRow]:
        if label is not None:
            c = const(info)
            return ((ts, n, c * n, c, c) for ts, n in zip(cols[0], cols[1], strict=True))
        s, lo, hi = (rollup_column(layout, field, part) for part in ("sum", "min", "max"))
        return (
            (cols[0][i], cols[1][i], cols[s][i] * scale, cols[lo][i] * scale, cols[hi][i] * scale)
            for i in range(len(cols[0]))
            if cols[1][i] > 0
        )

    once = label is not None and kind == TASK_SERIES
    if label is not None:
        columns: tuple[int, ...] = ()
        rollup_cols: tuple[int, ...] = (1,)
    else:
        columns = (layout.index(field),)
        rollup_cols = (1, *(rollup_column(layout, field, part) for part in ("sum", "min", "max")))
    return Source(
        kind,
        unit,
        raw_values=raw_values,
        rollup_values=rollup_values,
        once=once,
        columns=columns,
        rollup_columns=rollup_cols,
    )


def _container_sources(kind: str, prefix: str) -> dict[str, Source]:
    return {
        f"{prefix}CpuUtilized": _raw("cpu", "None", CPU_UNITS_PER_CORE, kind=kind),
        f"{prefix}CpuReserved": _raw("", "None", label="cpu" if prefix else "task_cpu", kind=kind),
        f"{prefix}MemoryUtilized": _raw("mem", "Megabytes", 1 / MIB, kind=kind),
        f"{prefix}MemoryReserved": _raw(
            "", "Megabytes", label="memory" if prefix else "task_memory", kind=kind
        ),
        f"{prefix}NetworkRxBytes": _raw("net_rx", "Bytes/Second", kind=kind),
        f"{prefix}NetworkTxBytes": _raw("net_tx", "Bytes/Second", kind=kind),
        f"{prefix}StorageReadBytes": _raw("disk_read", "Bytes/Second", kind=kind),
        f"{prefix}StorageWriteBytes": _raw("disk_write", "Bytes/Second", kind=kind),
    }


TASK_CI = _container_sources(TASK_SERIES, "")
CONTAINER_CI = _container_sources(CONTAINER_SERIES, "Container")

_UNITS = {
    name: src.unit
    for table in (SERVICE_ECS, CLUSTER_ECS, SERVICE_CI, CLUSTER_CI, FAMILY_CI, TASK_CI, CONTAINER_CI)
    for name, src in table.items()
}


def is_aws_namespace(namespace: str) -> bool:
    """Namespaces AWS publishes to (custom metrics may not use them: ``AWS/`` is reserved)."""
    return namespace.startswith("AWS/") or namespace == CONTAINER_INSIGHTS


def unit_of(metric: str) -> str:
    return _UNITS.get(metric, "None")


def _task_series(store: MetricStore, account: str, region: str, dims: Mapping[str, str]) -> list[SeriesInfo]:
    members = store.group(ms.task_group(account, region, dims["ClusterName"], dims["TaskId"]))
    for info in members:  # optional dimensions must name the task's own service and family
        if "ServiceName" in dims and info.labels.get("service") != dims["ServiceName"]:
            return []
        if "TaskDefinitionFamily" in dims and info.labels.get("family") != dims["TaskDefinitionFamily"]:
            return []
    return members


def resolve(
    store: MetricStore, where: tuple[str, str], namespace: str, metric: str, dims: Mapping[str, str]
) -> tuple[Source, list[SeriesInfo]] | None:
    """The source of ``metric`` (of account and region ``where``) and the series it reads, or
    None if nothing is kept for it."""
    account, region = where
    names = frozenset(dims)
    if "ClusterName" not in names:
        return None
    cluster = dims["ClusterName"]

    def one(key: str, table: Mapping[str, Source]) -> tuple[Source, list[SeriesInfo]] | None:
        source = table.get(metric)
        info = store.get(key)
        return None if source is None or info is None else (source, [info])

    if namespace == AWS_ECS:
        if names == {"ClusterName", "ServiceName"}:
            return one(ms.service_key(account, region, cluster, dims["ServiceName"]), SERVICE_ECS)
        if names == {"ClusterName"}:
            return one(ms.cluster_key(account, region, cluster), CLUSTER_ECS)
        return None
    if namespace != CONTAINER_INSIGHTS:
        return None
    if names == {"ClusterName"}:
        return one(ms.cluster_key(account, region, cluster), CLUSTER_CI)
    if names == {"ClusterName", "ServiceName"}:
        return one(ms.service_key(account, region, cluster, dims["ServiceName"]), SERVICE_CI)
    if names == {"ClusterName", "TaskDefinitionFamily"}:
        return one(ms.family_key(account, region, cluster, dims["TaskDefinitionFamily"]), FAMILY_CI)
    optional = names - {"ClusterName", "TaskId", "ContainerName"}
    if "TaskId" not in names or not optional <= {"ServiceName", "TaskDefinitionFamily"}:
        return None
    members = _task_series(store, account, region, dims)
    if "ContainerName" in names:
        source = CONTAINER_CI.get(metric)
        members = [i for i in members if i.labels.get("container") == dims["ContainerName"]]
    else:
        source = TASK_CI.get(metric)
    if source is None or not members:
        return None
    return source, members[:1] if source.once else members
