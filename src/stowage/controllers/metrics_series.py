"""The series the metrics pipeline keeps, by name: layouts, keys, groups and labels.

- ``container`` (raw, one point per agent sample): CPU in cores, memory in use / its limit /
  RSS in bytes, network and block I/O in bytes per second. Labels carry the reservations, so
  CPU as a share of the reservation and of the host are derived at read time.
- ``service``, ``cluster``, ``family`` (one point a minute): what ECS publishes per service and
  cluster in ``AWS/ECS`` and Container Insights per cluster/service/task-definition family in
  ``ECS/ContainerInsights``, computed when the minute closes (``metrics_aggregate``). Sums are
  kept next to per-task (or per-instance) minimum and maximum utilization, so every statistic
  CloudWatch offers can be answered from one stored point.

Units: CPU in ECS CPU units (1,024 per core) in the aggregates, memory in MiB, rates in
bytes per second, utilization in percent.
"""

from __future__ import annotations

from stowage.metricstore import FLOAT, Layout

RAW_STEP = 10.0

CONTAINER = Layout(
    "container",
    ("cpu", "mem", "mem_limit", "rss", "net_rx", "net_tx", "disk_read", "disk_write"),
    (6, 0, 0, 0, 1, 1, 1, 1),
    RAW_STEP,
)

_USAGE = (
    "cpu_used",
    "cpu_reserved",
    "mem_used",
    "mem_reserved",
    "net_rx",
    "net_tx",
    "disk_read",
    "disk_write",
)
_USAGE_DECIMALS = (3, 3, 3, 3, 1, 1, 1, 1)

SERVICE = Layout(
    "service",
    (
        *_USAGE,
        "tasks",
        "cpu_used_r",
        "cpu_n",
        "cpu_min",
        "cpu_max",
        "mem_used_r",
        "mem_n",
        "mem_min",
        "mem_max",
        "running",
        "pending",
        "desired",
        "deployments",
    ),
    (*_USAGE_DECIMALS, 0, 3, 0, 4, 4, 3, 0, 4, 4, 0, 0, 0, 0),
    60.0,
)
"""``cpu_used_r``/``cpu_reserved`` cover the ``cpu_n`` tasks that reserve CPU (the ones a
utilization can be computed for); ``cpu_used`` covers every task. Likewise for memory."""

CLUSTER = Layout(
    "cluster",
    (
        *_USAGE,
        "tasks",
        "instances",
        "registered_cpu",
        "registered_mem",
        "ec2_cpu_used",
        "ec2_mem_used",
        "util_cpu_min",
        "util_cpu_max",
        "util_mem_min",
        "util_mem_max",
        "res_cpu",
        "res_mem",
        "res_cpu_min",
        "res_cpu_max",
        "res_mem_min",
        "res_mem_max",
        "running",
        "pending",
        "services",
        "task_count",
    ),
    (*_USAGE_DECIMALS, 0, 0, 0, 0, 3, 3, 4, 4, 4, 4, 0, 0, 4, 4, 4, 4, 0, 0, 0, 0),
    60.0,
)
"""Instance-level figures (``instances`` ... ``res_mem_max``) cover the cluster's ACTIVE and
DRAINING container instances, as ECS's cluster utilization and reservation do; ``ec2_*_used``
is what tasks use on them (Fargate tasks run elsewhere and count only in the ``_USAGE`` sums)."""

FAMILY = Layout("family", (*_USAGE, "tasks", "running"), (*_USAGE_DECIMALS, 0, 0), 60.0)

CUSTOM = Layout("custom", ("count", "sum", "min", "max"), (FLOAT, FLOAT, FLOAT, FLOAT), 60.0)
"""A custom metric's points (PutMetricData, ``metrics_custom``): one statistic set per published
value (count, sum, minimum, maximum), kept exact, in the minute tier at the published second."""

LAYOUTS = (CONTAINER, SERVICE, CLUSTER, FAMILY, CUSTOM)


def task_group(account: str, region: str, cluster: str, task_id: str) -> str:
    """The group of a task's container series."""
    return f"t/{account}/{region}/{cluster}/{task_id}"


def container_key(account: str, region: str, cluster: str, task_id: str, container: str) -> str:
    return f"c/{account}/{region}/{cluster}/{task_id}/{container}"


def cluster_group(account: str, region: str, cluster: str) -> str:
    """The group of a cluster's service and family series."""
    return f"k/{account}/{region}/{cluster}"


def service_key(account: str, region: str, cluster: str, service: str) -> str:
    return f"s/{account}/{region}/{cluster}/{service}"


def family_key(account: str, region: str, cluster: str, family: str) -> str:
    return f"f/{account}/{region}/{cluster}/{family}"


def cluster_key(account: str, region: str, cluster: str) -> str:
    return f"k/{account}/{region}/{cluster}"


CLUSTERS_GROUP = "clusters"
