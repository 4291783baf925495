"""Taint-based eviction (upstream's taint-eviction controller): pods on a node with a NoExecute
taint they do not tolerate are deleted, gracefully, with a ``TaintManagerEviction`` event;
those that tolerate it for ``tolerationSeconds`` go when that runs out
(``model/k8s/taints.eviction_time``), those that tolerate it without a limit stay.

One sync per node name, level-triggered: it reads the node from the ``NodeWatch`` cache and the
pods bound to it from the store, evicts what is due, and re-queues itself for the next
deadline. A node is queued when it changes and when a pod is bound to it. Eviction is what
``kubectl delete pod`` does: ``deletionTimestamp`` is set and the pod controller stops the
task, then removes the pod; a ReplicaSet replaces it elsewhere (the taint keeps it off this
node).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from stowage.controllers.k8s.node_watch import NodeWatch
from stowage.controllers.k8s.objects import EventSpec, ObjectWriter
from stowage.controllers.k8s.worker import work
from stowage.controllers.services.queue import WorkQueue
from stowage.model.k8s import taints as tm
from stowage.model.k8s.meta import parse_rfc3339, rfc3339
from stowage.resources.k8s_objects import resource_prefix

Obj = dict[str, Any]
COMPONENT = "taint-eviction-controller"
DEFAULT_GRACE = 30


def scheduled_at(pod: Mapping[str, Any]) -> float | None:
    """When the pod was bound to its node (its PodScheduled condition), else its creation."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "True":
            when = parse_rfc3339(str(c.get("lastTransitionTime") or ""))
            if when is not None:
                return when
    return parse_rfc3339(str((pod.get("metadata") or {}).get("creationTimestamp") or ""))


def _running(pod: Mapping[str, Any]) -> bool:
    return not (pod.get("metadata") or {}).get("deletionTimestamp") and (pod.get("status") or {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


class TaintEviction:
    def __init__(
        self, writer: ObjectWriter, nodes: NodeWatch, clock: Callable[[], float] = time.time
    ) -> None:
        self.writer = writer
        self.nodes = nodes
        self.clock = clock
        self.queue = WorkQueue()

    def start(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(work(self.queue, self.sync, "taint eviction"), name="k8s-taint-eviction")]

    def stop(self) -> None:
        self.queue.close()

    def node_changed(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is not None and any(t.get("effect") == tm.NO_EXECUTE for t in tm.taints_of(node)):
            self.queue.add(name)

    async def sync(self, name: str) -> None:
        node = self.nodes.get(name)
        taints = [t for t in tm.taints_of(node or {}) if t.get("effect") == tm.NO_EXECUTE]
        if not taints:
            return
        now = self.clock()
        soonest: float | None = None
        page, _more, _rev = await self.writer.objects.list(resource_prefix(self.writer.space, "", "pods"))
        for stored in page:
            pod = stored.obj
            if (pod.get("spec") or {}).get("nodeName") != name or not _running(pod):
                continue
            at = tm.eviction_time(taints, tm.tolerations_of(pod), since=scheduled_at(pod) or now)
            if at is None:
                continue
            if at <= now:
                await self._evict(stored.key, pod)
            else:
                soonest = at if soonest is None else min(soonest, at)
        if soonest is not None:
            self.queue.add_after(name, soonest - now)

    async def _evict(self, key: str, pod: Obj) -> None:
        uid = (pod.get("metadata") or {}).get("uid")
        grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", DEFAULT_GRACE) or 0) or 1

        def mark(current: Obj) -> Obj | None:
            meta = current.setdefault("metadata", {})
            if meta.get("uid") != uid or meta.get("deletionTimestamp"):
                return None
            meta["deletionTimestamp"] = rfc3339(self.clock() + grace)
            meta["deletionGracePeriodSeconds"] = grace
            return current

        marked = await self.writer.update(key, mark)
        if marked is not None:
            meta = marked.obj.get("metadata") or {}
            text = f"Marking for deletion Pod {meta.get('namespace')}/{meta.get('name')}"
            await self.writer.event(marked.obj, EventSpec("TaintManagerEviction", text, component=COMPONENT))
