"""Cluster records on the store: read, create (idempotent on name), update with CAS, list.

Deleted clusters stay as INACTIVE records (DescribeClusters still shows them, as ECS does);
creating a cluster with the name of an INACTIVE one replaces it with a fresh ACTIVE record.
"""

from __future__ import annotations

from collections.abc import Callable

from stowage.model import clusters as model
from stowage.model.fargate import POOL_CLUSTER
from stowage.resources import ecs_keys
from stowage.resources.paging import collect, page
from stowage.resources.records import Doc, Record, RecordExists, Records, encode
from stowage.store.base import CompareFailed


class ClusterRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def get(self, account: str, region: str, name: str) -> Doc | None:
        rec = await self.records.get(ecs_keys.cluster(account, region, name))
        return None if rec is None else rec.doc

    async def get_active(self, account: str, region: str, name: str) -> Doc | None:
        doc = await self.get(account, region, name)
        return doc if doc is not None and model.is_active(doc) else None

    async def create(self, account: str, region: str, name: str, doc: Doc) -> tuple[Doc, bool]:
        """Store ``doc`` unless an ACTIVE cluster has the name. Returns the cluster and whether
        it was created (False: the existing ACTIVE cluster)."""
        key = ecs_keys.cluster(account, region, name)
        while True:
            try:
                await self.records.create(key, doc)
                return doc, True
            except RecordExists as exists:
                if model.is_active(exists.current.doc):
                    return exists.current.doc, False
                try:
                    await self.records.store.put(
                        key, encode(doc), expect_mod_revision=exists.current.mod_revision
                    )
                    return doc, True
                except CompareFailed:
                    continue

    async def update(self, account: str, region: str, name: str, change: Callable[[Doc], Doc | None]) -> Doc:
        """CAS read-modify-write; raises ``RecordMissing`` if there is no such record."""
        rec = await self.records.update(ecs_keys.cluster(account, region, name), change)
        return rec.doc

    async def page_active(
        self, account: str, region: str, *, after: str | None, limit: int
    ) -> tuple[list[Doc], str | None]:
        recs, nxt = await page(
            self.records, ecs_keys.clusters(account, region), after=after, limit=limit, keep=_active
        )
        return [r.doc for r in recs], nxt

    async def all_active(self, account: str, region: str) -> list[Doc]:
        return [r.doc for r in await collect(self.records, ecs_keys.clusters(account, region), _active)]


def _active(rec: Record) -> bool:
    # The Fargate pool's cluster is stowage's own, not a user cluster: never listed.
    return model.is_active(rec.doc) and rec.doc.get("clusterName") != POOL_CLUSTER
