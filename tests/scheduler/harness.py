"""A side-effect-free harness for the scheduler: build instances and snapshots in a line, plan,
and read a plan back as "which instance got how many"."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from stowage.model.placement import PlacementRequest
from stowage.model.tasks import Needs
from stowage.scheduler import planner
from stowage.scheduler.plan import Plan
from stowage.scheduler.snapshot import Instance, Snapshot


def host(
    name: str,
    *,
    cpu: int = 4096,
    memory: int = 8192,
    zone: str | None = None,
    status: str = "ACTIVE",
    connected: bool = True,
    attrs: Mapping[str, str | None] | None = None,
    tcp: Sequence[int] = (22,),
    udp: Sequence[int] = (),
    groups: Mapping[str, int] | None = None,
    at: float | None = None,
    running: int = 0,
) -> Instance:
    attributes: dict[str, str | None] = {"ecs.os-type": "linux"}
    if zone is not None:
        attributes["ecs.availability-zone"] = zone
    attributes.update(attrs or {})
    return Instance(
        key=f"/ecs/ci/{name}",
        instance_id=name,
        arn=f"arn:aws:ecs:us-east-1:123456789012:container-instance/c/{name}",
        mod_revision=1,
        status=status,
        connected=connected,
        cpu=cpu,
        memory=memory,
        tcp=frozenset(tcp),
        udp=frozenset(udp),
        attributes=attributes,
        registered_at=at if at is not None else float(sum(map(ord, name))),
        ec2_instance_id=f"i-{name}",
        running=running,
        groups=dict(groups or {}),
    )


def request(
    cpu: int = 256,
    memory: int = 512,
    *,
    group: str = "family:web",
    strategy: Sequence[Mapping[str, Any]] = (),
    constraints: Sequence[Mapping[str, Any]] = (),
    tcp: Sequence[int] = (),
    udp: Sequence[int] = (),
    requires: Sequence[Mapping[str, Any]] = (),
) -> PlacementRequest:
    return PlacementRequest(
        Needs(cpu, memory, tuple(tcp), tuple(udp)),
        group,
        constraints,
        strategy,
        requires_attributes=requires,
    )


def run(snapshot: Snapshot | Sequence[Instance], req: PlacementRequest, count: int, seed: int = 7) -> Plan:
    snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)
    return planner.plan(snap, req, count, random.Random(seed))


def per_instance(plan: Plan) -> Counter[str]:
    """instance id -> copies placed there."""
    return Counter(key.rsplit("/", 1)[-1] for key in plan.placements)


def per_value(plan: Plan, snapshot: Snapshot | Sequence[Instance], attribute: str) -> Counter[str | None]:
    snap = snapshot if isinstance(snapshot, Snapshot) else Snapshot(snapshot)
    out: Counter[str | None] = Counter()
    for key in plan.placements:
        inst = snap.get(key)
        assert inst is not None
        out[inst.attributes.get(attribute)] += 1
    return out


def reasons(plan: Plan) -> dict[str, str]:
    """instance id -> failure reason."""
    return {arn.rsplit("/", 1)[-1]: reason for arn, reason in plan.failures}
