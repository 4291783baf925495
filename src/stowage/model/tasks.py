"""ECS tasks as records: what a task needs, the record RunTask creates, and the lifecycle.

A task record is the ECS ``Task`` shape plus private members (names starting with ``_``, never
rendered): ``_instance`` (the container instance id it is placed on), ``_needs`` (what it
reserved there: cpu, memory, tcp and udp host ports), ``_spec`` (the encoded
``agent_tasks.TaskSpec`` the agent receives), ``_released`` (its reservation was given back)
and ``_acked`` (the agent itself reported it STOPPED, so it leaves the agent's assignments).

The lifecycle is ECS's: ``lastStatus`` only moves forward through ``LIFECYCLE``; each
timestamp is set once; a stop code or reason set by StopTask is kept when the agent later
reports its own. ``apply_report`` is the one place a report changes a task, for the stowage
agent and for ECS's own SubmitTaskStateChange alike. Pure: no store, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stowage.model.ids import random_hex, random_uuid
from stowage.model.resources import parse_cpu_units, parse_memory_mib
from stowage.model.validation import Invalid

Doc = dict[str, Any]

LIFECYCLE = (
    "PROVISIONING",
    "PENDING",
    "ACTIVATING",
    "RUNNING",
    "DEACTIVATING",
    "STOPPING",
    "DEPROVISIONING",
    "STOPPED",
)
_RANK = {s: i for i, s in enumerate(LIFECYCLE)}
PENDING_STATES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})
"""Counted in ``pendingTasksCount``."""
RUNNING_STATES = frozenset({"RUNNING", "DEACTIVATING", "STOPPING", "DEPROVISIONING"})
"""Counted in ``runningTasksCount``: started and not yet stopped (a stopping task still holds
its instance, so DeleteCluster must still refuse)."""
CONTAINER_LIFECYCLE = ("PENDING", "RUNNING", "STOPPED")
STOPPED = "STOPPED"
RUNNING = "RUNNING"
STOP_CODES = frozenset(
    {
        "TaskFailedToStart",
        "EssentialContainerExited",
        "UserInitiated",
        "ServiceSchedulerInitiated",
        "SpotInterruption",
        "TerminationNotice",
        "InfrastructureHealth",
    }
)
HEALTH = frozenset({"HEALTHY", "UNHEALTHY", "UNKNOWN"})
DEFAULT_STOP_REASON = "Task stopped by user"
ENI = "ElasticNetworkInterface"
MAX_DESCRIBE = 100
MAX_COUNT = 10
LIST_PAGE = 100


def new_task_id() -> str:
    return random_hex()


def rank(status: str | None) -> int:
    return _RANK.get(status or "", -1)


def count_class(doc: Mapping[str, Any]) -> str | None:
    """``pending`` / ``running`` / None: which task count of its instance and cluster it is in."""
    status = doc.get("lastStatus")
    if status in PENDING_STATES:
        return "pending"
    if status in RUNNING_STATES:
        return "running"
    return None


# -- what a task needs -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Needs:
    cpu: int
    memory: int
    tcp: tuple[int, ...] = ()
    udp: tuple[int, ...] = ()

    def to_doc(self) -> Doc:
        return {"cpu": self.cpu, "memory": self.memory, "tcp": list(self.tcp), "udp": list(self.udp)}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Needs:
        return cls(int(doc["cpu"]), int(doc["memory"]), tuple(doc.get("tcp", ())), tuple(doc.get("udp", ())))


def network_mode(td: Mapping[str, Any]) -> str:
    return str(td.get("networkMode") or "bridge")


def check_overrides(td: Mapping[str, Any], overrides: Mapping[str, Any]) -> None:
    names = {c["name"] for c in td.get("containerDefinitions", [])}
    for o in overrides.get("containerOverrides") or []:
        name = o.get("name")
        if name not in names:
            raise Invalid(f"Override for container named {name} is not a container in the TaskDefinition.")
        for member in ("cpu", "memory", "memoryReservation"):
            if o.get(member) is not None and o[member] < 0:
                raise Invalid(f"Container override {member} for {name} cannot be negative.")
    if overrides.get("cpu") is not None and parse_cpu_units(overrides["cpu"]) is None:
        raise Invalid(f"Invalid cpu override '{overrides['cpu']}'.")
    if overrides.get("memory") is not None and parse_memory_mib(overrides["memory"]) is None:
        raise Invalid(f"Invalid memory override '{overrides['memory']}'.")


def _container_override(overrides: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for o in overrides.get("containerOverrides") or []:
        if o.get("name") == name:
            return dict(o)
    return {}


def _effective(container: Mapping[str, Any], override: Mapping[str, Any], member: str) -> int | None:
    value = override.get(member, container.get(member))
    return None if value is None else int(value)


def needs_of(td: Mapping[str, Any], overrides: Mapping[str, Any]) -> Needs:
    """Task-level cpu/memory (override first) if set, else the sum over containers of cpu and of
    memory-or-memoryReservation (overrides applied); plus the fixed host ports it binds."""
    task_cpu = overrides.get("cpu") or td.get("cpu")
    task_mem = overrides.get("memory") or td.get("memory")
    cpu = mem = 0
    for c in td.get("containerDefinitions", []):
        o = _container_override(overrides, c["name"])
        cpu += _effective(c, o, "cpu") or 0
        hard = _effective(c, o, "memory")
        mem += hard if hard is not None else (_effective(c, o, "memoryReservation") or 0)
    if task_cpu is not None:
        cpu = parse_cpu_units(str(task_cpu)) or 0
    if task_mem is not None:
        mem = parse_memory_mib(str(task_mem)) or 0
    tcp, udp = fixed_host_ports(td)
    return Needs(cpu, mem, tcp, udp)


def fixed_host_ports(td: Mapping[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Host ports the task binds for sure: host mode binds each container port; bridge mode
    binds a non-zero ``hostPort``; awsvpc and none bind no host port."""
    mode = network_mode(td)
    tcp: set[int] = set()
    udp: set[int] = set()
    if mode not in ("bridge", "host"):
        return (), ()
    for c in td.get("containerDefinitions", []):
        for pm in c.get("portMappings") or []:
            port = pm.get("hostPort") or (pm.get("containerPort") if mode == "host" else None)
            if port:
                (udp if pm.get("protocol") == "udp" else tcp).add(int(port))
    return tuple(sorted(tcp)), tuple(sorted(udp))


# -- creation --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NewTask:
    """Everything RunTask/StartTask decided about one task except where it runs."""

    task_id: str
    task_arn: str
    cluster_arn: str
    task_definition: Doc
    overrides: Doc
    launch_type: str
    group: str
    started_by: str | None
    tags: list[Doc]
    enable_execute_command: bool
    network_configuration: Doc | None
    placement_constraints: list[Doc]
    placement_strategy: list[Doc]
    needs: Needs
    created_at: float
    attachment_id: str | None = None
    extra: Doc = field(default_factory=dict)


def build_task(
    new: NewTask,
    *,
    instance_id: str | None,
    instance_arn: str | None,
    availability_zone: str | None,
    spec: str | None,
) -> Doc:
    """The record of ``new`` placed on an instance; ``spec`` is its encoded TaskSpec.

    A Fargate task is built unplaced (instance, ARN and spec None: PROVISIONING until the
    Fargate provisioner finds it room, see ``placed_on``); ``new.extra`` adds its members."""
    td = new.task_definition
    awsvpc = network_mode(td) == "awsvpc"
    containers = []
    container_base = new.cluster_arn.replace(":cluster/", ":container/")
    for c in td.get("containerDefinitions", []):
        o = _container_override(new.overrides, c["name"])
        container: Doc = {
            "containerArn": f"{container_base}/{new.task_id}/{random_uuid()}",
            "taskArn": new.task_arn,
            "name": c["name"],
            "image": c.get("image", ""),
            "lastStatus": "PENDING",
            "networkBindings": [],
            "networkInterfaces": [],
            "cpu": str(_effective(c, o, "cpu") or 0),
        }
        for member in ("memory", "memoryReservation"):
            value = _effective(c, o, member)
            if value is not None:
                container[member] = str(value)
        if c.get("healthCheck"):
            container["healthStatus"] = "UNKNOWN"
        containers.append(container)
    doc: Doc = {
        "taskArn": new.task_arn,
        "clusterArn": new.cluster_arn,
        "taskDefinitionArn": td["taskDefinitionArn"],
        "overrides": {"containerOverrides": [], "inferenceAcceleratorOverrides": [], **new.overrides},
        "lastStatus": "PROVISIONING" if awsvpc else "PENDING",
        "desiredStatus": RUNNING,
        "cpu": str(new.needs.cpu),
        "memory": str(new.needs.memory),
        "containers": containers,
        "version": 1,
        "createdAt": new.created_at,
        "group": new.group,
        "launchType": new.launch_type,
        "attachments": [],
        "tags": new.tags,
        "enableExecuteCommand": new.enable_execute_command,
        "healthStatus": "UNKNOWN",
        "_instance": instance_id,
        "_needs": new.needs.to_doc(),
        "_spec": spec,
        "_released": False,
        "_acked": False,
        "_placementConstraints": new.placement_constraints,
        "_placementStrategy": new.placement_strategy,
    }
    if instance_arn is not None:
        doc["containerInstanceArn"] = instance_arn
    doc.update(new.extra)
    if new.started_by:
        doc["startedBy"] = new.started_by
    if availability_zone:
        doc["availabilityZone"] = availability_zone
    if not awsvpc:
        doc["connectivity"] = "CONNECTED"
        doc["connectivityAt"] = new.created_at
    elif new.attachment_id and new.network_configuration:
        subnets = new.network_configuration.get("awsvpcConfiguration", {}).get("subnets") or []
        doc["attachments"] = [
            {
                "id": new.attachment_id,
                "type": ENI,
                "status": "PRECREATED",
                "details": [{"name": "subnetId", "value": subnets[0]}] if subnets else [],
            }
        ]
    return doc


def host_cluster(doc: Mapping[str, Any], cluster: str) -> str:
    """The cluster of the instance a task runs on: its own, or the Fargate pool's."""
    return str(doc.get("_hostCluster") or cluster)


def is_unplaced(doc: Mapping[str, Any]) -> bool:
    """A Fargate task still waiting for capacity (no instance yet)."""
    return doc.get("_instance") is None


def placed_on(
    doc: Doc, *, instance_id: str, host_cluster: str, availability_zone: str | None, spec: str
) -> Doc:
    """An unplaced (Fargate) task given its host: shallow copy, new members only."""
    new = dict(doc)
    new["_instance"] = instance_id
    new["_hostCluster"] = host_cluster
    new["_spec"] = spec
    if availability_zone:
        new["availabilityZone"] = availability_zone
    new["version"] = int(new.get("version", 0)) + 1
    return new


# -- changes ---------------------------------------------------------------------------------
def stop_requested(doc: Doc, reason: str | None, now: float, code: str = "UserInitiated") -> Doc | None:
    """StopTask: the desired status becomes STOPPED; the first stop's code and reason stick."""
    if doc.get("desiredStatus") == STOPPED or doc.get("lastStatus") == STOPPED:
        return None
    new = dict(doc)  # only top-level members change
    new["desiredStatus"] = STOPPED
    new.setdefault("stoppingAt", now)
    new.setdefault("stopCode", code)
    new.setdefault("stoppedReason", reason or DEFAULT_STOP_REASON)
    new["version"] = int(new.get("version", 0)) + 1
    return new


@dataclass(frozen=True, slots=True)
class Report:
    """One state report about a task (from the stowage agent or ECS's Submit*StateChange)."""

    last_status: str | None = None
    containers: Sequence[Mapping[str, Any]] = ()
    """Each ``{name, lastStatus?, exitCode?, reason?, runtimeId?, healthStatus?, imageDigest?,
    networkBindings?, networkInterfaces?}``, and from the stowage agent also ``restartCount?,
    startedAt?, lastExit?, lifecycle?`` (``PRIVATE_CONTAINER_MEMBERS``)."""
    attachments: Sequence[Mapping[str, Any]] = ()
    """Each ``{id, status?, details?}``; ``id`` may also be an attachment ARN ending in the id."""
    pull_started_at: float | None = None
    pull_stopped_at: float | None = None
    started_at: float | None = None
    execution_stopped_at: float | None = None
    health_status: str | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    from_agent: bool = True
    """False when the control plane itself stops a task (its instance was deregistered)."""
    isolation: Mapping[str, Any] | None = None
    """How the agent isolated a Fargate task (the agent model's ``TaskIsolationReport``)."""


def check_report(report: Report) -> None:
    if report.last_status is not None and report.last_status not in _RANK:
        raise Invalid(f"Invalid task status '{report.last_status}'. Valid values: {', '.join(LIFECYCLE)}.")
    if report.stop_code is not None and report.stop_code not in STOP_CODES:
        raise Invalid(f"Invalid stopCode '{report.stop_code}'.")
    if report.health_status is not None and report.health_status not in HEALTH:
        raise Invalid(f"Invalid healthStatus '{report.health_status}'.")
    for c in report.containers:
        status = c.get("lastStatus")
        if status is not None and status not in CONTAINER_LIFECYCLE:
            raise Invalid(f"Invalid container status '{status}' for container {c.get('name')}.")


def _set_once(doc: Doc, member: str, value: Any) -> None:
    if value is not None and doc.get(member) is None:
        doc[member] = value


def apply_report(doc: Doc, report: Report, now: float) -> Doc | None:
    """The task after ``report``, or None when the report changes nothing. Raises ``Invalid``
    for a container name the task does not have."""
    new = _writable(doc)
    current = new.get("lastStatus")
    target = report.last_status
    for member, value in (
        ("pullStartedAt", report.pull_started_at),
        ("pullStoppedAt", report.pull_stopped_at),
        ("executionStoppedAt", report.execution_stopped_at),
    ):
        _set_once(new, member, value)
    if target is not None and rank(target) > rank(current):
        new["lastStatus"] = target
        _advance(new, target, report, now)
    if (
        report.started_at is not None
        and rank(new["lastStatus"]) >= rank(RUNNING)
        and new["lastStatus"] != STOPPED
    ):
        _set_once(new, "startedAt", report.started_at)
    if report.health_status is not None:
        new["healthStatus"] = report.health_status
    _set_once(new, "stopCode", report.stop_code)
    _set_once(new, "stoppedReason", report.stopped_reason)
    if report.from_agent and new["lastStatus"] == STOPPED:
        new["_acked"] = True
    _apply_containers(new, report.containers, final=new["lastStatus"] == STOPPED)
    _apply_attachments(new, report.attachments)
    if report.isolation:
        _apply_isolation(new, report.isolation)
    if new == doc:
        return None
    new["version"] = int(doc.get("version", 0)) + 1
    return new


def _writable(doc: Doc) -> Doc:
    """A copy of ``doc`` that a report may change: the top level and each container and
    attachment are new dicts; nothing deeper is changed in place (lists are replaced whole).
    A deep copy of every task on every report was the hottest line of a busy control plane."""
    new = dict(doc)
    if "containers" in doc:
        new["containers"] = [dict(c) for c in doc["containers"]]
    if "attachments" in doc:
        new["attachments"] = [dict(a) for a in doc["attachments"]]
    return new


ISOLATION_ATTRIBUTES = {
    "scope": "stowage.isolation.scope",
    "cgroupParent": "stowage.isolation.cgroup-parent",
    "reason": "stowage.isolation.reason",
    "ephemeralStorageEnforced": "stowage.ephemeral-storage.enforced",
    "ephemeralStorageReason": "stowage.ephemeral-storage.reason",
}
"""How a Fargate task's isolation shows in DescribeTasks: as task ``attributes`` (the ECS
``Task`` shape has no member for it)."""


def _apply_isolation(new: Doc, isolation: Mapping[str, Any]) -> None:
    attrs = {a["name"]: a for a in new.get("attributes") or []}
    for member, name in ISOLATION_ATTRIBUTES.items():
        value = isolation.get(member)
        if value is not None:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            attrs[name] = {"name": name, "value": text}
    new["attributes"] = list(attrs.values())


def _advance(new: Doc, target: str, report: Report, now: float) -> None:
    """Timestamps ECS sets as a task passes each stage, each once."""
    if rank(target) >= rank("PENDING"):
        _set_once(new, "connectivityAt", now)
        new.setdefault("connectivity", "CONNECTED")
    if target == RUNNING or (rank(target) > rank(RUNNING) and target != STOPPED):
        _set_once(new, "startedAt", report.started_at or now)
    if rank(target) >= rank("DEACTIVATING"):
        _set_once(new, "stoppingAt", now)
    if rank(target) >= rank("DEPROVISIONING"):
        _set_once(new, "executionStoppedAt", report.execution_stopped_at or now)
    if target == STOPPED:
        new["desiredStatus"] = STOPPED
        _set_once(new, "stoppedAt", now)
        for a in new.get("attachments", []):
            a["status"] = "DELETED"


def _apply_containers(new: Doc, reports: Iterable[Mapping[str, Any]], *, final: bool) -> None:
    by_name = {c["name"]: c for c in new.get("containers", [])}
    for r in reports:
        c = by_name.get(str(r.get("name")))
        if c is None:
            raise Invalid(f"The task has no container named {r.get('name')}.")
        status = r.get("lastStatus")
        if status is not None and CONTAINER_LIFECYCLE.index(status) > CONTAINER_LIFECYCLE.index(
            c.get("lastStatus", "PENDING")
        ):
            c["lastStatus"] = status
        _set_once(c, "exitCode", r.get("exitCode"))
        _set_once(c, "reason", r.get("reason"))
        for member in ("runtimeId", "imageDigest", "healthStatus"):
            if r.get(member) is not None:
                c[member] = r[member]
        _apply_private(new, str(c["name"]), r)
        for member in ("networkBindings", "networkInterfaces"):
            if r.get(member) is not None:
                c[member] = [dict(x) for x in r[member]]
    if final:
        for c in new.get("containers", []):
            c["lastStatus"] = STOPPED


PRIVATE_CONTAINER_MEMBERS = ("restartCount", "startedAt", "lastExit", "lifecycle")
"""What the stowage agent reports of a container beyond ECS's ``Container`` shape (restarts,
the current run's start, a pod container's probe state): kept per container name in the task's
private ``_containers`` (DescribeTasks never shows it; the pod status reads it), each report's
value replacing the last."""


def _apply_private(new: Doc, name: str, report: Mapping[str, Any]) -> None:
    extra = {m: report[m] for m in PRIVATE_CONTAINER_MEMBERS if report.get(m) is not None}
    if not extra:
        return
    private = dict(new.get("_containers") or {})
    private[name] = {**(private.get(name) or {}), **extra}
    new["_containers"] = private


def private_container(task: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """The private members the agent reported of the task's container ``name``."""
    found = (task.get("_containers") or {}).get(name)
    return found if isinstance(found, Mapping) else {}


def _apply_attachments(new: Doc, reports: Iterable[Mapping[str, Any]]) -> None:
    for r in reports:
        ref = str(r.get("id", ""))
        for a in new.get("attachments", []):
            if ref and (a["id"] == ref or ref.endswith("/" + a["id"])):
                if r.get("status") and a.get("status") != "DELETED":
                    a["status"] = r["status"]
                merged = {d["name"]: d for d in a.get("details", [])}
                for d in r.get("details") or []:
                    if d.get("name"):
                        merged[d["name"]] = {"name": d["name"], "value": d.get("value", "")}
                a["details"] = list(merged.values())
                break
        else:
            raise Invalid(f"The task has no attachment {ref}.")


# -- the API view ----------------------------------------------------------------------------
def render(doc: Mapping[str, Any], include: Iterable[str] | None = None) -> Doc:
    """The ``Task`` shape; tags only with ``include=TAGS`` (None: everything, as RunTask and
    StopTask answer)."""
    view = {k: v for k, v in doc.items() if not k.startswith("_")}
    if include is not None and "TAGS" not in include:
        view.pop("tags", None)
    return view


def task_id_from_ref(ref: str) -> tuple[str | None, str]:
    """``(cluster or None, task id)`` of a task id or ARN (the old ARN format has no cluster)."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 5)[-1].split("/")
        if len(parts) == 3:
            return parts[1], parts[2]
        return None, parts[-1]
    return None, ref
