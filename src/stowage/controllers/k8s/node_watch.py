"""The Nodes of one object space as the pod controller needs them: a list+watch cache, and from
it what a pod's placement may not use (``restrict``).

The scheduler is pure and sees only container instances; taints and cordons live on Node
objects. ``restrict`` turns them into the shared placement request's ``excluded`` instances
(with the scheduler's reason: "node(s) had untolerated taint {k: v}", "node(s) were
unschedulable") and ``avoid`` instances (PreferNoSchedule taints the pod does not tolerate), so
pods and ECS tasks keep one placement path. Only Nodes with taints or a cordon are looked at
per placement (kept apart as ``restricted``).

Every change calls ``on_change(name)``: the pod controller re-syncs the node (its managed
taints follow ``spec.unschedulable``), retries unscheduled pods, and the taint eviction looks
at the node's pods.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from stowage.model.k8s import taints as tm
from stowage.model.placement import PlacementRequest
from stowage.resources.k8s_objects import K8sObjects, decode, resource_prefix
from stowage.store.base import Compacted, EventType, StoreError

log = logging.getLogger("stowage.controllers.k8s")

Obj = dict[str, Any]
INSTANCE_ANNOTATION = "ecs.stowage.io/container-instance-arn"


def instance_id_of(node: Mapping[str, Any]) -> str | None:
    """The container instance id a Node stands for (its annotation), None for other Nodes."""
    arn = ((node.get("metadata") or {}).get("annotations") or {}).get(INSTANCE_ANNOTATION)
    return str(arn).rsplit("/", 1)[-1] if arn else None


def _restricted(node: Mapping[str, Any]) -> bool:
    spec = node.get("spec") or {}
    return bool(spec.get("unschedulable") or spec.get("taints"))


class NodeWatch:
    def __init__(self, objects: K8sObjects, space: str, on_change: Callable[[str], None]) -> None:
        self.objects = objects
        self.space = space
        self.on_change = on_change
        self.nodes: dict[str, Obj] = {}
        """name -> the Node as last seen."""
        self.restricted: dict[str, Obj] = {}
        """The nodes with taints or ``spec.unschedulable``: the only ones ``restrict`` reads."""
        self.synced = asyncio.Event()

    def get(self, name: str) -> Obj | None:
        return self.nodes.get(name)

    def restrict(self, request: PlacementRequest, pod: Mapping[str, Any]) -> PlacementRequest:
        """``request`` with the instances whose Node refuses ``pod`` excluded, and those it
        would rather not take avoided."""
        if not self.restricted:
            return request
        tolerations = tm.tolerations_of(pod)
        excluded: dict[str, str] = {}
        avoid: set[str] = set()
        for node in self.restricted.values():
            iid = instance_id_of(node)
            if iid is None:
                continue
            reason = tm.schedule_reason(node, tolerations)
            if reason is not None:
                excluded[iid] = reason
            elif tm.preferred_against(node, tolerations):
                avoid.add(iid)
        if not excluded and not avoid:
            return request
        return replace(request, excluded={**request.excluded, **excluded}, avoid=request.avoid | avoid)

    def _seen(self, key: str, node: Obj | None) -> None:
        name = key.rsplit("/", 1)[-1]
        if node is None:
            self.nodes.pop(name, None)
            self.restricted.pop(name, None)
        else:
            self.nodes[name] = node
            if _restricted(node):
                self.restricted[name] = node
            else:
                self.restricted.pop(name, None)
        self.on_change(name)

    async def run(self) -> None:
        """List, then watch, forever (re-listing after a compaction or a store error)."""
        prefix = resource_prefix(self.space, "", "nodes")
        while True:
            try:
                page, _more, revision = await self.objects.list(prefix)
                gone = set(self.nodes) - {s.key.rsplit("/", 1)[-1] for s in page}
                for name in gone:
                    self._seen(f"{prefix}_/{name}", None)
                for stored in page:
                    self._seen(stored.key, stored.obj)
                self.synced.set()
                watch = self.objects.watch(prefix, revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            if ev.type is EventType.PUT:
                                self._seen(ev.kv.key, decode(ev.kv))
                            else:
                                self._seen(ev.kv.key, None)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as exc:
                log.info("node watch re-listing after %s", exc)
                await asyncio.sleep(0.5)
