"""Fargate's rules for one task, from the host agent's side (pure: no I/O).

- `is_fargate`: a task the control plane placed on Fargate capacity (``launchType`` FARGATE, or
  the FARGATE / FARGATE_SPOT capacity provider).
- `check`: the task's size, or what the agent will not run on a Fargate host even if the control plane sent it
  (the API already rejects these at registration; this is defence in depth): a network mode
  other than awsvpc, privileged containers, host PID/IPC namespaces, host-path or Docker
  volumes, devices, weakened security options, capabilities beyond SYS_PTRACE, a task size
  Fargate does not offer, ephemeral storage outside 21 to 200 GiB.
- `task_size`: the task's cpu/memory (task definition, or the task override) and ephemeral
  storage (20 GiB unless ``ephemeralStorage.sizeInGiB`` says otherwise).
- `harden_container`: one container's runtime spec made Fargate's: exactly Fargate's
  capability set, no privilege, the ephemeral storage as its writable-layer quota.
- `per_container_limits`: the task size split over its containers, for hosts that cannot
  limit the task as a whole (see `agent.task_isolation`).

Capabilities. Fargate documents only that SYS_PTRACE is the one capability a task may add;
the set a container starts with, as reported from inside Fargate tasks (aws/containers-roadmap
#409), is Docker's default set: AUDIT_WRITE CHOWN DAC_OVERRIDE FOWNER FSETID KILL MKNOD
NET_BIND_SERVICE NET_RAW SETFCAP SETGID SETPCAP SETUID SYS_CHROOT. The agent therefore drops
ALL and adds exactly that set (minus the definition's ``drop``, plus SYS_PTRACE when asked), so a
task gets the same capabilities whatever the engine's own default is (Podman's is smaller).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from stowage.model import fargate as sizes
from stowage.model.agent_tasks import TaskSpec
from stowage.model.task_definition_capabilities import FARGATE_ADDABLE_CAPABILITIES
from stowage.runtime.base import ContainerSpec, TaskLimits

Doc = dict[str, Any]

FARGATE = "FARGATE"
FARGATE_CAPACITY_PROVIDERS = frozenset({"FARGATE", "FARGATE_SPOT"})
FARGATE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "NET_RAW",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
"""What a Fargate container starts with: Docker's default set (see the module docstring)."""
ADDABLE_CAPABILITIES = FARGATE_ADDABLE_CAPABILITIES
DEFAULT_EPHEMERAL_STORAGE_GIB = sizes.DEFAULT_EPHEMERAL_GIB
EPHEMERAL_STORAGE_RANGE_GIB = (sizes.MIN_EPHEMERAL_GIB, sizes.MAX_EPHEMERAL_GIB)

_MIB = 1024 * 1024
_GIB = 1024 * _MIB
_MIN_NANO_CPUS = 10_000_000  # Docker's smallest NanoCpus (0.01 CPU)
_MIN_MEMORY_BYTES = 6 * _MIB  # Docker's smallest memory limit


def is_fargate(spec: TaskSpec) -> bool:
    return spec.launch_type == FARGATE or spec.capacity_provider in FARGATE_CAPACITY_PROVIDERS


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the agent will not run a Fargate task; ``container`` names the culprit if one is."""

    reason: str
    container: str = ""


@dataclass(frozen=True, slots=True)
class TaskSize:
    cpu_units: int
    memory_mib: int
    ephemeral_storage_gib: int

    @property
    def limits(self) -> TaskLimits:
        return TaskLimits(nano_cpus=nano_cpus(self.cpu_units), memory_bytes=self.memory_mib * _MIB)

    @property
    def storage_bytes(self) -> int:
        return self.ephemeral_storage_gib * _GIB


def nano_cpus(cpu_units: int) -> int:
    return cpu_units * 1_000_000_000 // 1024


def cpu_units(nano: int) -> int:
    """NanoCpus back to cpu units (rounded to the nearest unit: quotas are in microseconds)."""
    return (nano * 1024 + 500_000_000) // 1_000_000_000


def _int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _cap(name: object) -> str:
    return str(name).strip().upper().removeprefix("CAP_")


def _storage_gib(spec: TaskSpec) -> int | None:
    for source in (spec.overrides, spec.task_definition):
        storage = source.get("ephemeralStorage")
        if isinstance(storage, Mapping) and storage.get("sizeInGiB") is not None:
            return _int(storage.get("sizeInGiB"))
    return DEFAULT_EPHEMERAL_STORAGE_GIB


def task_size(spec: TaskSpec) -> TaskSize | Refusal:
    """The task's size, override first; a Refusal when Fargate would not run it."""
    td = spec.task_definition
    cpu = _int(spec.overrides.get("cpu") or td.get("cpu"))
    memory = _int(spec.overrides.get("memory") or td.get("memory"))
    if cpu is None:
        return Refusal("Fargate requires that 'cpu' be defined at the task level.")
    if memory is None:
        return Refusal("Fargate requires that 'memory' be defined at the task level.")
    if not sizes.is_valid_size(cpu, memory):
        return Refusal(
            f"No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. "
            "See the Amazon ECS documentation for the valid values."
        )
    storage = _storage_gib(spec)
    low, high = EPHEMERAL_STORAGE_RANGE_GIB
    if storage is None or (storage != DEFAULT_EPHEMERAL_STORAGE_GIB and not low <= storage <= high):
        return Refusal(f"The ephemeral storage size must be between {low} and {high} GiB.")
    return TaskSize(cpu_units=cpu, memory_mib=memory, ephemeral_storage_gib=storage)


def check(spec: TaskSpec) -> TaskSize | Refusal:
    """The task's size if it may run on Fargate, else the first rule it breaks (ECS's words)."""
    td = spec.task_definition
    if spec.network.mode != "awsvpc" or td.get("networkMode", "awsvpc") != "awsvpc":
        return Refusal("Fargate only supports network mode \u2018awsvpc\u2019.")
    size = task_size(spec)
    if isinstance(size, Refusal):
        return size
    if td.get("pidMode") == "host":
        return Refusal("Tasks using the Fargate launch type do not support pidMode 'host'.")
    if td.get("ipcMode"):
        return Refusal("Tasks using the Fargate launch type do not support ipcMode.")
    for volume in td.get("volumes") or []:
        name = volume.get("name")
        if (volume.get("host") or {}).get("sourcePath"):
            return Refusal(f"Fargate does not support host volumes with a 'sourcePath' (volume '{name}').")
        if volume.get("dockerVolumeConfiguration") is not None:
            return Refusal(f"Fargate does not support 'dockerVolumeConfiguration' (volume '{name}').")
    for definition in spec.container_definitions():
        problem = _container_refusal(definition)
        if problem is not None:
            return problem
    return size


def _container_refusal(c: Doc) -> Refusal | None:
    name = str(c.get("name", ""))

    def no(what: str) -> Refusal:
        return Refusal(f"Fargate does not support {what} (container '{name}').", name)

    if c.get("privileged"):
        return no("privileged containers")
    if c.get("disableNetworking"):
        return no("'disableNetworking'")
    if c.get("dockerSecurityOptions"):
        return no("'dockerSecurityOptions'")
    linux = c.get("linuxParameters") or {}
    if linux.get("devices"):
        return no("'devices'")
    added = {_cap(a) for a in (linux.get("capabilities") or {}).get("add") or []}
    if added - ADDABLE_CAPABILITIES:
        return Refusal(
            f"Fargate only supports adding the SYS_PTRACE kernel capability (container '{name}').", name
        )
    return None


def capability_sets(definition: Doc) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(CapAdd, CapDrop) giving exactly Fargate's set: drop ALL, add the allowed ones back."""
    caps = (definition.get("linuxParameters") or {}).get("capabilities") or {}
    dropped = {_cap(d) for d in caps.get("drop") or []}
    added = {_cap(a) for a in caps.get("add") or []} & ADDABLE_CAPABILITIES
    granted = set() if "ALL" in dropped else set(FARGATE_CAPABILITIES - dropped)
    return tuple(sorted(granted | added)), ("ALL",)


def harden_container(container: ContainerSpec, definition: Doc, size: TaskSize) -> ContainerSpec:
    """``container`` as it runs on Fargate (its cpu cap and memory were set from the task size
    by the translation already; the task-wide cgroup comes from `agent.task_isolation`)."""
    add, drop = capability_sets(definition)
    return replace(
        container,
        privileged=False,
        cap_add=add,
        cap_drop=drop,
        security_opt=(),
        storage_size_bytes=size.storage_bytes,
    )


def _shares(weights: Mapping[str, int | None], total: int, floor: int) -> dict[str, int]:
    """Split ``total`` over the names in proportion to their weights; names without one share
    what the others leave equally (or an equal part of the whole when they leave nothing)."""
    known = sum(w for w in weights.values() if w)
    unset = [n for n, w in weights.items() if not w]
    rest = total - known
    filled = {n: w or 0 for n, w in weights.items()}
    for n in unset:
        filled[n] = rest // len(unset) if rest > 0 else total // len(weights)
    scale = sum(filled.values()) or 1
    return {n: max(floor, total * w // scale) for n, w in filled.items()}


def per_container_limits(spec: TaskSpec, size: TaskSize) -> dict[str, TaskLimits]:
    """Per-container limits that add up to the task size, for a host that cannot limit the
    task as a whole. cpu: each container's ``cpu`` units are its weight; memory: its hard
    ``memory`` (else ``memoryReservation``) is its weight, and a hard limit stays a ceiling."""
    cpus: dict[str, int | None] = {}
    mems: dict[str, int | None] = {}
    hard: dict[str, int | None] = {}
    for definition in spec.container_definitions():
        name = str(definition["name"])
        override = spec.container_override(name)
        cpus[name] = _int(override.get("cpu", definition.get("cpu")))
        hard[name] = _int(override.get("memory", definition.get("memory")))
        reservation = _int(override.get("memoryReservation", definition.get("memoryReservation")))
        mems[name] = hard[name] or reservation
    if not cpus:
        return {}
    cpu_share = _shares(
        {n: nano_cpus(c) if c else None for n, c in cpus.items()}, nano_cpus(size.cpu_units), _MIN_NANO_CPUS
    )
    mem_share = _shares(
        {n: m * _MIB if m else None for n, m in mems.items()}, size.memory_mib * _MIB, _MIN_MEMORY_BYTES
    )
    out = {}
    for name in cpus:
        ceiling = hard[name]
        memory = min(mem_share[name], ceiling * _MIB) if ceiling else mem_share[name]
        out[name] = TaskLimits(nano_cpus=cpu_share[name], memory_bytes=memory)
    return out


__all__ = [
    "FARGATE_CAPABILITIES",
    "Refusal",
    "TaskSize",
    "capability_sets",
    "check",
    "cpu_units",
    "harden_container",
    "is_fargate",
    "nano_cpus",
    "per_container_limits",
    "task_size",
]
