"""Capacity provider records on the store. FARGATE and FARGATE_SPOT have no record: they are
built in (see ``model.capacity_providers.builtin``)."""

from __future__ import annotations

from collections.abc import Callable

from stowage.resources import ecs_keys
from stowage.resources.paging import collect, page
from stowage.resources.records import Doc, Records


class CapacityProviderRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def get(self, account: str, region: str, name: str) -> Doc | None:
        rec = await self.records.get(ecs_keys.capacity_provider(account, region, name))
        return None if rec is None else rec.doc

    async def create(self, account: str, region: str, name: str, doc: Doc) -> None:
        """Raises ``RecordExists`` if the name is taken."""
        await self.records.create(ecs_keys.capacity_provider(account, region, name), doc)

    async def update(self, account: str, region: str, name: str, change: Callable[[Doc], Doc | None]) -> Doc:
        rec = await self.records.update(ecs_keys.capacity_provider(account, region, name), change)
        return rec.doc

    async def delete(self, account: str, region: str, name: str) -> None:
        await self.records.delete(ecs_keys.capacity_provider(account, region, name))

    async def page(
        self, account: str, region: str, *, after: str | None, limit: int
    ) -> tuple[list[Doc], str | None]:
        recs, nxt = await page(
            self.records, ecs_keys.capacity_providers(account, region), after=after, limit=limit
        )
        return [r.doc for r in recs], nxt

    async def all(self, account: str, region: str) -> list[Doc]:
        return [r.doc for r in await collect(self.records, ecs_keys.capacity_providers(account, region))]
