"""Metering one Fargate task: how many seconds it is billed for, and of what size.

Fargate bills per second from the start of the image pull (``pullStartedAt``) to the stop
(``stoppedAt``; "now" for a task that has not stopped), rounded up to whole seconds, with a
one-minute minimum. A task that never started pulling is not billed. The billed quantities are

- vCPU-seconds: task ``cpu`` units / 1024 x seconds,
- GB-seconds: task ``memory`` MiB / 1024 x seconds,
- extra storage GB-seconds: (``ephemeralStorage.sizeInGiB`` - the 20 included) x seconds,

kept apart by CPU architecture and capacity provider (FARGATE / FARGATE_SPOT), which is what
the price depends on. A task's *billed interval* is ``[start, start + billed seconds]``: the
seconds added by rounding and by the minimum are counted right after the real run, so usage can
be cut into windows (``--since``, days) and the pieces of a task always add up to its bill.

Times are epoch seconds as the task record stores them (floats); they become ``Decimal`` through
their shortest decimal form so that 90.000 s of wall time is 90 s and never 91. Pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from stowage.model.agent_tasks import TaskSpec
from stowage.model.pricing import ARCHITECTURES, FARGATE, FARGATE_SPOT, X86_64
from stowage.model.resources import parse_cpu_units, parse_memory_mib

MINIMUM_SECONDS = 60
INCLUDED_STORAGE_GIB = 20
ARCH_ATTRIBUTE = "ecs.cpu-architecture"
STOPPED = "STOPPED"
_UNITS = Decimal(1024)
_DAY = 86400
LEDGER_VERSION = 1


def is_fargate(doc: Mapping[str, Any]) -> bool:
    return doc.get("launchType") == FARGATE


def instant(value: float | int | str | Decimal) -> Decimal:
    """An epoch-seconds value as an exact decimal of its shortest form."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(float(value)))


@dataclass(frozen=True, slots=True)
class TaskUsage:
    """What one task is billed for (the ledger stores exactly these members)."""

    task_arn: str
    cluster_arn: str
    group: str
    architecture: str
    capacity_provider: str
    cpu_units: int
    memory_mib: int
    storage_gib: int
    start: float
    """``pullStartedAt``"""
    end: float
    """``stoppedAt``, or the time the task was metered at while it runs"""
    running: bool

    @property
    def billed_seconds(self) -> int:
        elapsed = instant(self.end) - instant(self.start)
        whole = int(elapsed.to_integral_value(rounding=ROUND_CEILING))
        return max(MINIMUM_SECONDS, whole)

    @property
    def billed_end(self) -> Decimal:
        return instant(self.start) + self.billed_seconds

    @property
    def vcpu(self) -> Decimal:
        return Decimal(self.cpu_units) / _UNITS

    @property
    def gb(self) -> Decimal:
        return Decimal(self.memory_mib) / _UNITS

    @property
    def extra_storage_gb(self) -> int:
        return max(0, self.storage_gib - INCLUDED_STORAGE_GIB)

    @property
    def cluster(self) -> str:
        return self.cluster_arn.rpartition("/")[2]

    @property
    def service(self) -> str | None:
        """The task's service; for a pod on EKS Fargate (group ``k8s:pod/<ns>/<name>``) the
        pod, ``pod/<ns>/<name>``, so its usage lines name it."""
        if self.group.startswith("service:"):
            return self.group[len("service:") :]
        return self.group[len("k8s:") :] if self.group.startswith("k8s:") else None

    def seconds_within(self, since: Decimal | None = None, until: Decimal | None = None) -> Decimal:
        """Billed seconds inside ``[since, until]`` (either bound may be open)."""
        lo = instant(self.start) if since is None else max(since, instant(self.start))
        hi = self.billed_end if until is None else min(until, self.billed_end)
        return max(Decimal(0), hi - lo)

    def days(self, since: Decimal | None = None, until: Decimal | None = None) -> list[tuple[str, Decimal]]:
        """The billed seconds inside ``[since, until]`` cut at UTC midnights: ``(YYYY-MM-DD,
        seconds)`` for each day with some, in order."""
        lo = instant(self.start) if since is None else max(since, instant(self.start))
        hi = self.billed_end if until is None else min(until, self.billed_end)
        out: list[tuple[str, Decimal]] = []
        while lo < hi:
            day_start = (int(lo) // _DAY) * _DAY
            cut = min(hi, Decimal(day_start + _DAY))
            label = dt.datetime.fromtimestamp(day_start, dt.UTC).strftime("%Y-%m-%d")
            out.append((label, cut - lo))
            lo = cut
        return out

    def to_doc(self) -> dict[str, Any]:
        """The ledger record."""
        return {
            "taskArn": self.task_arn,
            "clusterArn": self.cluster_arn,
            "group": self.group,
            "architecture": self.architecture,
            "capacityProviderName": self.capacity_provider,
            "cpu": self.cpu_units,
            "memory": self.memory_mib,
            "ephemeralStorageGiB": self.storage_gib,
            "pullStartedAt": self.start,
            "stoppedAt": self.end,
            "billedSeconds": self.billed_seconds,
            "version": LEDGER_VERSION,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> TaskUsage:
        return cls(
            task_arn=str(doc["taskArn"]),
            cluster_arn=str(doc["clusterArn"]),
            group=str(doc.get("group") or ""),
            architecture=str(doc["architecture"]),
            capacity_provider=str(doc["capacityProviderName"]),
            cpu_units=int(doc["cpu"]),
            memory_mib=int(doc["memory"]),
            storage_gib=int(doc["ephemeralStorageGiB"]),
            start=float(doc["pullStartedAt"]),
            end=float(doc["stoppedAt"]),
            running=False,
        )


def meter(doc: Mapping[str, Any], now: float, *, architecture: str | None = None) -> TaskUsage | None:
    """The usage of a Fargate task record up to its stop (or ``now``); None when the task is
    not billed (not Fargate, or it never started pulling its images). ``architecture``: the
    already-resolved architecture (else ``architecture_of``)."""
    if not is_fargate(doc):
        return None
    pulled = doc.get("pullStartedAt")
    if pulled is None:
        return None
    stopped = doc.get("lastStatus") == STOPPED
    td = _task_definition(doc) if _needs_definition(doc, architecture) else {}
    end = doc.get("stoppedAt") if stopped else None
    if end is None:
        end = doc.get("executionStoppedAt") if stopped else None
    return TaskUsage(
        task_arn=str(doc["taskArn"]),
        cluster_arn=str(doc["clusterArn"]),
        group=str(doc.get("group") or ""),
        architecture=architecture or architecture_of(doc, td),
        capacity_provider=capacity_provider_of(doc),
        cpu_units=parse_cpu_units(str(doc.get("cpu") or "0")) or 0,
        memory_mib=parse_memory_mib(str(doc.get("memory") or "0")) or 0,
        storage_gib=storage_of(doc, td),
        start=float(pulled),
        end=float(now if end is None else end),
        running=not stopped,
    )


def capacity_provider_of(doc: Mapping[str, Any]) -> str:
    """``capacityProviderName`` (set when a strategy chose it), else the private
    ``_capacityProvider`` placement keeps, else FARGATE (a plain ``launchType: FARGATE``)."""
    name = doc.get("capacityProviderName") or doc.get("_capacityProvider")
    return FARGATE_SPOT if name == FARGATE_SPOT else FARGATE


def _arch_attribute(doc: Mapping[str, Any]) -> str | None:
    for attr in doc.get("attributes") or ():
        if attr.get("name") == ARCH_ATTRIBUTE and attr.get("value"):
            return str(attr["value"])
    return None


def _needs_definition(doc: Mapping[str, Any], architecture: str | None) -> bool:
    """Whether the record alone does not say the architecture or the storage size."""
    no_arch = architecture is None and _arch_attribute(doc) is None
    return no_arch or (doc.get("ephemeralStorage") or {}).get("sizeInGiB") is None


def _task_definition(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The task definition embedded in the record's agent spec ({} if there is none)."""
    raw = doc.get("_spec")
    if not isinstance(raw, str):
        return {}
    try:
        return TaskSpec.decode(raw).task_definition
    except (ValueError, TypeError, KeyError):
        return {}


def architecture_of(doc: Mapping[str, Any], td: Mapping[str, Any] | None = None) -> str:
    """The task's ``ecs.cpu-architecture`` attribute, else its task definition's
    ``runtimePlatform.cpuArchitecture`` (``td``, else the one in the record's spec), else
    X86_64 (ECS's default)."""
    attr = _arch_attribute(doc)
    if attr is not None:
        return _arch(attr)
    platform = (_task_definition(doc) if td is None else td).get("runtimePlatform") or {}
    value = platform.get("cpuArchitecture")
    return _arch(str(value)) if value else X86_64


def _arch(value: str) -> str:
    upper = value.upper()
    return upper if upper in ARCHITECTURES else X86_64


def storage_of(doc: Mapping[str, Any], td: Mapping[str, Any] | None = None) -> int:
    """``ephemeralStorage.sizeInGiB`` of the task (or its task definition), default 20."""
    size = (doc.get("ephemeralStorage") or {}).get("sizeInGiB")
    if size is None:
        definition = _task_definition(doc) if td is None else td
        size = (definition.get("ephemeralStorage") or {}).get("sizeInGiB")
    return int(size) if size is not None else INCLUDED_STORAGE_GIB
