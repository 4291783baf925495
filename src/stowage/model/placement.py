"""The placement boundary: what a placer sees (candidates, a request) and what it answers.

``Placer.choose`` is a pure decision over a snapshot; committing it (reserve resources and
create the task in one compare-and-swap transaction, retry on conflict) is the caller's job
(``controllers.placement``). This issue's placer is first-fit; the real scheduler replaces it
behind the same protocol.

Failure reasons are ECS's: ``RESOURCE:CPU``, ``RESOURCE:MEMORY``, ``RESOURCE:PORTS``,
``RESOURCE:PORTS_UDP``, ``AGENT`` (agent disconnected), and the constraint reasons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stowage.model import container_instances as ci
from stowage.model.tasks import Needs

Doc = dict[str, Any]

RESOURCE_CPU = "RESOURCE:CPU"
RESOURCE_MEMORY = "RESOURCE:MEMORY"
RESOURCE_PORTS = "RESOURCE:PORTS"
RESOURCE_PORTS_UDP = "RESOURCE:PORTS_UDP"
AGENT = "AGENT"
MEMBER_OF = "MemberOf placement constraint unsatisfied."
DISTINCT_INSTANCE = "DistinctInstance placement constraint unsatisfied."


@dataclass(frozen=True, slots=True)
class Candidate:
    """One container instance as placement sees it, at the record's ``mod_revision``."""

    key: str
    instance_id: str
    doc: Doc
    mod_revision: int
    custom_attributes: Mapping[str, str | None] = field(default_factory=dict)
    running_tasks: int = 0
    task_groups: frozenset[str] = frozenset()
    task_families: frozenset[str] = frozenset()

    @property
    def arn(self) -> str:
        return str(self.doc["containerInstanceArn"])

    @property
    def active(self) -> bool:
        return self.doc.get("status") == ci.ACTIVE

    @property
    def connected(self) -> bool:
        return bool(self.doc.get("agentConnected"))

    def attributes(self) -> dict[str, str | None]:
        attrs: dict[str, str | None] = {a["name"]: a.get("value") for a in self.doc.get("attributes", [])}
        attrs.update(self.custom_attributes)
        return attrs

    def misfit(self, needs: Needs) -> str | None:
        """The first resource the instance lacks for ``needs``, else None."""
        remaining = self.doc.get("remainingResources", [])
        if needs.cpu > ci.resource_int(remaining, ci.CPU):
            return RESOURCE_CPU
        if needs.memory > ci.resource_int(remaining, ci.MEMORY):
            return RESOURCE_MEMORY
        if {str(p) for p in needs.tcp} & ci.resource_set(remaining, ci.PORTS):
            return RESOURCE_PORTS
        if {str(p) for p in needs.udp} & ci.resource_set(remaining, ci.PORTS_UDP):
            return RESOURCE_PORTS_UDP
        return None


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    needs: Needs
    group: str
    constraints: Sequence[Mapping[str, Any]] = ()
    """RunTask's and the task definition's ``placementConstraints``."""
    strategy: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    chosen: Candidate | None
    failures: list[tuple[str, str]] = field(default_factory=list)
    """``(container instance ARN, reason)`` for each instance that could not take the task."""


class Placer(Protocol):
    def choose(self, request: PlacementRequest, candidates: Sequence[Candidate]) -> Decision:
        """Pick one candidate for the request, or explain why none fits. Pure."""
        ...
