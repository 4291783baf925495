"""``GetTaskMetrics``: the latest CPU and memory use of tasks, services or hosts (``stowage top``).

Reads the metrics pipeline's latest samples (``controllers/metrics``), never the time-series
store: the answer is what the agents reported last (every ``--stats-interval``). Rows:

- TASK: one per task not yet STOPPED, with its containers; CPU in CPU units (1,024 per core)
  against the task's CPU reservation, memory in bytes against its reservation and hard limit;
- SERVICE: the tasks of each service summed (tasks of no service are left out);
- HOST: one per container instance: what its tasks use against what it registered.

Bad input gets the model's ``InvalidParameterException``; a cluster that does not exist gets
``ClusterNotFoundException`` (as ECS's ListTasks answers it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stowage.api.aws.context import RequestContext
from stowage.api.aws.errors import AwsError
from stowage.api.aws.service import Params, Result
from stowage.api.usage.handlers import cluster_param, service_param
from stowage.controllers.metrics import HostView, Metrics, TaskView
from stowage.model.fargate import POOL_CLUSTER
from stowage.resources.clusters import ClusterRecords

MIB = 1024 * 1024
CPU_UNITS_PER_CORE = 1024.0
DEFAULT_MAX_RESULTS = 1000

Row = dict[str, Any]


def _pct(used: float | None, reserved: float) -> float | None:
    return None if used is None or reserved <= 0 else round(100.0 * used / reserved, 2)


def _put(row: Row, **members: Any) -> Row:
    """Set the members that have a value (the model's optional members stay absent)."""
    row.update({k: v for k, v in members.items() if v is not None})
    return row


def _task_row(view: TaskView) -> Row:
    m = view.meta
    cores = view.cores
    cpu = None if cores is None else round(cores * CPU_UNITS_PER_CORE, 3)
    mem = view.memory_bytes
    rx, tx, rd, wr = view.rates()
    containers = []
    for c in view.containers:
        s = c.sample
        crow: Row = {"name": c.name}
        if c.reserved is not None:
            crow["cpuReservedUnits"] = float(c.reserved.cpu_units)
            crow["memoryReservedBytes"] = c.reserved.memory_reserved_mib * MIB
        if s is not None:
            _put(
                crow,
                cpuUsedUnits=None if s.cores is None else round(s.cores * CPU_UNITS_PER_CORE, 3),
                memoryUsedBytes=s.mem,
                memoryRssBytes=s.rss,
                memoryLimitBytes=s.mem_limit,
                lastSampleAt=s.ts,
            )
        containers.append(crow)
    sampled = bool(view.sampled)
    return _put(
        {},
        cluster=m.cluster,
        service=m.service,
        taskArn=m.arn,
        family=m.family,
        lastStatus=m.status,
        launchType=m.launch_type,
        podName=None if m.pod is None else f"{m.pod[0]}/{m.pod[1]}",
        cpuUsedUnits=cpu,
        cpuReservedUnits=float(m.cpu_units),
        cpuUtilization=_pct(cpu, m.cpu_units),
        memoryUsedBytes=mem,
        memoryReservedBytes=m.memory_reserved_mib * MIB,
        memoryLimitBytes=view.memory_limit_bytes,
        memoryUtilization=_pct(mem, m.memory_reserved_mib * MIB),
        networkRxBytesPerSecond=round(rx, 1) if sampled else None,
        networkTxBytesPerSecond=round(tx, 1) if sampled else None,
        blockReadBytesPerSecond=round(rd, 1) if sampled else None,
        blockWriteBytesPerSecond=round(wr, 1) if sampled else None,
        lastSampleAt=view.last_sample_at,
        containers=containers,
    )


def _sum_rows(rows: Iterable[Row]) -> Row:
    total: Row = {"tasks": 0}
    for row in rows:
        total["tasks"] += 1
        for member in (
            "cpuUsedUnits",
            "cpuReservedUnits",
            "memoryUsedBytes",
            "memoryReservedBytes",
            "memoryLimitBytes",
            "networkRxBytesPerSecond",
            "networkTxBytesPerSecond",
            "blockReadBytesPerSecond",
            "blockWriteBytesPerSecond",
        ):
            if member in row:
                total[member] = total.get(member, 0) + row[member]
        if "lastSampleAt" in row:
            total["lastSampleAt"] = max(total.get("lastSampleAt", 0.0), row["lastSampleAt"])
    return total


def _service_rows(views: list[TaskView]) -> list[Row]:
    groups: dict[tuple[str, str], list[Row]] = {}
    for view in views:
        if view.meta.service is not None:
            groups.setdefault((view.meta.cluster, view.meta.service), []).append(_task_row(view))
    out = []
    for (cluster, service), rows in groups.items():
        row = _sum_rows(rows)
        row.update(cluster=cluster, service=service)
        _put(
            row,
            cpuUtilization=_pct(row.get("cpuUsedUnits"), row.get("cpuReservedUnits", 0.0)),
            memoryUtilization=_pct(row.get("memoryUsedBytes"), row.get("memoryReservedBytes", 0)),
        )
        out.append(row)
    return out


def _host_rows(hosts: list[HostView]) -> list[Row]:
    out = []
    for host in hosts:
        inst = host.instance
        row = _sum_rows(_task_row(v) for v in host.tasks)
        for member in ("memoryLimitBytes", "memoryReservedBytes", "cpuReservedUnits"):
            row.pop(member, None)
        row.update(
            cluster=inst.cluster,
            containerInstanceArn=inst.arn,
            ec2InstanceId=inst.ec2_instance_id,
            lastStatus=inst.status,
            agentConnected=inst.connected,
            cpuRegisteredUnits=float(inst.registered_cpu),
            cpuReservedUnits=float(inst.reserved_cpu),
            memoryRegisteredBytes=inst.registered_memory_mib * MIB,
            memoryReservedBytes=inst.reserved_memory_mib * MIB,
        )
        # A host's utilization is against what it registered (ECS's cluster utilization).
        _put(
            row,
            cpuUtilization=_pct(row.get("cpuUsedUnits"), float(inst.registered_cpu)),
            memoryUtilization=_pct(row.get("memoryUsedBytes"), inst.registered_memory_mib * MIB),
        )
        out.append(row)
    return out


_SORT_KEYS = {
    "CPU": lambda r: -float(r.get("cpuUsedUnits", -1.0)),
    "MEMORY": lambda r: -float(r.get("memoryUsedBytes", -1)),
}


def _name_key(row: Row) -> tuple[str, ...]:
    return (
        str(row.get("cluster", "")),
        str(row.get("service", "")),
        str(row.get("ec2InstanceId", "")),
        str(row.get("taskArn", "")),
    )


async def get_task_metrics(
    metrics: Metrics, clusters: ClusterRecords, ctx: RequestContext, params: Params
) -> Result:
    cluster = cluster_param(ctx, params.get("cluster"))
    cluster, service = service_param(ctx, params.get("service"), cluster)
    if cluster is not None:
        doc = await clusters.get(ctx.account_id, ctx.region, cluster)
        if doc is None or cluster == POOL_CLUSTER:
            raise AwsError("ClusterNotFoundException", "Cluster not found.")
    by = params.get("groupBy") or "TASK"
    if by == "HOST" and service is not None:
        raise AwsError("InvalidParameterException", "groupBy HOST cannot be combined with service.")
    if by == "HOST":
        rows = _host_rows(
            [
                h
                for h in metrics.host_views(ctx.account_id, ctx.region, cluster=cluster)
                if h.instance.cluster != POOL_CLUSTER
            ]
        )
    else:
        views = metrics.task_views(ctx.account_id, ctx.region, cluster=cluster, service=service)
        rows = _service_rows(views) if by == "SERVICE" else [_task_row(v) for v in views]
    rows.sort(key=_name_key)
    sort = params.get("sortBy") or "NAME"
    if sort in _SORT_KEYS:
        rows.sort(key=_SORT_KEYS[sort])
    limit = int(params.get("maxResults") or DEFAULT_MAX_RESULTS)
    return {
        "groupBy": by,
        "generatedAt": metrics.clock(),
        "rows": rows[:limit],
        "truncated": len(rows) > limit,
    }
