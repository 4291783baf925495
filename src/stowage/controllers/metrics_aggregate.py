"""Minute aggregation: a minute's container samples → the service, cluster and family points.

ECS computes its metrics once a minute from what its agents sampled in that minute: per task
the CPU units and MiB in use, then per service and cluster the totals against what is reserved
(service) or registered (cluster). ``MinuteBucket`` collects one minute of samples (running
sums per container: each container's average over the minute is what a task uses, the sum of
its containers what the task uses); ``aggregate`` turns a closed bucket plus a snapshot of the
tasks, hosts and services into one point per service, cluster and task-definition family
(layouts in ``metrics_series``).

Definitions (docs/metrics.md has them with examples):

- service CPUUtilization: average = 100 * (sum of used) / (sum of reserved) over the service's
  tasks that reserve CPU; minimum/maximum = the least/most utilized such task; sample count =
  those tasks;
- cluster CPUUtilization: average = 100 * (sum used by tasks on the cluster's ACTIVE/DRAINING
  instances) / (sum of the CPU those instances registered); minimum/maximum over the instances;
- cluster CPUReservation: the same with CPU reserved (registered - remaining) instead of used.

Memory is the same in MiB, with ``memoryReservation`` as the reservation where one is set.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from stowage.controllers.metrics_meta import InstanceMeta, TaskMeta
from stowage.controllers.metrics_series import (
    CLUSTER,
    CLUSTERS_GROUP,
    FAMILY,
    SERVICE,
    cluster_group,
    cluster_key,
    family_key,
    service_key,
)
from stowage.metricstore import Layout

CPU_UNITS_PER_CORE = 1024.0
MIB = 1024.0 * 1024.0
_INSTANCE_STATES = ("ACTIVE", "DRAINING")


@dataclass(slots=True)
class MinuteBucket:
    """One minute of samples: per container, where its first sample's rate window started
    (time, CPU and I/O counters) and its latest sample. At close, a container's CPU and I/O
    rates are its counters' increase over that span (the exact average, not an average of
    averages) and its memory the latest sample's, as ECS's agent reports what is in use."""

    minute: float
    containers: dict[object, list[Any]] = field(default_factory=dict)
    """container (its series handle) -> [meta, name, start ts, start counters (cpu ns, rx, tx,
    read, write), latest sample]"""

    @staticmethod
    def start(meta: TaskMeta, name: str, cur: Any, prev: Any) -> list[Any]:
        """A container's accumulator from its first sample in the minute (``cur``, a
        ``Latest``) and the sample before (``prev``; None for a first sample ever). Later
        samples of the minute only replace its last item."""
        start = prev if prev is not None else cur
        counters = (start.cpu_ns, start.net_rx, start.net_tx, start.block_read, start.block_write)
        return [meta, name, start.ts, counters, cur]


@dataclass(frozen=True, slots=True)
class ServiceState:
    account: str
    region: str
    cluster: str
    name: str
    desired: int
    deployments: int
    running: int = 0
    pending: int = 0


@dataclass(slots=True)
class TaskUsage:
    meta: TaskMeta
    cpu: float
    """CPU units in use (minute average, summed over containers)."""
    mem: float
    """MiB in use."""
    rates: tuple[float, float, float, float]
    """net rx, net tx, disk read, disk write: bytes per second."""


def task_usages(bucket: MinuteBucket) -> list[TaskUsage]:
    """Each task's use in the minute: its containers' use (see ``MinuteBucket``), summed."""
    by_task: dict[str, TaskUsage] = {}
    for meta, _name, start_ts, start, last in bucket.containers.values():
        span = last.ts - start_ts
        if span > 0 and last.cpu_ns >= start[0]:
            cores = (last.cpu_ns - start[0]) / 1e9 / span
            rates = (
                max(0.0, (last.net_rx - start[1]) / span),
                max(0.0, (last.net_tx - start[2]) / span),
                max(0.0, (last.block_read - start[3]) / span),
                max(0.0, (last.block_write - start[4]) / span),
            )
        else:  # one sample and no earlier one, or counters that restarted
            cores = last.cores or 0.0
            rates = last.rates
        held = by_task.get(meta.arn)
        if held is None:  # the common case: one container
            by_task[meta.arn] = TaskUsage(meta, cores * CPU_UNITS_PER_CORE, last.mem / MIB, rates)
            continue
        held.cpu += cores * CPU_UNITS_PER_CORE
        held.mem += last.mem / MIB
        r = held.rates
        held.rates = (r[0] + rates[0], r[1] + rates[1], r[2] + rates[2], r[3] + rates[3])
    return list(by_task.values())


Point = tuple[Layout, str, str, dict[str, str], tuple[float, ...]]
"""(layout, series key, group, labels, row)"""


@dataclass(slots=True)
class _Sums:
    tasks: int = 0
    cpu_used: float = 0.0
    cpu_reserved: float = 0.0
    mem_used: float = 0.0
    mem_reserved: float = 0.0
    rates: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0])
    cpu_used_r: float = 0.0
    cpu_n: int = 0
    cpu_min: float = 0.0
    cpu_max: float = 0.0
    mem_used_r: float = 0.0
    mem_n: int = 0
    mem_min: float = 0.0
    mem_max: float = 0.0

    @staticmethod
    def of(us: list[TaskUsage]) -> _Sums:
        """The sums and extremes of a group of tasks: list comprehensions and builtins over the
        group (once a minute for every task of every group: per-task method calls cost more)."""
        s = _Sums(tasks=len(us))
        if not us:
            return s
        s.cpu_used = sum([u.cpu for u in us])
        s.mem_used = sum([u.mem for u in us])
        s.cpu_reserved = float(sum([u.meta.cpu_units for u in us]))
        s.mem_reserved = float(sum([u.meta.memory_reserved_mib for u in us]))
        s.rates = [sum(col) for col in zip(*[u.rates for u in us], strict=True)]
        cpu = [u for u in us if u.meta.cpu_units > 0]
        if cpu:
            utils = [100.0 * u.cpu / u.meta.cpu_units for u in cpu]
            s.cpu_n, s.cpu_min, s.cpu_max = len(cpu), min(utils), max(utils)
            s.cpu_used_r = sum([u.cpu for u in cpu])
        mem = [u for u in us if u.meta.memory_reserved_mib > 0]
        if mem:
            utils = [100.0 * u.mem / u.meta.memory_reserved_mib for u in mem]
            s.mem_n, s.mem_min, s.mem_max = len(mem), min(utils), max(utils)
            s.mem_used_r = sum([u.mem for u in mem])
        return s

    def usage(self) -> tuple[float, ...]:
        return (self.cpu_used, self.cpu_reserved, self.mem_used, self.mem_reserved, *self.rates)


ClusterRef = tuple[str, str, str]


def aggregate(
    minute: float,
    usages: Iterable[TaskUsage],
    instances: Iterable[InstanceMeta],
    services: Iterable[ServiceState],
    cluster_counts: Callable[[ClusterRef], tuple[int, int]],
) -> list[Point]:
    """One point per service, cluster and family with anything to say this minute.
    ``cluster_counts``: a cluster's (running, pending) tasks now (the ECS index keeps them);
    services carry their own; a family's running tasks are those that reported this minute."""
    groups_service: dict[tuple[str, str, str, str], list[TaskUsage]] = defaultdict(list)
    groups_cluster: dict[ClusterRef, list[TaskUsage]] = defaultdict(list)
    groups_family: dict[tuple[str, str, str, str], list[TaskUsage]] = defaultdict(list)
    on_instance: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for u in usages:
        m = u.meta
        scope = (m.account, m.region, m.cluster)
        if m.service is not None:
            groups_service[(*scope, m.service)].append(u)
        groups_cluster[scope].append(u)
        groups_family[(*scope, m.family)].append(u)
        if m.instance_key is not None:
            used = on_instance[m.instance_key]
            used[0] += u.cpu
            used[1] += u.mem
    by_service = {k: _Sums.of(v) for k, v in groups_service.items()}
    by_cluster = {k: _Sums.of(v) for k, v in groups_cluster.items()}
    by_family = {k: _Sums.of(v) for k, v in groups_family.items()}
    points: list[Point] = []
    service_count: dict[ClusterRef, int] = defaultdict(int)
    for s in services:
        ref = (s.account, s.region, s.cluster)
        service_count[ref] += 1
        key = (*ref, s.name)
        sums = by_service.pop(key, None)
        if sums is None and not (s.running or s.pending or s.desired):
            continue
        points.append(
            _service_point(
                minute,
                key,
                sums or _Sums(),
                running=s.running,
                pending=s.pending,
                desired=s.desired,
                deployments=s.deployments,
            )
        )
    for key, sums in by_service.items():  # tasks of a service the controller no longer has
        points.append(
            _service_point(minute, key, sums, running=sums.tasks, pending=0, desired=0, deployments=0)
        )
    cluster_instances: dict[ClusterRef, list[InstanceMeta]] = defaultdict(list)
    for inst in instances:
        if inst.status in _INSTANCE_STATES and inst.registered_cpu > 0:
            cluster_instances[(inst.account, inst.region, inst.cluster)].append(inst)
    for ref in set(by_cluster) | set(cluster_instances) | set(service_count):
        run, pend = cluster_counts(ref)
        row = _cluster_row(
            by_cluster.get(ref) or _Sums(), cluster_instances.get(ref, []), on_instance, run, pend
        )
        labels = {"account": ref[0], "region": ref[1], "cluster": ref[2]}
        row = (*row, float(service_count.get(ref, 0)), float(run + pend))
        points.append((CLUSTER, cluster_key(*ref), CLUSTERS_GROUP, labels, (minute, *row)))
    for fam, sums in by_family.items():
        labels = {"account": fam[0], "region": fam[1], "cluster": fam[2], "family": fam[3]}
        row = (minute, *sums.usage(), float(sums.tasks), float(sums.tasks))
        points.append((FAMILY, family_key(*fam), cluster_group(*fam[:3]), labels, row))
    return points


def _service_point(
    minute: float,
    key: tuple[str, str, str, str],
    s: _Sums,
    *,
    running: int,
    pending: int,
    desired: int,
    deployments: int,
) -> Point:
    row = (
        minute,
        *s.usage(),
        float(s.tasks),
        s.cpu_used_r,
        float(s.cpu_n),
        s.cpu_min,
        s.cpu_max,
        s.mem_used_r,
        float(s.mem_n),
        s.mem_min,
        s.mem_max,
        float(running),
        float(pending),
        float(desired),
        float(deployments),
    )
    labels = {"account": key[0], "region": key[1], "cluster": key[2], "service": key[3]}
    return SERVICE, service_key(*key), cluster_group(*key[:3]), labels, row


def _cluster_row(
    s: _Sums,
    instances: list[InstanceMeta],
    on_instance: dict[str, list[float]],
    running: int,
    pending: int,
) -> tuple[float, ...]:
    reg_cpu = reg_mem = used_cpu = used_mem = res_cpu = res_mem = 0.0
    util_cpu: list[float] = []
    util_mem: list[float] = []
    rcpu: list[float] = []
    rmem: list[float] = []
    for inst in instances:
        used = on_instance.get(inst.key, (0.0, 0.0))
        reg_cpu += inst.registered_cpu
        reg_mem += inst.registered_memory_mib
        used_cpu += used[0]
        used_mem += used[1]
        res_cpu += inst.reserved_cpu
        res_mem += inst.reserved_memory_mib
        util_cpu.append(100.0 * used[0] / inst.registered_cpu)
        rcpu.append(100.0 * inst.reserved_cpu / inst.registered_cpu)
        if inst.registered_memory_mib > 0:
            util_mem.append(100.0 * used[1] / inst.registered_memory_mib)
            rmem.append(100.0 * inst.reserved_memory_mib / inst.registered_memory_mib)
    return (
        *s.usage(),
        float(s.tasks),
        float(len(instances)),
        reg_cpu,
        reg_mem,
        used_cpu,
        used_mem,
        min(util_cpu, default=0.0),
        max(util_cpu, default=0.0),
        min(util_mem, default=0.0),
        max(util_mem, default=0.0),
        res_cpu,
        res_mem,
        min(rcpu, default=0.0),
        max(rcpu, default=0.0),
        min(rmem, default=0.0),
        max(rmem, default=0.0),
        float(running),
        float(pending),
    )
