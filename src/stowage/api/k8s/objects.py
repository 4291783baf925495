"""The object service: create, read, update, delete of any declared resource type, with the
API server's metadata rules. HTTP handlers and the built-in controllers both go through it.

- ``create`` fills uid, creationTimestamp, generation 1, generateName; checks the namespace
  exists and is not terminating.
- ``update`` is compare-and-swap on ``resourceVersion`` (409 Conflict when stale; when the
  caller gives none, the service retries on the latest); ``generation`` is bumped on spec
  changes; server-owned metadata cannot be overwritten. An object with a ``deletionTimestamp``
  whose last finalizer goes away is deleted.
- ``delete`` honours finalizers and ``propagationPolicy`` (Foreground/Orphan add the
  ``foregroundDeletion``/``orphan`` finalizers the garbage collector resolves; Background
  deletes now and the collector removes dependents later).
- **Defaults** (``model/k8s/defaults``, by served apiVersion and kind) are filled in here, in
  one place: on create, on every update (to the object the change produced, before it is
  compared with the stored one, so an update that only drops defaulted fields changes nothing
  and bumps no generation) and on every read (``served``), as the API server also defaults
  what it decodes from storage.
- **Dry run** (``dryRun=All``): create and update do every step but the write (nor claim
  allocations) and answer with the object as it would have been stored.
- **Allocations** (``Allocations``, e.g. a Service's cluster IP and node ports) are claimed and
  released in the same store transaction as the object write or delete, so an object and the
  values it holds never disagree; a lost race for a value is retried with a fresh pick.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from stowage.api.k8s.registry import ResourceType
from stowage.model.k8s import errors
from stowage.model.k8s.defaults import default_object
from stowage.model.k8s.errors import K8sError
from stowage.model.k8s.meta import check_meta, check_name, generated_suffix, new_uid, rfc3339, spec_changed
from stowage.resources.k8s_objects import CLUSTER_LOCAL, K8sObjects, Stored, object_key, resource_prefix
from stowage.store.base import Compare, Op

Obj = dict[str, Any]

MAX_RETRIES = 32
FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_SERVER_META = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds")


@dataclass
class Claims:
    """Guards and writes that go into an object's write transaction."""

    compares: list[Compare] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)


class Allocations(Protocol):
    """Values a kind holds beside its objects (a Service's cluster IP and node ports)."""

    def carry(self, old: Obj, new: Obj) -> None:
        """On update, before validation: keep what ``new`` leaves unset of ``old``'s values."""

    async def claim(self, old: Obj | None, new: Obj) -> Claims:
        """After validation: fill in and claim ``new``'s values (releasing what ``old`` held and
        ``new`` no longer does); a 422 ``K8sError`` for values that cannot be had."""

    def release(self, obj: Obj) -> list[Op]:
        """The writes that free what ``obj`` holds, when it is deleted."""


class ObjectService:
    def __init__(
        self,
        objects: K8sObjects,
        cluster: str = CLUSTER_LOCAL,
        clock: Callable[[], float] = time.time,
        allocations: Mapping[tuple[str, str], Allocations] | None = None,
    ):
        self.objects = objects
        self.cluster = cluster
        self.clock = clock
        self.allocations = dict(allocations or {})
        """By ``(store group, plural)``."""

    def _allocations(self, rt: ResourceType) -> Allocations | None:
        return self.allocations.get((rt.store_group, rt.plural)) if self.allocations else None

    async def _remove(self, rt: ResourceType, key: str, obj: Obj, revision: int) -> int | None:
        """Delete at ``revision``, freeing what ``obj`` holds in the same transaction."""
        alloc = self._allocations(rt)
        if alloc is None:
            return await self.objects.delete(key, revision)
        return await self.objects.delete_with(key, revision, alloc.release(obj))

    # -- keys ----------------------------------------------------------------------------------
    def key(self, rt: ResourceType, namespace: str, name: str) -> str:
        return object_key(self.cluster, rt.store_group, rt.plural, namespace if rt.namespaced else "", name)

    def prefix(self, rt: ResourceType, namespace: str | None) -> str:
        ns = None if namespace is None else (namespace if rt.namespaced else "")
        return resource_prefix(self.cluster, rt.store_group, rt.plural, ns)

    # -- shape conversion between storage and what this type serves ----------------------------
    def served(self, rt: ResourceType, obj: Obj) -> Obj:
        out = rt.from_storage(obj) if rt.from_storage else obj
        out["apiVersion"] = rt.api_version
        out["kind"] = rt.kind
        default_object(rt.api_version, rt.kind, out)
        return out

    def stored(self, rt: ResourceType, obj: Obj) -> Obj:
        return rt.to_storage(obj) if rt.to_storage else obj

    # -- reads ---------------------------------------------------------------------------------
    async def get(self, rt: ResourceType, namespace: str, name: str) -> Stored:
        found = await self.objects.get(self.key(rt, namespace, name))
        if found is None:
            raise errors.not_found(rt.plural, name, rt.group)
        return found

    # -- writes --------------------------------------------------------------------------------
    async def _check_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced:
            return
        ns = await self.objects.get(object_key(self.cluster, "", "namespaces", "", namespace))
        if ns is None:
            raise errors.not_found("namespaces", namespace)
        if (ns.obj.get("metadata") or {}).get("deletionTimestamp"):
            raise K8sError(
                403,
                "Forbidden",
                f'{rt.plural} "{_name(ns.obj)}" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                {"name": namespace, "kind": rt.plural},
            )

    def _prepare(self, rt: ResourceType, obj: Obj, name_hint: str) -> None:
        if rt.prepare:
            rt.prepare(obj)
        causes = check_meta(obj.get("metadata") or {})
        if rt.validate:
            causes += rt.validate(obj)
        if causes:
            raise errors.invalid(rt.kind, name_hint, causes, rt.group)

    async def create(self, rt: ResourceType, namespace: str, body: Obj, *, dry_run: bool = False) -> Stored:
        obj = copy.deepcopy(body)
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = f"{meta['generateName']}{generated_suffix()}"
        name = str(meta.get("name") or "")
        causes = check_name(name, label=rt.plural == "namespaces")
        if causes:
            raise errors.invalid(rt.kind, name, causes, rt.group)
        for k in (*_SERVER_META, "resourceVersion", "selfLink"):
            meta.pop(k, None)
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = rfc3339(self.clock())
        if rt.generation:
            meta["generation"] = 1
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        default_object(rt.api_version, rt.kind, obj)
        self._prepare(rt, obj, name)
        await self._check_namespace(rt, namespace)
        key = self.key(rt, namespace, name)
        if dry_run:
            if await self.objects.get(key) is not None:
                raise errors.already_exists(rt.plural, name, rt.group)
            return Stored(obj, 0, key)
        alloc = self._allocations(rt)
        if alloc is None:
            stored = await self.objects.create(key, self.stored(rt, obj))
            if stored is None:
                raise errors.already_exists(rt.plural, name, rt.group)
            return stored
        for _ in range(MAX_RETRIES):
            attempt = copy.deepcopy(obj)
            claims = await alloc.claim(None, attempt)
            stored = await self.objects.write_with(
                key, self.stored(rt, attempt), 0, claims.compares, claims.ops
            )
            if stored is not None:
                return stored
            if await self.objects.get(key) is not None:
                raise errors.already_exists(rt.plural, name, rt.group)
            # another write took a value we picked: pick again
        raise K8sError(409, "Conflict", f"too many concurrent writes to {rt.plural} {name!r}")

    async def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        change: Callable[[Obj], Obj],
        *,
        subresource: str = "",
        expect_rv: str | None = None,
        dry_run: bool = False,
    ) -> Stored:
        """Read-modify-write. ``change`` gets the current object (served shape) and returns the
        new one; a ``resourceVersion`` it leaves in (or ``expect_rv``) must match, else 409."""
        key = self.key(rt, namespace, name)
        for _ in range(MAX_RETRIES):
            current = await self.objects.get(key)
            if current is None:
                raise errors.not_found(rt.plural, name, rt.group)
            old = self.served(rt, copy.deepcopy(current.obj))
            new = change(copy.deepcopy(old))
            if isinstance(new, dict):
                default_object(rt.api_version, rt.kind, new)
            meta = new.setdefault("metadata", {})
            wanted = expect_rv or meta.get("resourceVersion")
            if wanted and str(wanted) != str(current.revision):
                raise errors.conflict(rt.plural, name, rt.group)
            if meta.get("name", name) != name:
                raise errors.bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
                )
            new = self._merge_server_fields(rt, old, new, subresource)
            alloc = self._allocations(rt) if subresource != "status" else None
            if alloc is not None:
                alloc.carry(old, new)
            if new == old:
                return current
            self._prepare(rt, new, name)
            if rt.validate_update and (causes := rt.validate_update(old, new)):
                raise errors.invalid(rt.kind, name, causes, rt.group)
            new_meta = new["metadata"]
            if dry_run:
                rv = str(current.revision)
                return Stored({**new, "metadata": {**new_meta, "resourceVersion": rv}}, current.revision, key)
            finished = not new_meta.get("finalizers") and not rt.graceful_delete
            if new_meta.get("deletionTimestamp") and finished:
                rev = await self._remove(rt, key, old, current.revision)
                if rev is None:
                    if wanted:
                        raise errors.conflict(rt.plural, name, rt.group)
                    continue
                return Stored({**new, "metadata": {**new_meta, "resourceVersion": str(rev)}}, rev)
            if alloc is None:
                written = await self.objects.replace(key, self.stored(rt, new), current.revision)
            else:
                claims = await alloc.claim(old, new)
                stored_new = self.stored(rt, new)
                written = await self.objects.write_with(
                    key, stored_new, current.revision, claims.compares, claims.ops
                )
                again = None if written is not None else await self.objects.get(key)
                if again is not None and again.revision == current.revision:
                    continue  # another write took a value we picked: pick again
            if written is not None:
                return written
            if wanted:
                raise errors.conflict(rt.plural, name, rt.group)
        raise K8sError(409, "Conflict", f"too many concurrent writes to {rt.plural} {name!r}")

    def _merge_server_fields(self, rt: ResourceType, old: Obj, new: Obj, subresource: str) -> Obj:
        old_meta = old.get("metadata") or {}
        meta = new["metadata"]
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        for k in _SERVER_META:
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta["name"] = old_meta.get("name")
        if rt.namespaced:
            meta["namespace"] = old_meta.get("namespace")
        meta.pop("resourceVersion", None)
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        if subresource == "status":
            # the status subresource changes status only; the main resource never does
            new = {**old, "status": new.get("status")}
        elif any(s.name == "status" for s in rt.subresources) and rt.plural != "namespaces":
            new["status"] = old.get("status")
        if rt.generation and subresource != "status" and spec_changed(old, new):
            meta["generation"] = int(old_meta.get("generation") or 1) + 1
        old_cmp = {**old, "metadata": {k: v for k, v in old_meta.items() if k != "resourceVersion"}}
        return old if new == old_cmp else new

    @staticmethod
    def _grace(rt: ResourceType, obj: Obj, given: int | None) -> int:
        """Seconds of graceful deletion for ``obj`` (0: delete now)."""
        if rt.graceful_delete is None:
            return 0
        default = rt.graceful_delete(obj)
        return 0 if default == 0 else (max(0, given) if given is not None else default)

    async def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        propagation: str | None = None,
        grace_seconds: int | None = None,
        expect_rv: str | None = None,
        expect_uid: str | None = None,
    ) -> tuple[Obj, bool]:
        """Delete (or start deleting) an object: (the object, whether it is gone already)."""
        key = self.key(rt, namespace, name)
        for _ in range(MAX_RETRIES):
            current = await self.objects.get(key)
            if current is None:
                raise errors.not_found(rt.plural, name, rt.group)
            obj = self.served(rt, copy.deepcopy(current.obj))
            meta = obj.setdefault("metadata", {})
            if expect_rv and expect_rv != str(current.revision):
                raise errors.conflict(rt.plural, name, rt.group)
            if expect_uid and expect_uid != meta.get("uid"):
                raise errors.conflict(rt.plural, name, rt.group)
            finalizers = list(meta.get("finalizers") or [])
            if propagation == "Foreground" and FOREGROUND not in finalizers:
                finalizers.append(FOREGROUND)
            elif propagation == "Orphan" and ORPHAN not in finalizers:
                finalizers.append(ORPHAN)
            if rt.plural == "namespaces" and (obj.get("spec") or {}).get("finalizers"):
                # Terminating: the namespace controller empties it, then deletes it
                if meta.get("deletionTimestamp"):
                    return obj, False
                obj.setdefault("status", {})["phase"] = "Terminating"
                meta["deletionTimestamp"] = rfc3339(self.clock())
                meta["deletionGracePeriodSeconds"] = 0
                written = await self.objects.replace(key, self.stored(rt, obj), current.revision)
                if written is None:
                    continue
                return self.served(rt, written.obj), False
            grace = self._grace(rt, obj, grace_seconds)
            if grace and not meta.get("deletionTimestamp"):
                # graceful: the controller that runs the object finishes the deletion
                if finalizers:
                    meta["finalizers"] = finalizers
                meta["deletionTimestamp"] = rfc3339(self.clock() + grace)
                meta["deletionGracePeriodSeconds"] = grace
                written = await self.objects.replace(key, self.stored(rt, obj), current.revision)
                if written is None:
                    continue
                return self.served(rt, written.obj), False
            if finalizers or (grace and meta.get("deletionTimestamp")):
                if meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or []):
                    return obj, False
                meta["finalizers"] = finalizers
                meta.setdefault("deletionTimestamp", rfc3339(self.clock()))
                meta.setdefault("deletionGracePeriodSeconds", grace_seconds or 0)
                written = await self.objects.replace(key, self.stored(rt, obj), current.revision)
                if written is None:
                    continue
                return self.served(rt, written.obj), False
            rev = await self._remove(rt, key, obj, current.revision)
            if rev is None:
                continue
            return obj, True
        raise K8sError(409, "Conflict", f"too many concurrent writes to {rt.plural} {name!r}")


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))
