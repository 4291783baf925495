"""Port claims of the EKS clusters' endpoints: one key per port in use, naming the cluster that
holds it. A claim is written in the same transaction as the cluster record that names the port
(CreateCluster) and deleted in the same transaction as that record (the controller's delete),
so two clusters of any account or region never share a port, and a deleted cluster's port is
free again.

Key layout (the only place that spells it)::

    /eks-ports/<port>

Outside ``/eks/``, so the EKS controller's list+watch never reads them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson

from stowage.store.base import Compare, Delete, Put, Store

PREFIX = "/eks-ports/"


def port_key(port: int) -> str:
    return f"{PREFIX}{port}"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a port: the cluster's record key and id (a re-created cluster is another)."""

    cluster: str
    id: str


def claim(port: int, holder: Holder) -> tuple[Compare, Put]:
    """The compare (still free) and the put of one claim."""
    value = orjson.dumps({"cluster": holder.cluster, "id": holder.id})
    return Compare.absent(port_key(port)), Put(port_key(port), value)


def release(port: int) -> Delete:
    return Delete(port_key(port))


async def holder_of(store: Store, port: int) -> Holder | None:
    kv = await store.get(port_key(port))
    return None if kv is None else _holder(kv.value)


def _holder(raw: bytes) -> Holder:
    doc = orjson.loads(raw)
    return Holder(str(doc["cluster"]), str(doc["id"]))


class EksPorts:
    """The configured range (``--eks-port-range``) and the claims in it."""

    def __init__(self, store: Store, first: int, last: int) -> None:
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"not a port range within 1-65535: {first}-{last}")
        self.store = store
        self.first = first
        self.last = last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    async def taken(self) -> dict[int, Holder]:
        """Every claimed port (in or out of the current range) and its holder."""
        result = await self.store.range(PREFIX)
        return {int(kv.key[len(PREFIX) :]): _holder(kv.value) for kv in result.kvs}

    async def pick(self, usable: Callable[[int], bool]) -> int | None:
        """The first port of the range nobody claims that ``usable`` accepts (no other process
        listens there now), or None when there is none. Claim it with ``claim`` in the
        transaction that writes the cluster: a concurrent pick of the same port loses there."""
        taken = await self.taken()
        for port in range(self.first, self.last + 1):
            if port not in taken and usable(port):
                return port
        return None
