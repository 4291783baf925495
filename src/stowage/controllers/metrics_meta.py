"""What the metrics pipeline knows about each task and host: labels and reservations.

``MetricsMeta`` listens to the ECS index (``IndexListener``) and keeps, per task ARN, an
immutable ``TaskMeta`` (cluster, service, family, host, pod, the task's and each container's
CPU and memory reservation, its status) and, per container instance, an ``InstanceMeta``
(registered and reserved CPU and memory). A task's meta is rebuilt only when something it
holds changes (status or host), not on every report.

The ingest thread reads these dicts while the event loop writes them: entries are replaced
whole (never mutated), and the readers take ``dict.get`` or a C-level ``list(...)`` copy, which
the GIL makes atomic, so no lock is needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stowage.controllers.ecs_index import EcsIndex
from stowage.model import container_instances as ci_model
from stowage.model import tasks as task_model
from stowage.model.arns import parse_arn
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record

SERVICE_GROUP = "service:"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ContainerMeta:
    cpu_units: int
    """The container's ``cpu`` (0 when none)."""
    memory_reserved_mib: int
    """``memoryReservation`` if set, else ``memory`` (what ECS divides by), 0 when neither."""
    memory_limit_mib: int
    """The hard ``memory`` limit, 0 when none."""


@dataclass(frozen=True, slots=True)
class TaskMeta:
    arn: str
    task_id: str
    account: str
    region: str
    cluster: str
    service: str | None
    family: str
    launch_type: str
    status: str
    desired: str
    instance_key: str | None
    instance_id: str | None
    cpu_units: int
    """The task's CPU reservation: task-level ``cpu`` or the sum of its containers'."""
    memory_reserved_mib: int
    containers: Mapping[str, ContainerMeta]
    pod: tuple[str, str] | None
    """(namespace, name) of the Kubernetes pod this task runs, if any."""
    started_at: float | None

    @property
    def scope(self) -> tuple[str, str, str]:
        return self.account, self.region, self.cluster


@dataclass(frozen=True, slots=True)
class InstanceMeta:
    key: str
    arn: str
    instance_id: str
    ec2_instance_id: str
    account: str
    region: str
    cluster: str
    status: str
    connected: bool
    registered_cpu: int
    registered_memory_mib: int
    reserved_cpu: int
    reserved_memory_mib: int


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _family(td_arn: str) -> str:
    arn = parse_arn(td_arn)
    resource = td_arn.rsplit("/", 1)[-1] if arn is None else arn.resource_id
    return resource.rsplit(":", 1)[0]


def task_meta(key: str, doc: Doc) -> TaskMeta:
    parts = key.split("/")
    account, region, cluster, task_id = parts[2], parts[3], parts[5], parts[6]
    group = str(doc.get("group") or "")
    containers: dict[str, ContainerMeta] = {}
    soft_sum = hard_or_soft_sum = 0
    for c in doc.get("containers") or []:
        hard = _int(c.get("memory"))
        soft = _int(c.get("memoryReservation"))
        containers[str(c.get("name"))] = ContainerMeta(_int(c.get("cpu")), soft or hard, hard)
        soft_sum += soft or hard
        hard_or_soft_sum += hard or soft
    needs_memory = _int(doc.get("memory"))
    # ``memory`` on the record is what placement reserved: the task-level size when the task
    # definition has one, else the sum of each container's hard-or-soft limit. ECS divides by
    # the soft limits unless there is a task-level size.
    memory = needs_memory if needs_memory != hard_or_soft_sum else soft_sum
    pod = doc.get("_pod")
    instance_key = ecs_keys.task_instance(key, doc)
    return TaskMeta(
        arn=str(doc.get("taskArn")),
        task_id=task_id,
        account=account,
        region=region,
        cluster=cluster,
        service=group[len(SERVICE_GROUP) :] if group.startswith(SERVICE_GROUP) else None,
        family=_family(str(doc.get("taskDefinitionArn") or "")),
        launch_type=str(doc.get("launchType") or "EC2"),
        status=str(doc.get("lastStatus") or ""),
        desired=str(doc.get("desiredStatus") or ""),
        instance_key=instance_key,
        instance_id=None if doc.get("_instance") is None else str(doc["_instance"]),
        cpu_units=_int(doc.get("cpu")),
        memory_reserved_mib=memory,
        containers=containers,
        pod=(str(pod["namespace"]), str(pod["name"])) if isinstance(pod, dict) else None,
        started_at=doc.get("startedAt"),
    )


def instance_meta(key: str, doc: Doc) -> InstanceMeta:
    parts = key.split("/")
    registered = doc.get("registeredResources") or []
    remaining = doc.get("remainingResources") or []
    reg_cpu = ci_model.resource_int(registered, ci_model.CPU)
    reg_mem = ci_model.resource_int(registered, ci_model.MEMORY)
    return InstanceMeta(
        key=key,
        arn=str(doc.get("containerInstanceArn") or ""),
        instance_id=parts[6],
        ec2_instance_id=str(doc.get("ec2InstanceId") or parts[6]),
        account=parts[2],
        region=parts[3],
        cluster=parts[5],
        status=str(doc.get("status") or ""),
        connected=bool(doc.get("agentConnected")),
        registered_cpu=reg_cpu,
        registered_memory_mib=reg_mem,
        reserved_cpu=reg_cpu - ci_model.resource_int(remaining, ci_model.CPU),
        reserved_memory_mib=reg_mem - ci_model.resource_int(remaining, ci_model.MEMORY),
    )


class MetricsMeta:
    def __init__(self, index: EcsIndex) -> None:
        self.index = index
        self.tasks: dict[str, TaskMeta] = {}
        """task ARN → meta, for every task in the index."""
        self.instances: dict[str, InstanceMeta] = {}
        """container-instance key → meta."""
        self._arn_of: dict[str, str] = {}
        self.placements = 0
        """Tasks that got a host (a RunTask copy, a service's task, a pod, a Fargate task)."""
        self.stopped = 0

    # -- IndexListener -----------------------------------------------------------------------
    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None:
        if new is None:
            arn = self._arn_of.pop(key, None)
            if arn is not None:
                self.tasks.pop(arn, None)
            return
        doc = new.doc
        arn = str(doc.get("taskArn"))
        held = self.tasks.get(arn)
        if (
            held is not None
            and held.status == doc.get("lastStatus")
            and held.desired == doc.get("desiredStatus")
            and held.instance_id == doc.get("_instance")
        ):
            return
        if (held is None or held.instance_id is None) and doc.get("_instance") is not None:
            self.placements += 1
        if doc.get("lastStatus") == task_model.STOPPED and (
            held is None or held.status != task_model.STOPPED
        ):
            self.stopped += 1
        self._arn_of[key] = arn
        self.tasks[arn] = task_meta(key, doc)

    def instance_changed(self, key: str, rec: Record | None) -> None:
        if rec is None:
            self.instances.pop(key, None)
        else:
            self.instances[key] = instance_meta(key, rec.doc)

    def reset(self) -> None:
        """The index was (re-)listed: take everything from it again."""
        self.load()

    def load(self) -> None:
        fresh_tasks: dict[str, TaskMeta] = {}
        arn_of: dict[str, str] = {}
        for rec in self.index.tasks():
            meta = task_meta(rec.key, rec.doc)
            fresh_tasks[meta.arn] = meta
            arn_of[rec.key] = meta.arn
        self.tasks, self._arn_of = fresh_tasks, arn_of
        self.instances = {rec.key: instance_meta(rec.key, rec.doc) for rec in self.index.instances()}
