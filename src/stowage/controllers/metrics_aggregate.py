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
from collections.abc import Iterable
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
from stowage.model import tasks as task_model

CPU_UNITS_PER_CORE = 1024.0
MIB = 1024.0 * 1024.0
_INSTANCE_STATES = ("ACTIVE", "DRAINING")

# Accumulator slots of one container in one minute.
_META, _NAME, _N, _CPU, _MEM, _RX = range(6)


@dataclass(slots=True)
class MinuteBucket:
    minute: float
    containers: dict[object, list[Any]] = field(default_factory=dict)
    """container (its series handle) -> [meta, name, n, cores sum, memory sum, 4 rate sums]"""

    def add(self, container: object, meta: TaskMeta, name: str, row: tuple[float, ...]) -> None:
        """One sample: ``row`` is the container's raw point ``(ts, cores, mem, limit, rss, net
        rx, net tx, disk read, disk write)``."""
        acc = self.containers.get(container)
        if acc is None:
            self.containers[container] = [meta, name, 1, row[1], row[2], *row[5:]]
            return
        acc[_N] += 1
        acc[_CPU] += row[1]
        acc[_MEM] += row[2]
        acc[_RX] += row[5]
        acc[_RX + 1] += row[6]
        acc[_RX + 2] += row[7]
        acc[_RX + 3] += row[8]


@dataclass(frozen=True, slots=True)
class ServiceState:
    account: str
    region: str
    cluster: str
    name: str
    desired: int
    deployments: int


@dataclass(slots=True)
class TaskUsage:
    meta: TaskMeta
    cpu: float
    """CPU units in use (minute average, summed over containers)."""
    mem: float
    """MiB in use."""
    rates: list[float]
    """net rx, net tx, disk read, disk write: bytes per second."""


def task_usages(bucket: MinuteBucket) -> list[TaskUsage]:
    """Each task's use in the minute: its containers' averages, summed."""
    by_task: dict[str, TaskUsage] = {}
    for acc in bucket.containers.values():
        meta: TaskMeta = acc[_META]
        n = acc[_N]
        usage = by_task.get(meta.arn)
        if usage is None:
            usage = by_task[meta.arn] = TaskUsage(meta, 0.0, 0.0, [0.0, 0.0, 0.0, 0.0])
        usage.cpu += acc[_CPU] / n * CPU_UNITS_PER_CORE
        usage.mem += acc[_MEM] / n / MIB
        for i in range(4):
            usage.rates[i] += acc[_RX + i] / n
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

    def add(self, u: TaskUsage) -> None:
        self.tasks += 1
        self.cpu_used += u.cpu
        self.mem_used += u.mem
        self.cpu_reserved += u.meta.cpu_units
        self.mem_reserved += u.meta.memory_reserved_mib
        for i in range(4):
            self.rates[i] += u.rates[i]
        if u.meta.cpu_units > 0:
            util = 100.0 * u.cpu / u.meta.cpu_units
            self.cpu_min = util if self.cpu_n == 0 else min(self.cpu_min, util)
            self.cpu_max = util if self.cpu_n == 0 else max(self.cpu_max, util)
            self.cpu_n += 1
            self.cpu_used_r += u.cpu
        if u.meta.memory_reserved_mib > 0:
            util = 100.0 * u.mem / u.meta.memory_reserved_mib
            self.mem_min = util if self.mem_n == 0 else min(self.mem_min, util)
            self.mem_max = util if self.mem_n == 0 else max(self.mem_max, util)
            self.mem_n += 1
            self.mem_used_r += u.mem

    def usage(self) -> tuple[float, ...]:
        return (self.cpu_used, self.cpu_reserved, self.mem_used, self.mem_reserved, *self.rates)


def aggregate(
    minute: float,
    usages: Iterable[TaskUsage],
    tasks: Iterable[TaskMeta],
    instances: Iterable[InstanceMeta],
    services: Iterable[ServiceState],
) -> list[Point]:
    """One point per service, cluster and family with anything to say this minute."""
    ClusterRef = tuple[str, str, str]
    by_service: dict[tuple[str, str, str, str], _Sums] = defaultdict(_Sums)
    by_cluster: dict[ClusterRef, _Sums] = defaultdict(_Sums)
    by_family: dict[tuple[str, str, str, str], _Sums] = defaultdict(_Sums)
    on_instance: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for u in usages:
        m = u.meta
        if m.service is not None:
            by_service[(*m.scope, m.service)].add(u)
        by_cluster[m.scope].add(u)
        by_family[(*m.scope, m.family)].add(u)
        if m.instance_key is not None:
            used = on_instance[m.instance_key]
            used[0] += u.cpu
            used[1] += u.mem
    counts: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    """(scope..., service) / (scope..., "", family) / scope → [running, pending]"""
    task_count: dict[ClusterRef, int] = defaultdict(int)
    for m in tasks:
        kind = task_model.count_class({"lastStatus": m.status})
        if m.status != task_model.STOPPED:
            task_count[m.scope] += 1
        if kind is None:
            continue
        slot = 0 if kind == "running" else 1
        counts[m.scope][slot] += 1
        if m.service is not None:
            counts[(*m.scope, m.service)][slot] += 1
        counts[(*m.scope, "", m.family)][slot] += 1
    points: list[Point] = []
    service_count: dict[ClusterRef, int] = defaultdict(int)
    for s in services:
        ref = (s.account, s.region, s.cluster)
        service_count[ref] += 1
        key = (*ref, s.name)
        run, pend = counts.get(key, (0, 0))
        sums = by_service.get(key)
        if sums is None and not (run or pend or s.desired):
            continue
        sums = sums or _Sums()
        by_service.pop(key, None)
        points.append(
            _service_point(
                minute, key, sums, running=run, pending=pend, desired=s.desired, deployments=s.deployments
            )
        )
    for key, sums in by_service.items():  # tasks of a service the controller no longer has
        run, pend = counts.get(key, (0, 0))
        points.append(_service_point(minute, key, sums, running=run, pending=pend, desired=0, deployments=0))
    cluster_instances: dict[ClusterRef, list[InstanceMeta]] = defaultdict(list)
    for inst in instances:
        if inst.status in _INSTANCE_STATES and inst.registered_cpu > 0:
            cluster_instances[(inst.account, inst.region, inst.cluster)].append(inst)
    refs = set(by_cluster) | set(cluster_instances) | {k for k in counts if len(k) == 3}
    for ref in refs:
        run, pend = counts.get(ref, (0, 0))
        row = _cluster_row(
            by_cluster.get(ref) or _Sums(), cluster_instances.get(ref, []), on_instance, run, pend
        )
        labels = {"account": ref[0], "region": ref[1], "cluster": ref[2]}
        row = (*row, float(service_count.get(ref, 0)), float(task_count.get(ref, 0)))
        points.append((CLUSTER, cluster_key(*ref), CLUSTERS_GROUP, labels, (minute, *row)))
    families = set(by_family) | {(k[0], k[1], k[2], k[4]) for k in counts if len(k) == 5}
    for fam in families:
        sums = by_family.get(fam) or _Sums()
        run = counts.get((fam[0], fam[1], fam[2], "", fam[3]), (0, 0))[0]
        labels = {"account": fam[0], "region": fam[1], "cluster": fam[2], "family": fam[3]}
        row = (minute, *sums.usage(), float(sums.tasks), float(run))
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
