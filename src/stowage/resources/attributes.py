"""Custom attribute records: one per (cluster, container instance, attribute name).

Attributes are kept apart from the container instance record so that PutAttributes and the
instance's own writers (agent heartbeats, task accounting) never contend on one document.
"""

from __future__ import annotations

from stowage.resources import ecs_keys
from stowage.resources.paging import page
from stowage.resources.records import Doc, Record, Records


class AttributeRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def target_exists(self, account: str, region: str, cluster: str, instance_id: str) -> bool:
        return (
            await self.records.get(ecs_keys.container_instance(account, region, cluster, instance_id))
            is not None
        )

    async def names(self, account: str, region: str, cluster: str, instance_id: str) -> set[str]:
        prefix = f"{ecs_keys.attributes(account, region, cluster)}{instance_id}/"
        recs, _ = await self.records.list(prefix)
        return {r.doc["name"] for r in recs}

    async def put(self, account: str, region: str, cluster: str, instance_id: str, doc: Doc) -> None:
        await self.records.put(ecs_keys.attribute(account, region, cluster, instance_id, doc["name"]), doc)

    async def delete(self, account: str, region: str, cluster: str, instance_id: str, name: str) -> None:
        await self.records.delete(ecs_keys.attribute(account, region, cluster, instance_id, name))

    async def page(
        self,
        account: str,
        region: str,
        cluster: str,
        *,
        name: str | None,
        value: str | None,
        after: str | None,
        limit: int,
    ) -> tuple[list[Doc], str | None]:
        def keep(rec: Record) -> bool:
            return name in (None, rec.doc["name"]) and value in (None, rec.doc.get("value"))

        recs, nxt = await page(
            self.records, ecs_keys.attributes(account, region, cluster), after=after, limit=limit, keep=keep
        )
        return [r.doc for r in recs], nxt
