"""Node sync: one Node object per container instance of the backing ECS cluster, kept equal to
``model/k8s/nodes.node_object`` of the instance record and the Node as stored (what users set
on it stays). Instances come from the task index's
change feed (no store watch of its own); a deregistered (INACTIVE) or deleted instance loses
its Node. Level-triggered: ``sync(key)`` recomputes one node from the index as it is now."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.k8s.objects import MAX_RETRIES, ObjectWriter
from stowage.model import container_instances as ci
from stowage.model.k8s.meta import new_uid, rfc3339
from stowage.model.k8s.nodes import node_name, node_object
from stowage.resources.k8s_objects import resource_prefix

Obj = dict[str, Any]


def _same(stored: Obj, new: Obj) -> bool:
    def strip(o: Obj) -> Obj:
        meta = {k: v for k, v in (o.get("metadata") or {}).items()
                if k not in ("uid", "creationTimestamp", "resourceVersion")}  # fmt: skip
        return {**o, "metadata": meta}

    return strip(stored) == strip(new)


class NodeSync:
    def __init__(
        self,
        index: EcsIndex,
        writer: ObjectWriter,
        scope: tuple[str, str, str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.index = index
        self.writer = writer
        self.scope = scope
        """(account, region, ECS cluster) whose instances are the nodes."""
        self.clock = clock
        self._names: dict[str, str] = {}
        """instance key -> node name, for deleting a node whose instance record is gone."""

    def owns(self, instance_key: str) -> bool:
        account, region, cluster = self.scope
        return (
            instance_key in self.index.instance_keys(account, region, cluster) or instance_key in self._names
        )

    def instance_for(self, name: str) -> str | None:
        """The instance key of the node called ``name``."""
        for key, known in self._names.items():
            if known == name:
                return key
        for key in self.index.instance_keys(*self.scope):
            rec = self.index.instance(key)
            if rec is not None and node_name(rec.doc) == name:
                return key
        return None

    def node_count(self) -> int:
        return len(self._names)

    async def sync_all(self) -> None:
        """Every instance's node, and no node without an instance (after a restart)."""
        keys = self.index.instance_keys(*self.scope)
        for key in keys:
            await self.sync(key)
        live = set(self._names.values())
        page, _more, _rev = await self.writer.objects.list(
            resource_prefix(self.writer.space, "", "nodes", "")
        )
        for stored in page:
            name = str((stored.obj.get("metadata") or {}).get("name", ""))
            annotations = (stored.obj.get("metadata") or {}).get("annotations") or {}
            if name not in live and annotations.get("ecs.stowage.io/cluster") == self.scope[2]:
                await self.writer.delete(stored.key)

    async def sync(self, instance_key: str) -> None:
        rec = self.index.instance(instance_key)
        if rec is None or rec.doc.get("status") == ci.INACTIVE:
            name = self._names.pop(instance_key, None)
            if name is not None:
                await self.writer.delete(self.writer.key("nodes", "", name))
            return
        name = node_name(rec.doc)
        self._names[instance_key] = name
        key = self.writer.key("nodes", "", name)
        objects = self.writer.objects
        for _ in range(MAX_RETRIES):
            # computed from the Node as stored at each try: a user's write in between (a cordon,
            # a taint) is merged in, never overwritten
            old = await objects.get(key)
            node = node_object(rec.doc, cluster=self.scope[2], old=old.obj if old else None, now=self.clock())
            if old is None:
                node["metadata"]["uid"] = new_uid()
                node["metadata"].setdefault("creationTimestamp", rfc3339(self.clock()))
                if await objects.create(key, node) is not None:
                    return
                continue
            if _same(old.obj, node):
                return
            for member in ("uid", "creationTimestamp"):
                if member in (old.obj.get("metadata") or {}):
                    node["metadata"][member] = old.obj["metadata"][member]
            if await objects.replace(key, node, old.revision) is not None:
                return
        raise RuntimeError(f"too many concurrent writes to {key}")
