"""Built-in controllers of the Kubernetes API: namespace lifecycle, default service accounts,
and the garbage collector. Level-triggered: each reacts to a key by re-reading the state and
taking the steps it allows, so running one twice, or after a crash, is harmless.

They live beside the API (not in ``stowage/controllers``) because they act through the API's
object service (metadata rules, finalizers, propagation); when pods and deployments arrive
with their own reconcilers, these move to ``controllers/k8s`` with the service.

- **namespaces**: the default namespaces exist; a namespace with a ``deletionTimestamp``
  (status Terminating) has its contents deleted, then is removed itself.
- **service accounts**: every active namespace has a ``default`` ServiceAccount.
- **garbage collector**: an object whose owners (``ownerReferences`` by uid) are all gone is
  deleted (Background propagation); an owner being deleted with ``foregroundDeletion`` waits
  for its dependents to go, with ``orphan`` has them released (owner reference removed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from stowage.api.k8s.objects import FOREGROUND, ORPHAN, ObjectService
from stowage.api.k8s.registry import Registry, ResourceType
from stowage.model.k8s.errors import K8sError
from stowage.resources.k8s_objects import cluster_prefix, decode, object_key, parse_key
from stowage.store.base import Compacted, EventType, StoreError

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class BuiltinControllers:
    def __init__(self, service: ObjectService, registry: Registry, resync: float = 30.0) -> None:
        self.service = service
        self.registry = registry
        self.resync = resync
        self._types = {(t.store_group, t.plural): t for t in registry.all() if t.storage_group is None}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        # gc index: owner uid -> dependent keys; uid -> key of live objects
        self._dependents: dict[str, set[str]] = {}
        self._uids: dict[str, str] = {}
        self._owners_of: dict[str, set[str]] = {}

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        ns_type = self._type("", "namespaces")
        for name in DEFAULT_NAMESPACES:
            with contextlib.suppress(K8sError):
                await self.service.create(ns_type, "", {"metadata": {"name": name}})
        self._tasks.append(asyncio.create_task(self._watch_loop()))
        self._tasks.append(asyncio.create_task(self._work_loop()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()

    def _type(self, group: str, plural: str) -> ResourceType:
        return self._types[(group, plural)]

    def enqueue(self, key: str) -> None:
        if key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)

    # -- informer ------------------------------------------------------------------------------
    async def _watch_loop(self) -> None:
        prefix = cluster_prefix(self.service.cluster)
        while True:
            try:
                self._dependents.clear()
                self._uids.clear()
                self._owners_of.clear()
                objects = self.service.objects
                page, _more, revision = await objects.list(prefix)
                for stored in page:
                    self._index(stored.key, stored.obj)
                for stored in page:
                    self.enqueue(stored.key)
                watch = objects.watch(prefix, revision + 1)
                try:
                    async for batch in watch:
                        for ev in batch:
                            if ev.type is EventType.PUT:
                                self._index(ev.kv.key, decode(ev.kv))
                                self.enqueue(ev.kv.key)
                            else:
                                self._unindex(ev.kv.key, decode(ev.prev_kv) if ev.prev_kv else None)
                finally:
                    await watch.close()
            except (Compacted, StoreError) as e:
                log.info("k8s controllers re-listing after %s", e)
                await asyncio.sleep(0.2)

    def _index(self, key: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if uid:
            self._uids[str(uid)] = key
        old = self._owners_of.pop(key, set())
        for owner in old:
            self._dependents.get(owner, set()).discard(key)
        owners = {str(r.get("uid")) for r in meta.get("ownerReferences") or [] if r.get("uid")}
        if owners:
            self._owners_of[key] = owners
            for owner in owners:
                self._dependents.setdefault(owner, set()).add(key)

    def _unindex(self, key: str, obj: Obj | None) -> None:
        uid = str(((obj or {}).get("metadata") or {}).get("uid") or "")
        if uid and self._uids.get(uid) == key:
            del self._uids[uid]
        for owner in self._owners_of.pop(key, set()):
            self._dependents.get(owner, set()).discard(key)
        for dep in self._dependents.get(uid, set()):
            self.enqueue(dep)  # may be orphaned now
        parsed = parse_key(key)
        if parsed and parsed[2] == "serviceaccounts":
            self.enqueue(object_key(self.service.cluster, "", "namespaces", "", parsed[3]))
        if parsed and parsed[3]:
            # the namespace may be waiting for its last object
            self.enqueue(object_key(self.service.cluster, "", "namespaces", "", parsed[3]))
        for owner in self._owners_of_deleted(obj):
            self.enqueue(owner)

    def _owners_of_deleted(self, obj: Obj | None) -> list[str]:
        refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
        return [self._uids[str(r.get("uid"))] for r in refs if str(r.get("uid")) in self._uids]

    # -- reconcile -----------------------------------------------------------------------------
    async def _work_loop(self) -> None:
        while True:
            key = await self._queue.get()
            self._queued.discard(key)
            try:
                await self.reconcile(key)
            except K8sError as e:
                if e.code not in (404, 409):
                    log.warning("k8s controller on %s: %s", key, e)
                    self._retry_later(key)
            except StoreError as e:
                log.warning("k8s controller on %s: %s", key, e)
                self._retry_later(key)
            except Exception:
                log.exception("k8s controller failed on %s", key)
                self._retry_later(key)

    def _retry_later(self, key: str) -> None:
        asyncio.get_running_loop().call_later(1.0, self.enqueue, key)

    async def reconcile(self, key: str) -> None:
        parsed = parse_key(key)
        if parsed is None:
            return
        _cluster, group, plural, namespace, name = parsed
        rt = self._types.get((group, plural))
        if rt is None:
            return
        found = await self.service.objects.get(key)
        if found is None:
            return
        meta = found.obj.get("metadata") or {}
        if plural == "namespaces":
            await self._namespace(rt, name, found.obj)
        await self._collect_garbage(rt, namespace, name, meta)

    async def _namespace(self, rt: ResourceType, name: str, obj: Obj) -> None:
        if not (obj.get("metadata") or {}).get("deletionTimestamp"):
            sa = self._type("", "serviceaccounts")
            if await self.service.objects.get(self.service.key(sa, name, "default")) is None:
                with contextlib.suppress(K8sError):
                    await self.service.create(sa, name, {"metadata": {"name": "default"}})
            return
        remaining = 0
        for t in self.registry.namespaced():
            page, _more, _rev = await self.service.objects.list(self.service.prefix(t, name))
            for stored in page:
                remaining += 1
                smeta = stored.obj.get("metadata") or {}
                if smeta.get("deletionTimestamp"):
                    continue
                with contextlib.suppress(K8sError):
                    await self.service.delete(t, name, str(smeta.get("name")))
        if remaining == 0:
            current = await self.service.objects.get(self.service.key(rt, "", name))
            if current is not None:
                await self.service.objects.delete(current.key, current.revision)
        else:
            asyncio.get_running_loop().call_later(0.5, self.enqueue, self.service.key(rt, "", name))

    async def _collect_garbage(self, rt: ResourceType, namespace: str, name: str, meta: Obj) -> None:
        refs = meta.get("ownerReferences") or []
        # every owner gone? (checked against the live index, then the store)
        if (
            refs
            and not meta.get("deletionTimestamp")
            and all(str(r.get("uid")) not in self._uids for r in refs)
            and await self._owners_absent(namespace, refs)
        ):
            await self.service.delete(rt, namespace, name)
            return
        finalizers = list(meta.get("finalizers") or [])
        if not meta.get("deletionTimestamp"):
            return
        uid = str(meta.get("uid"))
        dependents = list(self._dependents.get(uid, set()))
        if ORPHAN in finalizers:
            for dep in dependents:
                await self._release(dep, uid)
            await self._drop_finalizer(rt, namespace, name, ORPHAN)
        elif FOREGROUND in finalizers:
            pending = False
            for dep in dependents:
                parsed = parse_key(dep)
                dep_type = self._types.get((parsed[1], parsed[2])) if parsed else None
                if parsed is None or dep_type is None:
                    continue
                pending = True
                with contextlib.suppress(K8sError):
                    await self.service.delete(dep_type, parsed[3], parsed[4], propagation="Foreground")
            if not pending:
                await self._drop_finalizer(rt, namespace, name, FOREGROUND)

    async def _owners_absent(self, namespace: str, refs: list[Obj]) -> bool:
        for ref in refs:
            api_version = str(ref.get("apiVersion") or "v1")
            group = api_version.split("/", 1)[0] if "/" in api_version else ""
            owner_type = next(
                (t for t in self.registry.all() if t.group == group and t.kind == ref.get("kind")), None
            )
            if owner_type is None:
                return False  # an owner we cannot look up is presumed alive, as the real GC does
            found = await self.service.objects.get(
                self.service.key(owner_type, namespace, str(ref.get("name")))
            )
            if found is not None and (found.obj.get("metadata") or {}).get("uid") == ref.get("uid"):
                return False
        return True

    async def _release(self, dep_key: str, owner_uid: str) -> None:
        parsed = parse_key(dep_key)
        dep_type = self._types.get((parsed[1], parsed[2])) if parsed else None
        if parsed is None or dep_type is None:
            return

        def change(obj: Obj) -> Obj:
            meta = obj["metadata"]
            refs = [r for r in meta.get("ownerReferences") or [] if str(r.get("uid")) != owner_uid]
            if refs:
                meta["ownerReferences"] = refs
            else:
                meta.pop("ownerReferences", None)
            return obj

        with contextlib.suppress(K8sError):
            await self.service.update(dep_type, parsed[3], parsed[4], change)

    async def _drop_finalizer(self, rt: ResourceType, namespace: str, name: str, finalizer: str) -> None:
        def change(obj: Obj) -> Obj:
            meta = obj["metadata"]
            meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
            if not meta["finalizers"]:
                meta.pop("finalizers")
            return obj

        await self.service.update(rt, namespace, name, change)
