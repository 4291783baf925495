"""Feasibility: may one more copy of a request go on an instance, and if not, ECS's reason why.

Checks split in two, because a batch evaluates them differently:

- *static* checks cannot change while a plan is made (plans only add tasks and take resources):
  the launch type, ``requiresAttributes``, and ``memberOf`` expressions that do not mention
  ``task:group``. They are evaluated once per instance per snapshot (and memoised there);
- *dynamic* checks change as copies land: CPU, memory, fixed host ports, ``distinctInstance``
  and ``memberOf`` expressions on ``task:group``.

Capability attributes (``com.amazonaws.ecs.capability.*``, ``ecs.capability.*``) in
``requiresAttributes`` are matched only on instances whose agent advertises capabilities at all:
an instance registered through the bare API with no capability attribute (a hand-rolled agent,
the tests' fake agent) is treated as "capabilities unknown" rather than as capable of nothing.
Any other required attribute is always matched (name, and value when one is given).

A request's ``excluded`` instances are a static check too (first among them: the caller's
reason is reported as given).

The failure reason order, per instance: ``AGENT``, excluded, ``ATTRIBUTE``, distinctInstance, memberOf,
``RESOURCE:CPU``, ``RESOURCE:MEMORY``, ``RESOURCE:PORTS``, ``RESOURCE:PORTS_UDP``.
"""

from __future__ import annotations

from collections.abc import Iterable

from stowage.model import placement as pm
from stowage.scheduler import query
from stowage.scheduler.snapshot import Instance

CAPABILITY_PREFIXES = ("com.amazonaws.ecs.capability.", "ecs.capability.")


def mentions_group(expr: query.Expr) -> bool:
    """Whether an expression reads ``task:group`` (and so changes as copies are placed)."""
    if isinstance(expr, query.Compare):
        return expr.subject == "task:group"
    if isinstance(expr, query.Not):
        return mentions_group(expr.operand)
    return mentions_group(expr.left) or mentions_group(expr.right)


def _advertises_capabilities(inst: Instance) -> bool:
    return any(name.startswith(CAPABILITY_PREFIXES) for name in inst.attributes)


class Rules:
    """One request's checks, compiled (expressions parsed once)."""

    def __init__(self, request: pm.PlacementRequest) -> None:
        self.request = request
        needs = request.needs
        self.cpu, self.memory = needs.cpu, needs.memory
        self.tcp, self.udp = frozenset(needs.tcp), frozenset(needs.udp)
        self.group = request.group
        self.launch_type = request.launch_type
        self.distinct = False
        static: list[tuple[str, query.Expr]] = []
        self.dynamic: list[query.Expr] = []
        for c in request.constraints:
            if c.get("type") == "distinctInstance":
                self.distinct = True
            elif c.get("type") == "memberOf":
                text = str(c.get("expression", ""))
                expr = query.parse(text)  # the API checked it: QueryError here is a bug upstream
                if mentions_group(expr):
                    self.dynamic.append(expr)
                else:
                    static.append((text, expr))
        self.static_exprs = [e for _, e in static]
        self.required = sorted(
            (str(a["name"]), None if a.get("value") is None else str(a["value"]))
            for a in request.requires_attributes
        )
        self.subnets = frozenset(request.subnets)
        self.excluded = dict(request.excluded)
        self.signature = (
            self.launch_type,
            tuple(self.required),
            tuple(t for t, _ in static),
            tuple(sorted(self.subnets)),
            tuple(sorted(self.excluded.items())),
        )
        """Identifies the static filter, to memoise it on a snapshot."""
        self.filters = bool(self.required or self.static_exprs or self.subnets or self.excluded)
        """Whether the static checks are more than the launch type."""

    # -- static ------------------------------------------------------------------------------
    def static_ok(self, inst: Instance) -> bool:
        return inst.launch_type == self.launch_type and self.static_reason(inst) is None

    def static_reason(self, inst: Instance) -> str | None:
        if self.excluded:
            excluded = self.excluded.get(inst.instance_id)
            if excluded is not None:
                return excluded
        if self.required and not self._has_attributes(inst):
            return pm.ATTRIBUTE
        if self.subnets and inst.attributes.get(pm.SUBNET_ATTRIBUTE) not in (None, *self.subnets):
            return pm.LOCATION
        if self.static_exprs:
            target = inst.target()
            if not all(query.evaluate(e, target) for e in self.static_exprs):
                return pm.MEMBER_OF
        return None

    def _has_attributes(self, inst: Instance) -> bool:
        attrs = inst.attributes
        capable = None
        for name, value in self.required:
            if name.startswith(CAPABILITY_PREFIXES):
                if capable is None:
                    capable = _advertises_capabilities(inst)
                if not capable:
                    continue
            if name not in attrs or (value is not None and attrs[name] != value):
                return False
        return True

    # -- dynamic -----------------------------------------------------------------------------
    def dynamic_reason(
        self,
        inst: Instance,
        *,
        cpu: int,
        memory: int,
        tcp: Iterable[int],
        udp: Iterable[int],
        mine: int,
        placed: int,
    ) -> str | None:
        """Why one more copy does not fit, given the instance's free resources and ports now,
        ``mine`` tasks of the group on it (``placed`` of them by this plan)."""
        if self.distinct and mine > 0:
            return pm.DISTINCT_INSTANCE
        if self.dynamic:
            target = inst.target(self.group if placed else None)
            if not all(query.evaluate(e, target) for e in self.dynamic):
                return pm.MEMBER_OF
        if self.cpu > cpu:
            return pm.RESOURCE_CPU
        if self.memory > memory:
            return pm.RESOURCE_MEMORY
        if self.tcp and not self.tcp.isdisjoint(tcp):
            return pm.RESOURCE_PORTS
        if self.udp and not self.udp.isdisjoint(udp):
            return pm.RESOURCE_PORTS_UDP
        return None

    def reason(
        self, inst: Instance, *, cpu: int, memory: int, tcp: Iterable[int], udp: Iterable[int], placed: int
    ) -> str | None:
        """The full check for the failure report (None: one more copy would fit)."""
        if not inst.connected:
            return pm.AGENT
        if inst.instance_id in self.excluded:
            return self.excluded[inst.instance_id]
        if self.required and not self._has_attributes(inst):
            return pm.ATTRIBUTE
        mine = inst.groups.get(self.group, 0) + placed
        if self.distinct and mine > 0:
            return pm.DISTINCT_INSTANCE
        static = self.static_reason(inst)
        if static is not None:
            return static
        return self.dynamic_reason(inst, cpu=cpu, memory=memory, tcp=tcp, udp=udp, mine=mine, placed=placed)
