"""The ReplicaSet controller: keeps ``spec.replicas`` pods of each ReplicaSet, made from its
template (``ownerReferences`` controller: true), and reports how many are ready and available.

Fed by a list+watch of ReplicaSets and of pods (a pod re-queues its controlling ReplicaSet).
One sync per ReplicaSet key, level-triggered: it counts the live pods it owns (terminating
and ended ones do not count), creates the missing ones, deletes the extra ones (unscheduled, not ready,
newest first) and writes ``status``. Running it twice, or after a crash, is harmless. Pods are
removed the way the API server would: unscheduled at once, scheduled ones gracefully (the pod
controller finishes once the task stopped). Pods of a deleted ReplicaSet go through the garbage
collector (owner references).

``Reconciler`` (the list+watch+work-queue loop) is shared with the Deployment controller.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from stowage.controllers.k8s.objects import EventSpec, ObjectWriter
from stowage.controllers.k8s.worker import work
from stowage.controllers.services.queue import WorkQueue
from stowage.model.k8s import controller_refs as refs
from stowage.model.k8s import replicasets as rsm
from stowage.model.k8s.meta import generated_suffix, new_uid, rfc3339
from stowage.model.k8s.pods import prepare_pod
from stowage.model.k8s.selectors import selector_from_object
from stowage.resources.k8s_objects import (
    K8sObjects,
    decode,
    encode,
    object_key,
    parse_key,
    resource_prefix,
)
from stowage.store.base import Compacted, Event, EventType, KeyValue, StoreError

log = logging.getLogger("stowage.controllers.k8s")

Obj = dict[str, Any]
RESYNC = 30.0
MAX_RETRIES = 16
COALESCE_FACTOR = 3.0
MAX_COALESCE = 1.0
"""A pod's change re-syncs its ReplicaSet after COALESCE_FACTOR times the last sync's duration,
at most MAX_COALESCE seconds."""


class Reconciler(abc.ABC):
    """List+watch of some prefixes into a keyed work queue, and workers that call ``sync``.
    A controller says what it watches (``prefixes``), which keys a change concerns
    (``keys_for``) and how one key is brought to its desired state (``sync``)."""

    name = "reconciler"
    workers = 2

    def __init__(self, objects: K8sObjects, space: str, *, clock: Callable[[], float] = time.time) -> None:
        self.objects = objects
        self.space = space
        self.clock = clock
        self.queue = WorkQueue()
        self.writer = ObjectWriter(objects, space, clock)
        self.keys: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []

    @abc.abstractmethod
    def prefixes(self) -> list[str]:
        """The store prefixes to list and watch."""

    @abc.abstractmethod
    def keys_for(self, ev: Event) -> list[str]:
        """The keys to sync after a change under one of ``prefixes``."""

    @abc.abstractmethod
    async def sync(self, key: str) -> None:
        """Bring one key to its desired state; level-triggered, safe to run again."""

    async def start(self) -> None:
        for prefix in self.prefixes():
            self._loops.append(asyncio.create_task(self._watch(prefix), name=f"k8s-{self.name}-watch"))
        self._loops.append(asyncio.create_task(self._resync(), name=f"k8s-{self.name}-resync"))
        self._loops.extend(
            asyncio.create_task(work(self.queue, self.sync, self.name), name=f"k8s-{self.name}-{i}")
            for i in range(self.workers)
        )

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        self._loops.clear()
        self.queue.close()

    async def _watch(self, prefix: str) -> None:
        while True:
            try:
                page, _more, revision = await self.objects.list(prefix)
                for stored in page:
                    kv_event = Event(EventType.PUT, _kv(stored.key, stored.obj, stored.revision), None)
                    for key in self.keys_for(kv_event):
                        self.queue.add(key)
                watch = self.objects.watch(prefix, revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            for key in self.keys_for(ev):
                                self.queue.add(key)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as exc:
                log.info("%s controller re-listing after %s", self.name, exc)
                await asyncio.sleep(0.5)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(RESYNC)
            for key in list(self.keys):
                self.queue.add(key)

    async def settle_claim(
        self, claimed: refs.Claim, uid: str, ref: Obj, group: str, plural: str
    ) -> list[Obj]:
        """Release what the owner's selector no longer matches, adopt the matching orphans;
        the adopted objects, as written."""
        for obj in claimed.release:
            meta = obj.get("metadata") or {}
            key = object_key(self.space, group, plural, str(meta.get("namespace")), str(meta.get("name")))
            await self.update(key, lambda o: refs.released(o, uid))
        taken: list[Obj] = []
        for obj in claimed.adopt:
            meta = obj.get("metadata") or {}
            key = object_key(self.space, group, plural, str(meta.get("namespace")), str(meta.get("name")))
            written = await self.update(key, lambda o: refs.adopted(o, dict(ref)))
            if written is not None and rsm.controller_uid(written) == uid:
                taken.append(written)
        return taken

    async def update(self, key: str, change: Callable[[Obj], Obj | None]) -> Obj | None:
        """Read-modify-write with retry; ``change`` returns None for no change."""
        for _ in range(MAX_RETRIES):
            current = await self.objects.get(key)
            if current is None:
                return None
            new = change(current.obj)
            if new is None:
                return current.obj
            written = await self.objects.replace(key, new, current.revision)
            if written is not None:
                return written.obj
        raise RuntimeError(f"too many concurrent writes to {key}")


def _kv(key: str, obj: Obj, revision: int) -> KeyValue:
    """A listed object as the watch's PUT event would carry it."""
    return KeyValue(key, encode(obj), revision, revision, 1)


def owner_key(ev: Event, space: str, kind: str, group: str, plural: str) -> str | None:
    """The key of the controlling owner of kind ``kind`` of the changed object, if any."""
    kv = ev.kv if ev.type is EventType.PUT else ev.prev_kv
    parsed = parse_key(ev.kv.key)
    if kv is None or not kv.value or parsed is None:
        return None
    for ref in (decode(kv).get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == kind:
            return object_key(space, group, plural, parsed[3], str(ref.get("name")))
    return None


def orphan_claimants(ev: Event, owners: set[str], space: str, group: str, plural: str) -> list[str]:
    """For a new or changed object with no controller: the owners of its namespace that may
    adopt it (their selectors are checked by their syncs)."""
    parsed = parse_key(ev.kv.key)
    if ev.type is not EventType.PUT or parsed is None or not refs.is_orphan(decode(ev.kv)):
        return []
    prefix = resource_prefix(space, group, plural, parsed[3])
    return [key for key in owners if key.startswith(prefix)]


class ReplicaSetController(Reconciler):
    name = "replicasets"
    workers = 4

    def __init__(self, objects: K8sObjects, space: str, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(objects, space, clock=clock)
        self.cost: dict[str, float] = {}
        """ReplicaSet key -> seconds its last sync took."""

    def prefixes(self) -> list[str]:
        return [resource_prefix(self.space, "apps", "replicasets"), resource_prefix(self.space, "", "pods")]

    def keys_for(self, ev: Event) -> list[str]:
        if ev.kv.key.startswith(resource_prefix(self.space, "apps", "replicasets")):
            if ev.type is EventType.PUT:
                self.keys.add(ev.kv.key)
            else:
                self.keys.discard(ev.kv.key)
            return [ev.kv.key]
        owner = owner_key(ev, self.space, "ReplicaSet", "apps", "replicasets")
        if owner is None:
            # an orphan pod: any ReplicaSet of its namespace may adopt it
            return orphan_claimants(ev, self.keys, self.space, "apps", "replicasets")
        if owner:
            # A sync lists and counts all the ReplicaSet's pods: at thousands of pods that is
            # tens of ms of the event loop, and while they start their changes come many times a
            # second. Coalesce them: wait a few times the last sync's cost (nothing for small
            # ReplicaSets), so these syncs hold at most about a quarter of the loop.
            self.queue.add_after(owner, min(MAX_COALESCE, COALESCE_FACTOR * self.cost.get(owner, 0.0)))
        return []

    async def sync(self, key: str) -> None:
        started = time.perf_counter()
        try:
            await self._sync(key)
        finally:
            if key in self.keys:
                self.cost[key] = time.perf_counter() - started
            else:
                self.cost.pop(key, None)

    async def _sync(self, key: str) -> None:
        found = await self.objects.get(key)
        if found is None:
            return  # its pods go through the garbage collector
        rs = found.obj
        meta = rs.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return
        namespace = str(meta.get("namespace"))
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        selector = selector_from_object(spec.get("selector"))
        uid = str(meta.get("uid"))
        page, _more, _rev = await self.objects.list(resource_prefix(self.space, "", "pods", namespace))
        claimed = refs.claim(rs, selector, (s.obj for s in page))
        owned = claimed.owned + await self.settle_claim(
            claimed, uid, rsm.owner_ref(rs, "ReplicaSet", "apps/v1"), "", "pods"
        )
        # terminating pods and pods that ended (Failed/Succeeded) do not count: they are
        # replaced, as upstream's FilterActivePods (ended pods stay until deleted)
        active = [
            p
            for p in owned
            if not (p.get("metadata") or {}).get("deletionTimestamp")
            and (p.get("status") or {}).get("phase") not in ("Failed", "Succeeded")
        ]
        if len(active) < want:
            for _ in range(want - len(active)):
                name = await self._create_pod(rs, namespace)
                await self.writer.event(rs, _event("SuccessfulCreate", f"Created pod: {name}"))
        elif len(active) > want:
            for pod in rsm.deletion_order(active)[: len(active) - want]:
                await self._delete_pod(pod, namespace)
                deleted = (pod.get("metadata") or {}).get("name")
                await self.writer.event(rs, _event("SuccessfulDelete", f"Deleted pod: {deleted}"))
        await self._write_status(key, rs, active)

    async def _create_pod(self, rs: Obj, namespace: str) -> str:
        base = str((rs.get("metadata") or {}).get("name"))
        for _ in range(MAX_RETRIES):  # a generated name taken already: another suffix
            name = f"{base}-{generated_suffix()}"
            pod = rsm.pod_from_template(rs, name)
            prepare_pod(pod)
            pod["metadata"]["uid"] = new_uid()
            pod["metadata"]["creationTimestamp"] = rfc3339(self.clock())
            pod["status"] = {"phase": "Pending"}
            if (
                await self.objects.create(object_key(self.space, "", "pods", namespace, name), pod)
                is not None
            ):
                return name
        raise RuntimeError(f"no free pod name for {base}")

    async def _delete_pod(self, pod: Obj, namespace: str) -> None:
        name = str((pod.get("metadata") or {}).get("name"))
        key = object_key(self.space, "", "pods", namespace, name)
        spec = pod.get("spec") or {}
        if not spec.get("nodeName"):
            current = await self.objects.get(key)
            if current is not None:
                await self.objects.delete(key, current.revision)
            return
        grace = int(spec.get("terminationGracePeriodSeconds", 30) or 0) or 1

        def mark(obj: Obj) -> Obj | None:
            m = obj.setdefault("metadata", {})
            if m.get("deletionTimestamp"):
                return None
            m["deletionTimestamp"] = rfc3339(self.clock() + grace)
            m["deletionGracePeriodSeconds"] = grace
            return obj

        await self.update(key, mark)

    async def _write_status(self, key: str, rs: Obj, owned: list[Obj]) -> None:
        spec = rs.get("spec") or {}
        now = self.clock()
        min_ready = int(spec.get("minReadySeconds") or 0)
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = [p for p in owned if rsm.ready_since(p) is not None]
        available = [p for p in ready if rsm.is_available(p, min_ready, now)] if min_ready > 0 else ready
        labeled = [
            p
            for p in owned
            if all(
                ((p.get("metadata") or {}).get("labels") or {}).get(k) == v
                for k, v in template_labels.items()
            )
        ]
        status: Obj = {
            "replicas": len(owned),
            "fullyLabeledReplicas": len(labeled),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": int((rs.get("metadata") or {}).get("generation") or 1),
        }
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if len(ready) > len(available):
            # pods waiting out minReadySeconds: look again when the first could be available
            self.queue.add_after(key, float(min_ready))

        def change(obj: Obj) -> Obj | None:
            if (obj.get("status") or {}) == status:
                return None
            obj["status"] = status
            return obj

        await self.update(key, change)


def _event(reason: str, message: str) -> EventSpec:
    return EventSpec(reason, message, component="replicaset-controller")
