"""Allocation records of the Kubernetes API's Service ranges: one key per allocated cluster IP
or node port, naming the service that holds it (etcd's ``/registry/ranges`` of a real API
server, one key per value instead of one bitmap, so that an allocation is a plain
create-if-absent in the same transaction as the Service write).

Key layout (the only place that spells it)::

    /k8s-ranges/<space>/serviceips/<ip>
    /k8s-ranges/<space>/servicenodeports/<port>

Outside ``/k8s/``, so no object informer ever sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from stowage.store.base import Compare, Delete, Put, Store

SERVICE_IPS = "serviceips"
NODE_PORTS = "servicenodeports"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a value: the service's ``namespace/name`` and uid."""

    service: str
    uid: str


def range_prefix(space: str, kind: str) -> str:
    return f"/k8s-ranges/{space}/{kind}/"


def range_key(space: str, kind: str, value: str | int) -> str:
    return f"{range_prefix(space, kind)}{value}"


class Ranges:
    """Reads of one object space's allocations, and the txn pieces that change them."""

    def __init__(self, store: Store, space: str) -> None:
        self.store = store
        self.space = space

    async def taken(self, kind: str) -> dict[str, Holder]:
        """Every allocated value of ``kind`` and its holder."""
        prefix = range_prefix(self.space, kind)
        result = await self.store.range(prefix)
        return {kv.key[len(prefix) :]: _holder(kv.value) for kv in result.kvs}

    async def holder(self, kind: str, value: str | int) -> Holder | None:
        kv = await self.store.get(range_key(self.space, kind, value))
        return None if kv is None else _holder(kv.value)

    def claim(self, kind: str, value: str | int, holder: Holder) -> tuple[Compare, Put]:
        """The compare (still free) and the put of one allocation."""
        key = range_key(self.space, kind, value)
        body = orjson.dumps({"service": holder.service, "uid": holder.uid})
        return Compare.absent(key), Put(key, body)

    def release(self, kind: str, value: str | int) -> Delete:
        return Delete(range_key(self.space, kind, value))


def _holder(raw: bytes) -> Holder:
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        return Holder("", "")
    return Holder(str(doc.get("service") or ""), str(doc.get("uid") or ""))
