"""The in-memory index of tasks and container instances, fed by the ECS informer's one watch.

Kubernetes' informer pattern: one list + watch keeps a cache that every reader shares. Each
store event costs O(1) here, whatever the number of instances:

- per container instance, a *slot*: its record, its tasks, its running/pending counts, a
  ``revision`` (the last store revision that touched the instance or one of its tasks) and an
  ``asyncio.Event`` that PollAssignments waiters of that instance alone wait on;
- per cluster, the running/pending task counts by launch type (what DescribeClusters and
  DeleteCluster read), so no cluster record is rewritten on every task change;
- every task record, for the reaper and the per-instance views.

Events are applied idempotently by ``mod_revision`` (an event older than what is held is
ignored), so the informer may replay history after a paged re-list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from stowage.model import tasks as task_model
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record

ClusterRef = tuple[str, str, str]
"""(account, region, cluster name)"""


class IndexListener(Protocol):
    """Told of every change the index applies (the service controller keys its work on them)."""

    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None: ...

    def instance_changed(self, key: str, rec: Record | None) -> None: ...

    def reset(self) -> None: ...


@dataclass
class ClusterCounts:
    running: Counter[str] = field(default_factory=Counter)
    """launch type → tasks in RUNNING_STATES"""
    pending: Counter[str] = field(default_factory=Counter)

    @property
    def running_total(self) -> int:
        return sum(self.running.values())

    @property
    def pending_total(self) -> int:
        return sum(self.pending.values())


@dataclass
class Slot:
    """One container instance's share of the index."""

    instance: Record | None = None
    tasks: dict[str, Record] = field(default_factory=dict)
    running: int = 0
    pending: int = 0
    groups: Counter[str] = field(default_factory=Counter)
    """Tasks not yet STOPPED per task group (what spread and distinctInstance count)."""
    families: Counter[str] = field(default_factory=Counter)
    """Tasks not yet STOPPED per task definition ARN."""
    revision: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    agent_revision: int = 0
    """The last store revision that changed what the instance's agent is told (a task added or
    removed, a desired status, a task reaching STOPPED or acknowledged, the instance's status):
    its long-poll wakes on these only, not on every report the agent itself made."""
    agent_changed: asyncio.Event = field(default_factory=asyncio.Event)
    since: dict[str, int] = field(default_factory=dict)
    """task key -> the store revision it joined this slot at: an agent whose known revision is
    past it has been sent the task's spec already."""

    def touch(self, revision: int) -> None:
        self.revision = max(self.revision, revision)
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    def notify(self, revision: int) -> None:
        """Wake the instance's long-polls: something its agent is told changed."""
        self.agent_revision = max(self.agent_revision, revision)
        event, self.agent_changed = self.agent_changed, asyncio.Event()
        event.set()


class EcsIndex:
    def __init__(self) -> None:
        self._closing = False
        self._tasks: dict[str, Record] = {}
        self._unplaced: dict[str, Record] = {}
        """Fargate tasks waiting for capacity (not STOPPED, no instance yet)."""
        self._slots: dict[str, Slot] = {}
        self._cluster_instances: dict[ClusterRef, set[str]] = {}
        self._counts: dict[ClusterRef, ClusterCounts] = {}
        self.revision = 0
        """The store revision the index reflects."""
        self._progress = asyncio.Event()
        # Per cluster, its instances in the order they last changed (record or tasks), each
        # with a sequence number: placement refreshes only what changed since its last look.
        self._seq = 0
        self._epoch = 0
        self._touched: dict[ClusterRef, OrderedDict[str, int]] = {}
        self._attributes: dict[ClusterRef, int] = {}
        """Per cluster, the revision of the last custom attribute change seen."""
        self.ready = asyncio.Event()
        """Set once the first list is loaded."""
        self._listeners: list[IndexListener] = []

    def subscribe(self, listener: IndexListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: IndexListener) -> None:
        """Stop telling ``listener`` (a controller of a deleted EKS cluster's API)."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # -- feeding -----------------------------------------------------------------------------
    def reset(self, records: Iterable[Record], revision: int) -> None:
        """Replace the contents with a fresh list taken at ``revision``. Slots (and their
        waiters) survive; every slot is touched so agents re-read after a re-list."""
        slots = self._slots
        self._tasks, self._slots, self._unplaced = {}, {}, {}
        self._cluster_instances, self._counts = {}, {}
        self._epoch += 1
        self._touched = {}
        for key, slot in slots.items():
            fresh = self._slot(key)
            fresh.changed = slot.changed
            fresh.agent_changed = slot.agent_changed
        for rec in records:
            self._apply(rec.key, rec, rec.mod_revision)
        for slot in self._slots.values():
            slot.touch(revision)
            slot.notify(revision)
        self.advance(revision)
        for listener in self._listeners:
            listener.reset()
        self.ready.set()

    def apply(self, key: str, rec: Record | None, revision: int) -> None:
        """One change: ``rec`` is the new record, None for a deletion at ``revision``."""
        self._apply(key, rec, revision)

    def advance(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
            event, self._progress = self._progress, asyncio.Event()
            event.set()

    async def caught_up(self, revision: int, within: float = 5.0) -> bool:
        """Wait until the index reflects ``revision`` (a write this process made); False on
        timeout (the caller answers from what it has)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.revision < revision:
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)
        return True

    def _slot(self, instance_key: str) -> Slot:
        slot = self._slots.get(instance_key)
        if slot is None:
            slot = self._slots[instance_key] = Slot()
        return slot

    def _apply(self, key: str, rec: Record | None, revision: int) -> None:
        parsed = ecs_keys.parse(key)
        if parsed is None:
            return
        account, region, family, cluster, _id = parsed
        ref = (account, region, cluster)
        if family == ecs_keys.TASK_FAMILY:
            self._apply_task(key, ref, rec, revision)
            return
        slot = self._slot(key)
        old = slot.instance
        if rec is not None and old is not None and old.mod_revision >= rec.mod_revision:
            return
        slot.instance = rec
        if old is None or rec is None or old.doc.get("status") != rec.doc.get("status"):
            slot.notify(revision)
        members = self._cluster_instances.setdefault(ref, set())
        if rec is None:
            members.discard(key)
        else:
            members.add(key)
        slot.touch(revision)
        self._mark(ref, key)
        for listener in self._listeners:
            listener.instance_changed(key, rec)

    def _apply_task(self, key: str, ref: ClusterRef, rec: Record | None, revision: int) -> None:
        old = self._tasks.get(key)
        if rec is not None and old is not None and old.mod_revision >= rec.mod_revision:
            return
        if old is None and rec is None:
            return
        counts = self._counts.setdefault(ref, ClusterCounts())
        if old is not None:
            self._count(counts, old.doc, -1)
        if rec is None:
            del self._tasks[key]
        else:
            self._tasks[key] = rec
            self._count(counts, rec.doc, +1)
        old_key = None if old is None else ecs_keys.task_instance(key, old.doc)
        new_key = None if rec is None else ecs_keys.task_instance(key, rec.doc)
        if old is not None and old_key is not None:
            slot = self._slot(old_key)
            _tally(slot, old.doc, -1)
            if new_key != old_key:
                slot.tasks.pop(key, None)
                slot.since.pop(key, None)
                slot.touch(revision)
                slot.notify(revision)
                self._mark(self._ref_of(old_key), old_key)
        if rec is not None and new_key is not None:
            slot = self._slot(new_key)
            slot.tasks[key] = rec
            slot.since.setdefault(key, rec.mod_revision)
            _tally(slot, rec.doc, +1)
            slot.touch(revision)
            if old is None or old_key != new_key or _told(old.doc) != _told(rec.doc):
                slot.notify(revision)
            self._mark(self._ref_of(new_key), new_key)
        if rec is not None and new_key is None and rec.doc.get("lastStatus") != task_model.STOPPED:
            self._unplaced[key] = rec
        else:
            self._unplaced.pop(key, None)
        for listener in self._listeners:
            listener.task_changed(key, old, rec)

    @staticmethod
    def _ref_of(instance_key: str) -> ClusterRef:
        parts = instance_key.split("/")
        return parts[2], parts[3], parts[5]

    def _mark(self, ref: ClusterRef, instance_key: str) -> None:
        self._seq += 1
        touched = self._touched.setdefault(ref, OrderedDict())
        touched[instance_key] = self._seq
        touched.move_to_end(instance_key)

    @staticmethod
    def _count(counts: ClusterCounts, doc: Doc, delta: int) -> None:
        kind = task_model.count_class(doc)
        launch = str(doc.get("launchType", "EC2"))
        if kind == "running":
            counts.running[launch] += delta
        elif kind == "pending":
            counts.pending[launch] += delta

    # -- reading -----------------------------------------------------------------------------
    def cluster_counts(self, account: str, region: str, cluster: str) -> ClusterCounts:
        return self._counts.get((account, region, cluster)) or ClusterCounts()

    def instance_keys(self, account: str, region: str, cluster: str) -> list[str]:
        return sorted(self._cluster_instances.get((account, region, cluster), ()))

    def attributes_changed(self, ref: ClusterRef, revision: int) -> None:
        """A custom attribute of the cluster was written or deleted at ``revision``."""
        self._attributes[ref] = revision

    def attributes_mark(self, ref: ClusterRef) -> tuple[int, int]:
        """Changes whenever the cluster's custom attributes may have (a re-list included)."""
        return self._epoch, self._attributes.get(ref, 0)

    def change_mark(self) -> tuple[int, int]:
        """An opaque position in the stream of instance changes, for `changed_since`."""
        return self._epoch, self._seq

    def changed_since(self, ref: ClusterRef, mark: tuple[int, int]) -> list[str] | None:
        """Keys of the cluster's instances whose record or tasks changed after ``mark``
        (O(changed)); None when the index was re-listed since (everything may have changed)."""
        epoch, seq = mark
        if epoch != self._epoch:
            return None
        out: list[str] = []
        touched = self._touched.get(ref)
        if touched:
            for key in reversed(touched):
                if touched[key] <= seq:
                    break
                out.append(key)
        return out

    def slot(self, instance_key: str) -> Slot | None:
        return self._slots.get(instance_key)

    def instance(self, instance_key: str) -> Record | None:
        slot = self._slots.get(instance_key)
        return None if slot is None else slot.instance

    def counts_of(self, instance_key: str) -> tuple[int, int]:
        """(running, pending) tasks on an instance."""
        slot = self._slots.get(instance_key)
        return (0, 0) if slot is None else (slot.running, slot.pending)

    def record(self, key: str) -> Record | None:
        """The task or container instance record under ``key``, as last seen."""
        task = self._tasks.get(key)
        if task is not None:
            return task
        slot = self._slots.get(key)
        return None if slot is None else slot.instance

    def unplaced(self) -> list[Record]:
        """Fargate tasks waiting for capacity, oldest first."""
        return sorted(self._unplaced.values(), key=lambda r: r.mod_revision)

    def tasks(self) -> list[Record]:
        return list(self._tasks.values())

    def release_waiters(self) -> None:
        """Answer every pending and future long-poll at once: the server is shutting down and
        should not hold its agents (or its own exit) for a whole poll."""
        self._closing = True
        for slot in self._slots.values():
            slot.changed.set()
            slot.agent_changed.set()

    def instances(self) -> list[Record]:
        return [s.instance for s in self._slots.values() if s.instance is not None]

    def wake(self, instance_key: str) -> None:
        """Answer the instance's long-polls now, though nothing in its assignments changed (an
        exec session waits for its agent)."""
        slot = self._slots.get(instance_key)
        if slot is not None:
            event, slot.agent_changed = slot.agent_changed, asyncio.Event()
            event.set()

    async def wait_change(self, instance_key: str, known: int, within: float) -> Slot:
        """The instance's slot once its ``agent_revision`` passes ``known``, or after ``within``
        seconds (at once while the control plane is shutting down)."""
        slot = self._slot(instance_key)
        if slot.agent_revision > known or within <= 0 or self._closing:
            return slot
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(slot.agent_changed.wait(), within)
        return self._slot(instance_key)


def _told(doc: Doc) -> tuple[object, bool, object]:
    """What of a task its agent's PollAssignments answer depends on (see `Slot.agent_revision`)."""
    return doc.get("desiredStatus"), doc.get("lastStatus") == task_model.STOPPED, doc.get("_acked")


def _tally(slot: Slot, doc: Doc, delta: int) -> None:
    kind = task_model.count_class(doc)
    if kind == "running":
        slot.running += delta
    elif kind == "pending":
        slot.pending += delta
    if doc.get("lastStatus") != task_model.STOPPED:
        slot.groups[str(doc.get("group", ""))] += delta
        slot.families[str(doc.get("taskDefinitionArn", ""))] += delta
