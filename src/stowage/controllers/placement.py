"""Placing tasks on the store: the cluster snapshot, the scheduler's plan, and the plan applier.

``TaskPlacement.snapshot`` builds the scheduler's view of a cluster from the in-memory index
(instance records, their tasks) and the cluster's custom attributes (read from the store again
only when the index saw one of them change), reusing the ``Instance`` of every instance that
did not change since the last call, and the last snapshot itself (with its memoised indexes)
when nothing changed.

``TaskPlacement.place`` asks the pure scheduler for a plan and commits it with
compare-and-swap transactions: the instance record at the plan's mod revision, the cluster
record at its mod revision, every new task key absent; the writes reserve the copies' resources
on the instance and create their task records, all or nothing. A RunTask-sized plan is one
transaction over all its instances (one commit to wait for); a bigger one is one transaction per
instance, so what did not conflict stays placed. An instance that lost its compare is re-read
from the store (and the index waited for, so its task groups are current too) and only the
copies planned there are planned again against the fresh state.
Whatever the concurrency, no instance is committed beyond what its record says is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.inline_gather import gather_inline
from stowage.model import container_instances as ci
from stowage.model import placement as pm
from stowage.resources import ecs_keys
from stowage.resources.container_instances import InstanceRecords
from stowage.resources.records import Doc, Record, Records
from stowage.scheduler import planner
from stowage.scheduler.plan import Assignment, Plan
from stowage.scheduler.snapshot import Instance, Snapshot, instance_from_record
from stowage.store.base import Compare

MAX_ATTEMPTS = 64
MAX_TASKS_PER_TXN = 32
"""etcd caps a transaction's operations (128 by default): larger assignments commit in chunks."""
MAX_OPS_PER_TXN = 64
"""A plan this small (tasks + instances) commits as one transaction (RunTask's count is <= 10)."""
BACKOFF_AFTER = 4
"""Attempts after which a lost race waits a random few milliseconds before planning again."""
CATCH_UP = 2.0
"""Seconds to wait for the index to show a record re-read after a lost compare."""

Build = Callable[[Instance], tuple[str, Doc]]
"""Makes one new task for an instance: its store key and record (with ``_needs``)."""


class ClusterChanged(Exception):
    """The cluster stopped being ACTIVE during placement."""


class Contention(Exception):
    """Placement kept losing its compare-and-swap to concurrent writers (the API answers
    ThrottlingException, which SDKs retry); the copies placed so far stay placed."""

    def __init__(self, placed: list[Record]) -> None:
        super().__init__(f"placement lost {MAX_ATTEMPTS} compare-and-swaps in a row")
        self.placed = placed


@dataclass(frozen=True, slots=True)
class Outcome:
    tasks: list[Record]
    """The created task records, in placement order."""
    failures: list[tuple[str, str]]
    """``(instance ARN, reason)`` when copies stayed unplaced."""
    cluster: Record
    """The cluster record as last read."""


@dataclass(frozen=True, slots=True)
class _Seen:
    instance_rev: int
    slot_rev: int
    custom: tuple[tuple[str, str | None], ...]
    inst: Instance
    attributes: object = None
    """The record's ``attributes`` the instance was built from."""


class TaskPlacement:
    def __init__(self, records: Records, index: EcsIndex, rng: random.Random | None = None) -> None:
        self.records = records
        self.index = index
        self.rng = rng or random.Random()
        self.instances = InstanceRecords(records)
        self._seen: dict[str, _Seen] = {}
        self._last: dict[tuple[str, str, str], Snapshot] = {}
        # cluster -> (index change mark, custom attributes) as of its last snapshot
        self._marks: dict[tuple[str, str, str], tuple[tuple[int, int], dict[str, list[Doc]]]] = {}
        self._custom: dict[tuple[str, str, str], tuple[tuple[int, int], dict[str, list[Doc]]]] = {}
        """cluster -> (the index's attributes mark, custom attributes) as last read"""
        self._writing: dict[str, int] = {}
        """instance key -> placements committing to it right now"""
        self._written: dict[str, int] = {}
        """instance key -> revision a placement wrote it at, until the index shows it"""

    # -- snapshot ----------------------------------------------------------------------------
    async def snapshot(
        self, account: str, region: str, cluster: str, only: Sequence[str] | None = None
    ) -> Snapshot:
        """The cluster's instances (``only``: these instance ids, read from the store, for
        StartTask) as the scheduler sees them."""
        ref = (account, region, cluster)
        custom = await self._custom_attributes(ref)
        if only is not None:
            recs = [await self.instances.get(account, region, cluster, i) for i in only]
            return Snapshot(self._instance(r, custom) for r in recs if r is not None)
        mark = self.index.change_mark()
        seen = self._marks.get(ref)
        if seen is not None and seen[1] == custom:
            keys = self.index.changed_since(ref, seen[0])
            if keys is not None:
                # Only the instances whose record or tasks changed since the last snapshot.
                snap = self._last[ref]
                changed, removed = [], []
                for key in keys:
                    rec = self.index.instance(key)
                    if rec is None:
                        removed.append(key)
                    else:
                        changed.append(self._instance(rec, custom))
                if changed or removed:
                    snap = snap.with_instances(changed, removed)
                    self._last[ref] = snap
                self._marks[ref] = (mark, custom)
                return snap
        found = [
            rec
            for key in self.index.instance_keys(account, region, cluster)
            if (rec := self.index.instance(key))
        ]
        insts = [self._instance(rec, custom) for rec in found]
        self._marks[ref] = (mark, custom)
        last = self._last.get(ref)
        if last is not None and len(last) == len(insts):
            changed = [i for i in insts if last.get(i.key) is not i]
            if not changed:
                return last
            if all(last.get(i.key) is not None for i in changed):
                snap = last.with_instances(changed)
                self._last[ref] = snap
                return snap
        snap = Snapshot(insts)
        self._last[ref] = snap
        return snap

    async def _custom_attributes(self, ref: tuple[str, str, str]) -> dict[str, list[Doc]]:
        """The cluster's custom attributes (instance id -> records), read again only when the
        index saw one of them change (PutAttributes waits for the index before it answers)."""
        mark = self.index.attributes_mark(ref)
        kept = self._custom.get(ref)
        if kept is not None and kept[0] == mark:
            return kept[1]
        custom = await self.instances.custom_attributes(*ref)
        self._custom[ref] = (mark, custom)
        return custom

    def _instance(self, rec: Record, custom: Mapping[str, list[Doc]]) -> Instance:
        instance_id = rec.key.rsplit("/", 1)[-1]
        slot = self.index.slot(rec.key)
        slot_rev = slot.revision if slot is not None else 0
        attrs = tuple((a["name"], a.get("value")) for a in custom.get(instance_id, []))
        seen = self._seen.get(rec.key)
        if (
            seen is not None
            and seen.instance_rev == rec.mod_revision
            and seen.slot_rev == slot_rev
            and seen.custom == attrs
        ):
            return seen.inst
        groups: dict[str, int] = {}
        families: set[str] = set()
        running = 0
        if slot is not None:
            # kept by the index as tasks change: no walk over the instance's tasks here
            running = slot.running
            groups = {g: n for g, n in slot.groups.items() if n > 0}
            families = {f for f, n in slot.families.items() if n > 0}
        doc: Mapping[str, object] = rec.doc
        merged: Mapping[str, str | None] = dict(attrs)
        source = rec.doc.get("attributes")
        if seen is not None and seen.custom == attrs and seen.attributes == source:
            # Reservations and task reports rewrite the record, rarely its attributes (dozens
            # of them): reuse the ones already parsed rather than rebuild them per change.
            doc = {**rec.doc, "attributes": ()}
            merged = seen.inst.attributes
        inst = instance_from_record(
            rec.key,
            doc,
            rec.mod_revision,
            custom_attributes=merged,
            running=running,
            groups=groups,
            families=families,
        )
        self._seen[rec.key] = _Seen(rec.mod_revision, slot_rev, attrs, inst, source)
        return inst

    # -- plan and apply ----------------------------------------------------------------------
    async def place(
        self,
        *,
        cluster: Record,
        snapshot: Snapshot,
        request: pm.PlacementRequest,
        count: int,
        build: Build,
    ) -> Outcome:
        """Place ``count`` copies of ``request``: plan on ``snapshot``, commit, re-plan what
        lost a race. ``build(instance)`` makes one task record for an instance."""
        placed: list[Record] = []
        failures: list[tuple[str, str]] = []
        remaining = count
        snap = snapshot
        for attempt in range(MAX_ATTEMPTS):
            if attempt >= BACKOFF_AFTER:
                # Racing the same writers again at once mostly loses again: step aside a little.
                await asyncio.sleep(self.rng.uniform(0, 0.001 * attempt))
            plan = self._plan(snap, request, remaining)
            failures = list(plan.failures)
            lost: list[str] = []
            committed: list[Instance] = []
            keys = list(dict.fromkeys(plan.placements))
            # A small plan is one transaction. A big one is one transaction per instance, all in
            # flight at once: the store's writer commits them together (one group commit)
            # instead of one fsync after another; a single one is awaited without a task.
            together = len(keys) > 1 and len(plan.placements) + len(keys) < MAX_OPS_PER_TXN
            results = None
            if together:
                results = await self._commit_together([plan.assignments[k] for k in keys], cluster, build)
            if results is None:
                results = await gather_inline(
                    self._commit(plan.assignments[key], cluster, build) for key in keys
                )
            for key, (made, after, whole) in zip(keys, results, strict=True):
                placed.extend(made)
                remaining -= len(made)
                if after is not None:
                    committed.append(after)
                if not whole:
                    lost.append(key)
            if not lost or remaining == 0:
                break
            snap = snap.with_instances(committed) if committed else snap
            cluster, snap = await self._refresh(cluster, snap, lost)
        else:
            raise Contention(placed)
        return Outcome(placed, failures if remaining else [], cluster)

    def _plan(self, snap: Snapshot, request: pm.PlacementRequest, count: int) -> Plan:
        """Plan, steering a random placement clear of instances another placement is writing.

        Concurrent RunTasks plan on snapshots that cannot show each other's in-flight commits;
        with the random strategy two of them often picked the same instance and one lost its
        compare-and-swap (a store re-read and a re-plan). Random has no preferred instance, so
        it plans first as if the busy instances were full, and on the whole snapshot only when
        that leaves copies unplaced. Other strategies do rank instances: they plan as they are."""
        busy = self._busy_keys() if all(s.get("type") == "random" for s in request.strategy) else set()
        if busy:
            plan = planner.plan(snap, request, count, self.rng, skip=busy)
            if not plan.unplaced:
                return plan
        return planner.plan(snap, request, count, self.rng)

    def _busy_keys(self) -> set[str]:
        """Instances with a commit in flight, or committed but not yet shown by the index."""
        keys = {k for k, n in self._writing.items() if n > 0}
        for key, rev in list(self._written.items()):
            rec = self.index.instance(key)
            if rec is not None and rec.mod_revision >= rev:
                del self._written[key]
            else:
                keys.add(key)
        return keys

    @contextlib.contextmanager
    def _committing(self, keys: Sequence[str]) -> Iterator[None]:
        """``keys`` have a commit in flight while the block runs (see ``_busy_keys``)."""
        for key in keys:
            self._writing[key] = self._writing.get(key, 0) + 1
        try:
            yield
        finally:
            for key in keys:
                if self._writing[key] <= 1:
                    del self._writing[key]
                else:
                    self._writing[key] -= 1

    async def _commit(
        self, a: Assignment, cluster: Record, build: Build
    ) -> tuple[list[Record], Instance | None, bool]:
        key = a.instance.key
        with self._committing([key]):
            made, after, whole = await self._commit_on(a, cluster, build)
        if after is not None:
            self._written[key] = after.mod_revision
        return made, after, whole

    async def _commit_together(
        self, assignments: list[Assignment], cluster: Record, build: Build
    ) -> list[tuple[list[Record], Instance | None, bool]] | None:
        """All of a small plan in one transaction: every instance at the plan's revision, the
        cluster at its own. One commit (and one wait for it) rather than one per instance;
        all or nothing, so a lost compare re-plans every copy (rare: see ``_plan``). None when
        an instance already moved on since the snapshot: the per-instance path then keeps
        what it can."""
        docs: list[Doc] = []
        for a in assignments:
            inst = a.instance
            current = self.index.instance(inst.key)
            if current is None or current.mod_revision != inst.mod_revision:
                return None
            docs.append(current.doc)
        compares = [Compare.mod_revision(cluster.key, cluster.mod_revision)]
        writes: list[tuple[str, Doc]] = []
        tasks_of: list[list[tuple[str, Doc]]] = []
        for a, doc in zip(assignments, docs, strict=True):
            tasks = [build(a.instance) for _ in range(a.copies)]
            tasks_of.append(tasks)
            compares.append(Compare.mod_revision(a.instance.key, a.instance.mod_revision))
            compares.extend(Compare.absent(k) for k, _ in tasks)
            writes.append((a.instance.key, _reserved(doc, a, a.copies)))
            writes.extend(tasks)
        with self._committing([a.instance.key for a in assignments]):
            result = await self.records.commit(compares, writes, hand_over=True)
        if not result.succeeded:
            return [([], None, False) for _ in assignments]
        rev = result.revision
        out: list[tuple[list[Record], Instance | None, bool]] = []
        for a, tasks in zip(assignments, tasks_of, strict=True):
            self._written[a.instance.key] = rev
            made = [Record(k, d, rev) for k, d in tasks]
            out.append((made, instance_after(a.instance, a, rev, a.copies), True))
        return out

    async def _commit_on(
        self, a: Assignment, cluster: Record, build: Build
    ) -> tuple[list[Record], Instance | None, bool]:
        """Reserve and create ``a``'s copies on its instance, in chunks. Returns the tasks
        made, the instance as written (None if nothing was), and whether all copies were made
        (False: the instance or the cluster changed since the plan's snapshot)."""
        inst = a.instance
        doc: Doc | None = None
        rev = inst.mod_revision
        made: list[Record] = []
        while len(made) < a.copies:
            n = min(a.copies - len(made), MAX_TASKS_PER_TXN)
            if doc is None:
                # The index holds the record the plan saw unless it moved on since: then the
                # compare would fail anyway. Only a lagging index costs a store read.
                current = self.index.instance(inst.key)
                if current is None or current.mod_revision < rev:
                    current = await self.records.get(inst.key)
                if current is None or current.mod_revision != rev:
                    break
                doc = current.doc
            new = _reserved(doc, a, n)
            tasks = [build(inst) for _ in range(n)]
            compares = [
                Compare.mod_revision(inst.key, rev),
                Compare.mod_revision(cluster.key, cluster.mod_revision),
                *(Compare.absent(k) for k, _ in tasks),
            ]
            result = await self.records.commit(compares, [(inst.key, new), *tasks], hand_over=True)
            if not result.succeeded:
                break
            doc, rev = new, result.revision
            made.extend(Record(k, d, result.revision) for k, d in tasks)
        after = instance_after(inst, a, rev, len(made)) if made else None
        return made, after, len(made) == a.copies

    async def _refresh(self, cluster: Record, snap: Snapshot, lost: list[str]) -> tuple[Record, Snapshot]:
        fresh_cluster = await self.records.get(cluster.key)
        if fresh_cluster is None or fresh_cluster.doc.get("status") != "ACTIVE":
            raise ClusterChanged(cluster.key)
        changed: list[Instance] = []
        removed: list[str] = []
        for key in lost:
            fresh = await self.records.get(key)
            if fresh is None:
                removed.append(key)
                continue
            # The index shows the tasks committed with this revision once it reaches it.
            await self.index.caught_up(fresh.mod_revision, within=CATCH_UP)
            self._seen.pop(key, None)
            inst = self._instance(fresh, {})
            old = snap.get(key)
            changed.append(replace(inst, attributes=old.attributes) if old is not None else inst)
        return fresh_cluster, snap.with_instances(changed, removed)


def instance_key(account: str, region: str, cluster: str, instance_id: str) -> str:
    return ecs_keys.container_instance(account, region, cluster, instance_id)


def _reserved(doc: Doc, a: Assignment, n: int) -> Doc:
    """The instance record ``doc`` with ``n`` of ``a``'s copies reserved on it. Shallow: only
    top-level members are replaced (reserve builds a new list), so the record the index shares
    is never mutated, and big attribute lists are not copied."""
    new = dict(doc)
    new["remainingResources"] = ci.reserve(
        new["remainingResources"], a.cpu // a.copies * n, a.memory // a.copies * n, a.tcp, a.udp
    )
    new["_activeTasks"] = int(new.get("_activeTasks", 0)) + n
    new["version"] = int(new.get("version", 0)) + n
    return new


def instance_after(inst: Instance, a: Assignment, rev: int, copies: int) -> Instance:
    """The instance as this process just wrote it (the index will show it shortly)."""
    groups = dict(inst.groups)
    groups[a.group] = groups.get(a.group, 0) + copies
    return replace(
        inst,
        mod_revision=rev,
        cpu=inst.cpu - a.cpu // a.copies * copies,
        memory=inst.memory - a.memory // a.copies * copies,
        tcp=inst.tcp | frozenset(a.tcp),
        udp=inst.udp | frozenset(a.udp),
        groups=groups,
    )
