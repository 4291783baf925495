"""Kubernetes objects on the store: key layout, JSON codec, and compare-and-swap writes.

Key layout (the only place that spells it)::

    /k8s/<cluster>/<group>/<resource>/<namespace>/<name>

``<group>`` is ``core`` for the legacy group, ``<namespace>`` is ``_`` for cluster-scoped
resources. ``<cluster>`` separates object spaces: ``local`` is stowage's own API server, each
EKS cluster (issue 8) gets its own. Objects are stored without ``metadata.resourceVersion``:
it *is* the key's mod revision, filled in on every read, so it can never disagree with the
store. A list's resourceVersion is the store revision it was read at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from stowage.store.base import Compare, CompareFailed, Delete, KeyValue, Op, Put, Store, Watch

Obj = dict[str, Any]

CLUSTER_LOCAL = "local"
CLUSTER_SCOPE = "_"


@dataclass(frozen=True, slots=True)
class Stored:
    obj: Obj
    """The object with ``metadata.resourceVersion`` filled in."""
    revision: int
    key: str = ""


def cluster_prefix(cluster: str) -> str:
    return f"/k8s/{cluster}/"


def resource_prefix(cluster: str, group: str, resource: str, namespace: str | None = None) -> str:
    """Every object of a resource (``namespace`` None), or of one namespace."""
    base = f"/k8s/{cluster}/{group or 'core'}/{resource}/"
    return base if namespace is None else f"{base}{namespace or CLUSTER_SCOPE}/"


def object_key(cluster: str, group: str, resource: str, namespace: str, name: str) -> str:
    return f"{resource_prefix(cluster, group, resource, namespace)}{name}"


def parse_key(key: str) -> tuple[str, str, str, str, str] | None:
    """``(cluster, group, resource, namespace, name)`` of an object key ('' for core/cluster)."""
    parts = key.split("/")
    if len(parts) != 7 or parts[1] != "k8s":
        return None
    _, _, cluster, group, resource, namespace, name = parts
    return (
        cluster,
        "" if group == "core" else group,
        resource,
        "" if namespace == CLUSTER_SCOPE else namespace,
        name,
    )


def decode(kv: KeyValue) -> Obj:
    obj = orjson.loads(kv.value)
    if not isinstance(obj, dict):
        raise ValueError(f"stored object at {kv.key} is not a JSON object")
    meta = obj.setdefault("metadata", {})
    meta["resourceVersion"] = str(kv.mod_revision)
    return obj


def encode(obj: Obj) -> bytes:
    meta = obj.get("metadata") or {}
    if "resourceVersion" in meta:
        obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "resourceVersion"}}
    return orjson.dumps(obj)


class K8sObjects:
    """Object access for one store. Stateless apart from the store: cheap to share."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def get(self, key: str) -> Stored | None:
        kv = await self.store.get(key)
        return None if kv is None else Stored(decode(kv), kv.mod_revision, kv.key)

    async def list(
        self, prefix: str, *, start_after: str | None = None, limit: int = 0
    ) -> tuple[list[Stored], bool, int]:
        """Objects under ``prefix`` in key order, whether more follow, and the read revision."""
        result = await self.store.range(prefix, start_after=start_after, limit=limit)
        return (
            [Stored(decode(kv), kv.mod_revision, kv.key) for kv in result.kvs],
            result.more,
            result.revision,
        )

    async def create(self, key: str, obj: Obj) -> Stored | None:
        """Write if absent; None if the key exists."""
        try:
            rev = await self.store.put(key, encode(obj), expect_mod_revision=0)
        except CompareFailed:
            return None
        return Stored(_with_rv(obj, rev), rev, key)

    async def replace(self, key: str, obj: Obj, expect_revision: int) -> Stored | None:
        """Write over the revision ``expect_revision``; None if the object changed or is gone."""
        try:
            rev = await self.store.put(key, encode(obj), expect_mod_revision=expect_revision)
        except CompareFailed:
            return None
        return Stored(_with_rv(obj, rev), rev, key)

    async def delete(self, key: str, expect_revision: int) -> int | None:
        """Delete at ``expect_revision``; the deletion's revision, or None on a lost CAS."""
        try:
            return await self.store.delete(key, expect_mod_revision=expect_revision)
        except CompareFailed:
            return None

    async def write_with(
        self, key: str, obj: Obj, expect_revision: int, compares: Sequence[Compare], ops: Sequence[Op]
    ) -> Stored | None:
        """``create`` (``expect_revision`` 0) or ``replace``, with more guards and writes in the
        same transaction; None if any guard fails."""
        guard = Compare.absent(key) if expect_revision == 0 else Compare.mod_revision(key, expect_revision)
        result = await self.store.txn([guard, *compares], [Put(key, encode(obj)), *ops])
        if not result.succeeded:
            return None
        return Stored(_with_rv(obj, result.revision), result.revision, key)

    async def delete_with(self, key: str, expect_revision: int, ops: Sequence[Op]) -> int | None:
        """``delete`` at ``expect_revision`` with more writes in the same transaction."""
        result = await self.store.txn([Compare.mod_revision(key, expect_revision)], [Delete(key), *ops])
        return result.revision if result.succeeded else None

    async def commit(self, compares: Sequence[Compare], ops: Sequence[Op]) -> bool:
        return (await self.store.txn(compares, ops)).succeeded

    def put_op(self, key: str, obj: Obj) -> Put:
        return Put(key, encode(obj))

    def delete_op(self, key: str) -> Delete:
        return Delete(key)

    def watch(self, prefix: str, start_revision: int | None) -> Watch:
        return self.store.watch(prefix, start_revision=start_revision)

    async def revision(self) -> int:
        return await self.store.revision()


def _with_rv(obj: Obj, rev: int) -> Obj:
    meta = dict(obj.get("metadata") or {})
    meta["resourceVersion"] = str(rev)
    return {**obj, "metadata": meta}
