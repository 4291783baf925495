"""The planner: a snapshot, one request and a count in; a plan out. Pure (the random source is
injected), so the same inputs and seed give the same plan.

**Ranking.** Strategies apply in order, as ECS applies them: each one ranks what the previous
ones left tied. Every strategy becomes one component of a lexicographic key (smaller is better):

- ``binpack`` cpu|memory: the instance's free amount (least left first);
- ``spread`` instanceId|host: tasks of the group already on the instance;
- ``spread`` attribute:NAME: tasks of the group on all instances sharing the instance's value
  (existing tasks and the copies of this plan both count, so 6 copies over 3 empty zones land
  2/2/2);
- ``random``: a rank drawn from the injected source (drawn again for the instance that just
  took a copy, so every copy is its own draw); then registration order breaks ties.

A request's ``avoid`` instances rank after all others before any strategy applies (a leading
key component): they take copies only when nothing else fits.

Attribute spreads depend on an instance only through its value, so candidates are grouped into
*cells* (one per combination of spread values). Inside a cell the attribute components are
equal, so a heap ordered by the per-instance components gives the cell's best; the plan's best
is the best of the cell heads under the full key. One copy costs O(cells + log pool): only the
chosen instance's key changes, and it goes back into its heap only if one more copy still fits.

**Big batches: a pool, not a scan.** Scanning every host for every copy costs O(hosts x copies).
The planner instead draws a *pool* of feasible instances (at least ``MIN_POOL``, twice the
count; just the count when ``random`` ranks first, as a fresh draw makes any uniform sample as
good as a bigger one) and ranks exactly within it, refilling when it runs dry:

- the draw space is the smaller of "instances with enough free CPU" and "enough free memory"
  (a bisect in the snapshot's sorted indexes) or, with static filters, the memoised eligible
  set. As the cluster fills, the space shrinks with it: per-copy cost stays flat;
- a space of at most ``SCAN_FACTOR`` pools is scanned whole: small clusters get the exact
  answer;
- with ``binpack`` first, the pool is the tightest feasible instances, walked in order from the
  bisect: binpack is exact on its resource, and later strategies rank within the pool;
- otherwise the pool is a random sample of the space (Nomad's trade-off: ``spread``/``random``
  are exact within the sample, and the counts spread balances are the cluster's, not the
  sample's). A sample that finds too few feasible instances falls back to a scan, so a copy
  fails only when no instance in the cluster can take it.
"""

from __future__ import annotations

import bisect
import heapq
import random
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from stowage.model import container_instances as ci
from stowage.model import placement as pm
from stowage.scheduler.plan import Assignment, Plan
from stowage.scheduler.rules import Rules
from stowage.scheduler.snapshot import Instance, Snapshot, attribute_value

MIN_POOL = 32
SCAN_FACTOR = 4
WALK_CHUNK = 16

Key = tuple[float, ...]


@dataclass(slots=True)
class _Work:
    """A pool member as this plan changes it."""

    n: int
    inst: Instance
    cpu: int
    memory: int
    tcp: frozenset[int]
    udp: frozenset[int]
    mine: int
    placed: int = 0
    rank: float = 0.0
    avoided: float = 0.0
    cell: tuple[str | None, ...] = ()


@dataclass(frozen=True, slots=True)
class _Strategy:
    kind: str
    """binpack-cpu, binpack-memory, spread-instance, spread-attribute, random, avoid"""
    attribute: str = ""


def strategies(request: pm.PlacementRequest) -> list[_Strategy]:
    out: list[_Strategy] = [_Strategy("avoid")] if request.avoid else []
    for item in request.strategy or pm.RUN_TASK_DEFAULT_STRATEGY:
        kind, field = item.get("type"), str(item.get("field") or "")
        if kind == "binpack":
            out.append(_Strategy("binpack-" + field.lower()))
        elif kind == "spread" and field.lower() in pm.INSTANCE_FIELDS:
            out.append(_Strategy("spread-instance"))
        elif kind == "spread":
            out.append(_Strategy("spread-attribute", field))
        else:
            out.append(_Strategy("random"))
    return out


def plan(
    snapshot: Snapshot,
    request: pm.PlacementRequest,
    count: int,
    rng: random.Random,
    skip: AbstractSet[str] = frozenset(),
) -> Plan:
    """Place up to ``count`` copies of ``request`` on ``snapshot``; instances whose key is in
    ``skip`` are left out as if they were full."""
    return _Planner(snapshot, request, rng, skip).run(count)


class _Source:
    """Where pool candidates come from (see the module docstring)."""

    def __init__(self, planner: _Planner, want: int) -> None:
        snap, rules = planner.snap, planner.rules
        self.rng = planner.rng
        cpu_at = bisect.bisect_left(snap.by_cpu, (rules.cpu, -1))
        mem_at = bisect.bisect_left(snap.by_memory, (rules.memory, -1))
        spaces: list[tuple[int, list[tuple[int, int]] | None, int, int]] = [
            (len(snap.by_cpu) - cpu_at, snap.by_cpu, cpu_at, 0),
            (len(snap.by_memory) - mem_at, snap.by_memory, mem_at, 1),
        ]
        self.eligible: list[int] | None = None
        if rules.filters:
            self.eligible = list(snap.eligible(rules.signature, rules.static_ok))
            spaces.append((len(self.eligible), None, 0, 2))
        size, entries, start, _ = min(spaces, key=lambda s: (s[0], s[3]))
        self.entries, self.start, self.size = entries, start, size
        self.done = False
        self.budget = 0
        self.mode = "probe"
        self.walk: list[tuple[int, int]] | None = None
        self.cursor = 0
        first = next(s for s in planner.order if s.kind != "avoid")
        if size <= SCAN_FACTOR * want:
            self.mode = "scan"
        elif first.kind in ("binpack-cpu", "binpack-memory"):
            self.mode = "walk"
            self.walk = snap.by_cpu if first.kind == "binpack-cpu" else snap.by_memory
            self.cursor = cpu_at if first.kind == "binpack-cpu" else mem_at

    def _at(self, i: int) -> int:
        if self.entries is None:
            assert self.eligible is not None
            return self.eligible[i]
        return self.entries[self.start + i][1]

    def grant(self, want: int) -> None:
        self.budget += SCAN_FACTOR * want

    def chunk(self, want: int) -> list[int]:
        if self.done:
            return []
        if self.mode == "scan":
            self.done = True
            return [self._at(i) for i in range(self.size)]
        if self.mode == "walk":
            assert self.walk is not None
            end = min(len(self.walk), self.cursor + max(want, WALK_CHUNK))
            out = [n for _, n in self.walk[self.cursor : end]]
            self.cursor = end
            self.done = end >= len(self.walk)
            return out
        if self.budget <= 0:
            self.mode = "scan"  # the sample came up short: be exact instead
            return self.chunk(want)
        draws = min(self.budget, 2 * want)
        self.budget -= draws
        randrange = self.rng.randrange
        return [self._at(randrange(self.size)) for _ in range(draws)]


class _Planner:
    def __init__(
        self,
        snap: Snapshot,
        request: pm.PlacementRequest,
        rng: random.Random,
        skip: AbstractSet[str] = frozenset(),
    ) -> None:
        self.snap = snap
        self.skip = skip
        self.request = request
        self.rng = rng
        self.rules = Rules(request)
        self.order = strategies(request)
        self.cell_attrs = [s.attribute for s in self.order if s.kind == "spread-attribute"]
        self.counts: list[dict[str | None, int]] = [
            dict(snap.value_counts(request.group, a)) for a in self.cell_attrs
        ]
        self.layout: list[tuple[bool, int]] = []
        ci_, ii = 0, 0
        inst_parts: list[Callable[[_Work], float]] = []
        for s in self.order:
            if s.kind == "spread-attribute":
                self.layout.append((True, ci_))
                ci_ += 1
                continue
            self.layout.append((False, ii))
            ii += 1
            inst_parts.append(_PARTS[s.kind])
        self.inst_parts = inst_parts
        self.rerank = any(s.kind == "random" for s in self.order)
        self.cells: dict[tuple[str | None, ...], list[tuple[Key, int]]] = {}
        self.work: dict[int, _Work] = {}
        self.seen: set[int] = set()

    # -- pool --------------------------------------------------------------------------------
    def _ikey(self, w: _Work) -> Key:
        return (*(part(w) for part in self.inst_parts), w.n)

    def _push(self, w: _Work) -> None:
        heap = self.cells.get(w.cell)
        if heap is None:
            heap = self.cells[w.cell] = []
        heapq.heappush(heap, (self._ikey(w), w.n))

    def _fits(self, w: _Work) -> bool:
        return (
            self.rules.dynamic_reason(
                w.inst, cpu=w.cpu, memory=w.memory, tcp=w.tcp, udp=w.udp, mine=w.mine, placed=w.placed
            )
            is None
        )

    def _admit(self, n: int) -> bool:
        inst = self.snap.instances[n]
        rules = self.rules
        if not inst.schedulable or inst.launch_type != rules.launch_type:
            return False
        if self.skip and inst.key in self.skip:
            return False
        if inst.cpu < rules.cpu or inst.memory < rules.memory:
            return False  # the cheap check first: most rejections in a full cluster
        if rules.filters and rules.static_reason(inst) is not None:
            return False
        w = _Work(
            n=n,
            inst=inst,
            cpu=inst.cpu,
            memory=inst.memory,
            tcp=inst.tcp,
            udp=inst.udp,
            mine=inst.groups.get(rules.group, 0),
            cell=tuple(attribute_value(inst, a) for a in self.cell_attrs),
        )
        if not self._fits(w):
            return False
        w.rank = self.rng.random()
        if inst.instance_id in self.request.avoid:
            w.avoided = 1.0
        self.work[n] = w
        self._push(w)
        return True

    def _fill(self, source: _Source, want: int) -> int:
        admitted = 0
        source.grant(want)
        while admitted < want and not source.done:
            for n in source.chunk(want - admitted):
                if n in self.seen:
                    continue
                self.seen.add(n)
                if self._admit(n):
                    admitted += 1
        return admitted

    # -- choosing ----------------------------------------------------------------------------
    def _full(self, cell: tuple[str | None, ...], ikey: Key) -> Key:
        counts = self.counts
        return tuple(counts[j].get(cell[j], 0) if is_cell else ikey[j] for is_cell, j in self.layout)

    def _best(self) -> tuple[list[tuple[Key, int]], int] | None:
        best: tuple[list[tuple[Key, int]], int] | None = None
        best_key: Key | None = None
        for cell, heap in self.cells.items():
            if not heap:
                continue
            ikey, n = heap[0]
            full = (*self._full(cell, ikey), n) if self.cell_attrs else ikey
            if best_key is None or full < best_key:
                best, best_key = (heap, n), full
        return best

    def run(self, count: int) -> Plan:
        if count <= 0:
            return Plan(self.request)
        # A random first strategy ranks by a fresh draw, so any uniform sample of feasible
        # instances is as good as a bigger one: the pool is just the copies' count.
        first = self.order[0].kind
        want = count if first == "random" else max(MIN_POOL, 2 * count)
        source = _Source(self, want)
        self._fill(source, want)
        placements: list[str] = []
        copies: dict[int, int] = {}
        while len(placements) < count:
            chosen = self._best()
            if chosen is None:
                if source.done or self._fill(source, want) == 0:
                    break
                continue
            heap, n = chosen
            heapq.heappop(heap)
            w = self.work[n]
            self._take(w)
            copies[n] = copies.get(n, 0) + 1
            placements.append(w.inst.key)
            if self._fits(w):
                self._push(w)
        return self._plan(placements, copies, count)

    def _take(self, w: _Work) -> None:
        rules = self.rules
        w.cpu -= rules.cpu
        w.memory -= rules.memory
        if rules.tcp:
            w.tcp = w.tcp | rules.tcp
        if rules.udp:
            w.udp = w.udp | rules.udp
        w.mine += 1
        w.placed += 1
        if self.rerank:
            w.rank = self.rng.random()  # each copy is its own random draw
        for j, value in enumerate(w.cell):
            self.counts[j][value] = self.counts[j].get(value, 0) + 1

    def _plan(self, placements: list[str], copies: dict[int, int], count: int) -> Plan:
        rules = self.rules
        assignments = {}
        for n, k in copies.items():
            inst = self.snap.instances[n]
            assignments[inst.key] = Assignment(
                instance=inst,
                copies=k,
                cpu=rules.cpu * k,
                memory=rules.memory * k,
                tcp=tuple(sorted(rules.tcp)),
                udp=tuple(sorted(rules.udp)),
                group=rules.group,
            )
        unplaced = count - len(placements)
        failures = self._failures() if unplaced else ()
        return Plan(self.request, tuple(placements), assignments, failures, unplaced)

    def _failures(self) -> tuple[tuple[str, str], ...]:
        """Why each instance cannot take one more copy (one full pass: only when copies stay
        unplaced). Instances that are not ACTIVE, or of another launch type, are not candidates
        at all and are not listed (ECS lists only instances it considered)."""
        out: list[tuple[str, str]] = []
        for n, inst in enumerate(self.snap.instances):
            if inst.status != ci.ACTIVE or inst.launch_type != self.rules.launch_type:
                continue
            w = self.work.get(n)
            reason = self.rules.reason(
                inst,
                cpu=w.cpu if w else inst.cpu,
                memory=w.memory if w else inst.memory,
                tcp=w.tcp if w else inst.tcp,
                udp=w.udp if w else inst.udp,
                placed=w.placed if w else 0,
            )
            if reason is not None:
                out.append((inst.arn, reason))
        return tuple(out)


_PARTS: dict[str, Callable[[_Work], float]] = {
    "binpack-cpu": lambda w: w.cpu,
    "binpack-memory": lambda w: w.memory,
    "spread-instance": lambda w: w.mine,
    "random": lambda w: w.rank,
    "avoid": lambda w: w.avoided,
}
