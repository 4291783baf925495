"""How the Kubernetes controllers write objects: compare-and-swap updates with retry, node
upserts, and Events. They write the store directly (``resources/k8s_objects``) with the API
server's metadata rules for what they create (uid, creationTimestamp): the API layer's object
service sits above the controllers."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stowage.model.k8s.meta import new_uid, rfc3339
from stowage.resources.k8s_objects import K8sObjects, Stored, object_key

Obj = dict[str, Any]
MAX_RETRIES = 16


@dataclass(frozen=True, slots=True)
class EventSpec:
    reason: str
    message: str
    type: str = "Normal"
    field_path: str = ""
    component: str = "kubelet"
    host: str = ""


class ObjectWriter:
    def __init__(self, objects: K8sObjects, space: str, clock: Callable[[], float] = time.time) -> None:
        self.objects = objects
        self.space = space
        self.clock = clock

    def key(self, plural: str, namespace: str, name: str) -> str:
        return object_key(self.space, "", plural, namespace, name)

    async def update(self, key: str, change: Callable[[Obj], Obj | None]) -> Stored | None:
        """Read-modify-write; ``change`` returns None for no change. None if the object is
        gone (or ``change`` declined)."""
        for _ in range(MAX_RETRIES):
            current = await self.objects.get(key)
            if current is None:
                return None
            new = change(current.obj)
            if new is None:
                return None
            written = await self.objects.replace(key, new, current.revision)
            if written is not None:
                return written
        raise RuntimeError(f"too many concurrent writes to {key}")

    async def upsert(self, key: str, obj: Obj, same: Callable[[Obj, Obj], bool]) -> None:
        """Create ``obj`` or replace what is stored unless ``same(stored, obj)``; uid and
        creationTimestamp of an existing object are kept."""
        for _ in range(MAX_RETRIES):
            current = await self.objects.get(key)
            if current is None:
                meta = obj.setdefault("metadata", {})
                meta["uid"] = new_uid()
                meta.setdefault("creationTimestamp", rfc3339(self.clock()))
                if await self.objects.create(key, obj) is not None:
                    return
                continue
            if same(current.obj, obj):
                return
            old_meta = current.obj.get("metadata") or {}
            meta = obj.setdefault("metadata", {})
            for member in ("uid", "creationTimestamp"):
                if member in old_meta:
                    meta[member] = old_meta[member]
            if await self.objects.replace(key, obj, current.revision) is not None:
                return
        raise RuntimeError(f"too many concurrent writes to {key}")

    async def delete(self, key: str) -> None:
        for _ in range(MAX_RETRIES):
            current = await self.objects.get(key)
            if current is None or await self.objects.delete(key, current.revision) is not None:
                return

    async def event(self, involved: Obj, ev: EventSpec) -> str:
        """A core/v1 Event about ``involved`` (a Pod or Node as stored); its key."""
        meta = involved.get("metadata") or {}
        namespace = str(meta.get("namespace") or "default")
        name = f"{meta.get('name')}.{secrets.token_hex(8)}"
        now = rfc3339(self.clock())
        ref: Obj = {
            "kind": involved.get("kind", "Pod"),
            "namespace": str(meta.get("namespace") or ""),
            "name": meta.get("name"),
            "uid": meta.get("uid"),
            "apiVersion": involved.get("apiVersion", "v1"),
            "resourceVersion": meta.get("resourceVersion"),
        }
        if ev.field_path:
            ref["fieldPath"] = ev.field_path
        source: Obj = {"component": ev.component}
        if ev.host:
            source["host"] = ev.host
        body: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": name, "namespace": namespace, "uid": new_uid(), "creationTimestamp": now,
            },
            "involvedObject": {k: v for k, v in ref.items() if v not in (None, "")},
            "reason": ev.reason,
            "message": ev.message,
            "source": source,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": ev.type,
            "eventTime": None,
            "reportingComponent": ev.component,
            "reportingInstance": ev.host,
        }  # fmt: skip
        key = self.key("events", namespace, name)
        await self.objects.create(key, body)
        return key
