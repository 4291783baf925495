"""What the scheduler answers: a plan of assignments and the failures of unplaced copies.

A ``Plan`` says, for one request and count, which instance takes each copy (``placements``, in
placement order), what each instance gives up in total (``assignments``: the resource deltas the
applier reserves in one compare-and-swap per instance, guarded by the instance's
``mod_revision`` in the snapshot) and, when some copies found no instance, ECS's
``(instance ARN, reason)`` failures. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from stowage.model.placement import PlacementRequest
from stowage.scheduler.snapshot import Instance


@dataclass(frozen=True, slots=True)
class Assignment:
    instance: Instance
    """The instance as the plan saw it (its ``mod_revision`` guards the commit)."""
    copies: int
    cpu: int
    """Total CPU units the copies reserve."""
    memory: int
    tcp: tuple[int, ...] = ()
    udp: tuple[int, ...] = ()
    group: str = ""
    """The task group of the copies (what spread and distinctInstance count)."""


@dataclass(frozen=True, slots=True)
class Plan:
    request: PlacementRequest
    placements: tuple[str, ...] = ()
    """The instance key of each placed copy, in placement order."""
    assignments: Mapping[str, Assignment] = field(default_factory=dict)
    """Instance key -> what the plan puts there."""
    failures: tuple[tuple[str, str], ...] = ()
    """``(container instance ARN, reason)`` once per instance, when copies stay unplaced."""
    unplaced: int = 0

    @property
    def placed(self) -> int:
        return len(self.placements)
