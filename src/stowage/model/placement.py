"""What placement is asked and what it answers with: the request, the strategies, ECS's reasons.

A ``PlacementRequest`` describes one task shape (what every copy of a RunTask call, or of a
service deployment, needs) and the rules that govern where it may go: ``placementConstraints``
(the task definition's plus the call's), ``placementStrategy``, the launch type and the task
definition's ``requiresAttributes``. The scheduler (``stowage.scheduler``) turns a request, a
count and a cluster snapshot into a plan; ``controllers.placement`` commits the plan.

Failure reasons are ECS's words: ``RESOURCE:CPU``, ``RESOURCE:MEMORY``, ``RESOURCE:PORTS``,
``RESOURCE:PORTS_UDP``, ``AGENT`` (agent disconnected), ``ATTRIBUTE`` (a required attribute is
missing), and the constraint sentences ECS uses.

Strategies are checked here (``check_strategy``) so the API can answer an
InvalidParameterException before anything is planned; the ECS defaults: RunTask places
randomly, services spread across availability zones and then instances.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stowage.model.tasks import Needs

Doc = dict[str, Any]

RESOURCE_CPU = "RESOURCE:CPU"
RESOURCE_MEMORY = "RESOURCE:MEMORY"
RESOURCE_PORTS = "RESOURCE:PORTS"
RESOURCE_PORTS_UDP = "RESOURCE:PORTS_UDP"
AGENT = "AGENT"
ATTRIBUTE = "ATTRIBUTE"
LOCATION = "LOCATION"
"""An awsvpc task's subnets are not where the instance is (its ``ecs.subnet-id``)."""
SUBNET_ATTRIBUTE = "ecs.subnet-id"
MEMBER_OF = "MemberOf placement constraint unsatisfied."
DISTINCT_INSTANCE = "DistinctInstance placement constraint unsatisfied."

RUN_TASK_DEFAULT_STRATEGY: tuple[Doc, ...] = ({"type": "random"},)
"""ECS: "RunTask ... uses random placement" when no strategy is given."""
SERVICE_DEFAULT_STRATEGY: tuple[Doc, ...] = (
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "spread", "field": "instanceId"},
)
"""ECS's service scheduler default: balance across zones, then across instances."""

BINPACK_FIELDS = ("cpu", "memory")
INSTANCE_FIELDS = ("instanceid", "host")
"""``spread`` fields meaning "each instance is its own value" (compared case-insensitively)."""


class StrategyError(ValueError):
    """A ``placementStrategy`` item ECS would reject; ``str(exc)`` is the API message."""


def check_strategy(strategy: Sequence[Mapping[str, Any]]) -> None:
    """Raise ``StrategyError`` for a strategy item ECS rejects."""
    for item in strategy:
        kind = item.get("type")
        field = item.get("field")
        if kind == "binpack":
            if str(field or "").lower() not in BINPACK_FIELDS:
                raise StrategyError(
                    f"Invalid field '{field}' for the binpack placement strategy: use cpu or memory."
                )
        elif kind == "spread":
            text = str(field or "")
            if text.lower() not in INSTANCE_FIELDS and not (
                text.startswith("attribute:") and len(text) > len("attribute:")
            ):
                raise StrategyError(
                    f"Invalid field '{field}' for the spread placement strategy: use instanceId, host "
                    "or attribute:NAME."
                )
        elif kind != "random":
            raise StrategyError(f"Invalid placement strategy type '{kind}'.")


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    """One task shape to place, and where it may go."""

    needs: Needs
    group: str
    """The task group (``family:NAME`` by default, ``service:NAME`` for services): spread counts
    and ``distinctInstance`` look at the tasks of this group."""
    constraints: Sequence[Mapping[str, Any]] = ()
    """The task definition's and the call's ``placementConstraints``."""
    strategy: Sequence[Mapping[str, Any]] = ()
    """``placementStrategy`` in ECS's order; empty means the RunTask default (random)."""
    launch_type: str = "EC2"
    requires_attributes: Sequence[Mapping[str, Any]] = ()
    """The task definition's ``requiresAttributes`` (``name``, optional ``value``)."""
    family: str = ""
    subnets: Sequence[str] = ()
    """An awsvpc task's subnets: an instance that says which subnet it is in
    (``ecs.subnet-id``) must be in one of them (ECS: LOCATION)."""
    excluded: Mapping[str, str] = field(default_factory=dict)
    """Instances (by container instance id) that may not take a copy, each with the reason to
    report: a caller's own filter on grounds the model does not hold (the Kubernetes API: the
    nodes whose taints a pod does not tolerate, cordoned nodes)."""
    avoid: frozenset[str] = frozenset()
    """Instances (by container instance id) to rank after every other feasible one (the
    Kubernetes API: nodes with a PreferNoSchedule taint the pod does not tolerate)."""
