"""An immutable view of one cluster's container instances, as the scheduler sees them.

``Instance`` is one container instance at one record revision: free CPU and memory, host ports
in use, status, agent connection, attributes (custom ones merged in), identity, and the tasks
it holds (running count, tasks per group, families). ``Snapshot`` orders instances by
registration (``registeredAt``, then id: the final tie-break of every ranking) and keeps the
indexes the planner needs to avoid a full scan per placement:

- ``by_cpu`` / ``by_memory``: the schedulable (ACTIVE, agent connected) instances sorted by free
  CPU / free memory, so "every instance with at least N free" is a bisect away;
- memoised per-request facts that plans never change (which instances pass a set of static
  filters, the instances per attribute value) and per-group task counts per attribute value
  (updated incrementally by ``with_instances``).

A snapshot never changes after construction; ``with_instances`` and ``apply`` return a new one
that shares what did not change (the memo dictionaries are caches of pure functions).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from stowage.model import container_instances as ci
from stowage.model.fargate import POOL_CLUSTER
from stowage.scheduler import query

if TYPE_CHECKING:
    from stowage.scheduler.plan import Plan

Doc = dict[str, Any]
MEMO_LIMIT = 64
"""Memo entries kept per snapshot (each is O(instances) to rebuild, O(changed) to carry on)."""


@dataclass(frozen=True, slots=True)
class Instance:
    key: str
    """The store key of the instance record."""
    instance_id: str
    arn: str
    mod_revision: int
    """The record's mod revision: the plan applier's compare-and-swap guard."""
    status: str
    connected: bool
    cpu: int
    """Free CPU units."""
    memory: int
    """Free MiB."""
    tcp: frozenset[int] = frozenset()
    """Host TCP ports in use (the registered ones included)."""
    udp: frozenset[int] = frozenset()
    attributes: Mapping[str, str | None] = field(default_factory=dict)
    registered_at: float = 0.0
    ec2_instance_id: str | None = None
    running: int = 0
    """``runningTasksCount``."""
    groups: Mapping[str, int] = field(default_factory=dict)
    """Tasks not yet STOPPED, per task group."""
    families: frozenset[str] = frozenset()
    launch_type: str = "EC2"
    """EC2, or EXTERNAL for ECS Anywhere hosts (``mi-`` managed instance ids)."""

    @property
    def schedulable(self) -> bool:
        return self.status == ci.ACTIVE and self.connected

    def target(self, extra_group: str | None = None) -> query.QueryTarget:
        groups = frozenset(g for g, n in self.groups.items() if n > 0)
        if extra_group is not None:
            groups |= {extra_group}
        return query.QueryTarget(
            attributes=self.attributes,
            ec2_instance_id=self.ec2_instance_id,
            registered_at=self.registered_at,
            running_tasks_count=self.running,
            task_groups=groups,
        )


def _ports(values: Iterable[str]) -> frozenset[int]:
    return frozenset(int(v) for v in values if str(v).isdigit())


def instance_from_record(
    key: str,
    doc: Mapping[str, Any],
    mod_revision: int,
    *,
    custom_attributes: Mapping[str, str | None] | None = None,
    running: int = 0,
    groups: Mapping[str, int] | None = None,
    families: Iterable[str] = (),
) -> Instance:
    """An ``Instance`` from a container instance record (see ``model.container_instances``)."""
    remaining = doc.get("remainingResources", [])
    attrs: dict[str, str | None] = {a["name"]: a.get("value") for a in doc.get("attributes", [])}
    if custom_attributes:
        attrs.update(custom_attributes)
    ec2 = doc.get("ec2InstanceId")
    return Instance(
        key=key,
        instance_id=key.rsplit("/", 1)[-1],
        arn=str(doc.get("containerInstanceArn", "")),
        mod_revision=mod_revision,
        status=str(doc.get("status", "")),
        connected=bool(doc.get("agentConnected")),
        cpu=ci.resource_int(remaining, ci.CPU),
        memory=ci.resource_int(remaining, ci.MEMORY),
        tcp=_ports(ci.resource_set(remaining, ci.PORTS)),
        udp=_ports(ci.resource_set(remaining, ci.PORTS_UDP)),
        attributes=attrs,
        registered_at=float(doc.get("registeredAt") or 0.0),
        ec2_instance_id=ec2,
        running=running,
        groups=dict(groups or {}),
        families=frozenset(families),
        launch_type=_launch_type(key, ec2),
    )


def _launch_type(key: str, ec2: object) -> str:
    """FARGATE for the pool's hosts, EXTERNAL for ECS Anywhere (``mi-`` ids), else EC2."""
    if f"/{POOL_CLUSTER}/" in key:
        return "FARGATE"
    return "EXTERNAL" if str(ec2 or "").startswith("mi-") else "EC2"


def attribute_value(inst: Instance, attribute: str) -> str | None:
    """The value of a spread field ``attribute:NAME`` on an instance (None when absent)."""
    return inst.attributes.get(attribute[len("attribute:") :]) if attribute.startswith("attribute:") else None


@dataclass
class _Eligible:
    """Instances (positions) passing one static filter, and the filter, to carry it forward."""

    keep: Callable[[Instance], bool]
    members: list[int]


class Snapshot:
    __slots__ = ("_by_attr", "_eligible", "_pos", "_value_counts", "by_cpu", "by_memory", "instances")

    def __init__(self, instances: Iterable[Instance]) -> None:
        ordered = sorted(instances, key=lambda i: (i.registered_at, i.instance_id))
        self.instances: tuple[Instance, ...] = tuple(ordered)
        self._pos: dict[str, int] = {inst.key: n for n, inst in enumerate(ordered)}
        self.by_cpu: list[tuple[int, int]] = sorted(
            (inst.cpu, n) for n, inst in enumerate(ordered) if inst.schedulable
        )
        self.by_memory: list[tuple[int, int]] = sorted(
            (inst.memory, n) for n, inst in enumerate(ordered) if inst.schedulable
        )
        self._value_counts: dict[tuple[str, str], dict[str | None, int]] = {}
        self._eligible: dict[Any, _Eligible] = {}
        self._by_attr: dict[str, dict[str | None, int]] = {}

    def __len__(self) -> int:
        return len(self.instances)

    def position(self, key: str) -> int | None:
        return self._pos.get(key)

    def get(self, key: str) -> Instance | None:
        n = self._pos.get(key)
        return None if n is None else self.instances[n]

    # -- memoised facts ----------------------------------------------------------------------
    def value_counts(self, group: str, attribute: str) -> Mapping[str | None, int]:
        """Tasks of ``group`` per value of ``attribute`` (spread's counts), over all instances."""
        memo = self._value_counts.get((group, attribute))
        if memo is None:
            memo = {}
            for inst in self.instances:
                n = inst.groups.get(group, 0)
                if n:
                    value = attribute_value(inst, attribute)
                    memo[value] = memo.get(value, 0) + n
            self._remember(self._value_counts, (group, attribute), memo)
        return memo

    def attribute_values(self, attribute: str) -> Mapping[str | None, int]:
        """How many schedulable instances carry each value of ``attribute``."""
        memo = self._by_attr.get(attribute)
        if memo is None:
            memo = {}
            for inst in self.instances:
                if inst.schedulable:
                    value = attribute_value(inst, attribute)
                    memo[value] = memo.get(value, 0) + 1
            self._remember(self._by_attr, attribute, memo)
        return memo

    def eligible(self, signature: Any, keep: Callable[[Instance], bool]) -> Sequence[int]:
        """Positions of the schedulable instances for which ``keep`` (a static filter that
        ``signature`` identifies) holds, in registration order. Memoised across plans."""
        memo = self._eligible.get(signature)
        if memo is None:
            members = [n for n, inst in enumerate(self.instances) if inst.schedulable and keep(inst)]
            memo = _Eligible(keep, members)
            self._remember(self._eligible, signature, memo)
        return memo.members

    @staticmethod
    def _remember(memo: dict[Any, Any], key: Any, value: Any) -> None:
        if len(memo) >= MEMO_LIMIT:
            memo.pop(next(iter(memo)))
        memo[key] = value

    # -- new snapshots -----------------------------------------------------------------------
    def with_instances(self, changed: Iterable[Instance], removed: Iterable[str] = ()) -> Snapshot:
        """A snapshot where ``changed`` replace (or join) and ``removed`` keys leave. Replacing
        instances costs O(changed x log n) plus copying the index lists; joins and removals
        rebuild."""
        changed = list(changed)
        gone = set(removed) & self._pos.keys()
        stable = not gone and all(
            (n := self._pos.get(c.key)) is not None
            and self.instances[n].registered_at == c.registered_at
            and self.instances[n].instance_id == c.instance_id
            for c in changed
        )
        if not stable:
            keep = {i.key: i for i in self.instances if i.key not in gone}
            keep.update((c.key, c) for c in changed)
            return Snapshot(keep.values())
        new = Snapshot.__new__(Snapshot)
        instances = list(self.instances)
        by_cpu, by_memory = list(self.by_cpu), list(self.by_memory)
        value_counts = {k: dict(v) for k, v in self._value_counts.items()}
        by_attr = {k: dict(v) for k, v in self._by_attr.items()}
        eligible = {k: _Eligible(e.keep, e.members) for k, e in self._eligible.items()}
        copied: set[Any] = set()
        for c in changed:
            n = self._pos[c.key]
            old = instances[n]
            if old.schedulable:
                _drop(by_cpu, (old.cpu, n))
                _drop(by_memory, (old.memory, n))
            if c.schedulable:
                bisect.insort(by_cpu, (c.cpu, n))
                bisect.insort(by_memory, (c.memory, n))
            for (group, attribute), counts in value_counts.items():
                _bump(counts, attribute_value(old, attribute), -old.groups.get(group, 0))
                _bump(counts, attribute_value(c, attribute), c.groups.get(group, 0))
            for attribute, counts in by_attr.items():
                _bump(counts, attribute_value(old, attribute), -int(old.schedulable))
                _bump(counts, attribute_value(c, attribute), int(c.schedulable))
            for signature, memo in eligible.items():
                was = old.schedulable and memo.keep(old)
                now = c.schedulable and memo.keep(c)
                if was != now:
                    if signature not in copied:
                        memo.members = list(memo.members)
                        copied.add(signature)
                    if now:
                        bisect.insort(memo.members, n)
                    else:
                        memo.members.remove(n)
            instances[n] = c
        new.instances = tuple(instances)
        new._pos = self._pos  # same keys, same order: shared, never mutated
        new.by_cpu, new.by_memory = by_cpu, by_memory
        new._value_counts, new._by_attr, new._eligible = value_counts, by_attr, eligible
        return new

    def apply(self, plan: Plan) -> Snapshot:
        """The snapshot after ``plan`` is committed (what a pure pipeline or a benchmark uses;
        the store-backed applier reads the committed records instead)."""
        changed = []
        group = plan.request.group
        for a in plan.assignments.values():
            inst = self.instances[self._pos[a.instance.key]]
            groups = dict(inst.groups)
            groups[group] = groups.get(group, 0) + a.copies
            changed.append(
                replace(
                    inst,
                    cpu=inst.cpu - a.cpu,
                    memory=inst.memory - a.memory,
                    tcp=inst.tcp | frozenset(a.tcp),
                    udp=inst.udp | frozenset(a.udp),
                    groups=groups,
                    families=inst.families | {plan.request.family} if plan.request.family else inst.families,
                )
            )
        return self.with_instances(changed)


def _drop(entries: list[tuple[int, int]], entry: tuple[int, int]) -> None:
    at = bisect.bisect_left(entries, entry)
    if at < len(entries) and entries[at] == entry:
        del entries[at]


def _bump(counts: dict[str | None, int], value: str | None, delta: int) -> None:
    if delta:
        left = counts.get(value, 0) + delta
        if left:
            counts[value] = left
        else:
            counts.pop(value, None)
