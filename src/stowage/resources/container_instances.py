"""Container instance records on the store, and the cluster's instance count kept in step.

A cluster's ``registeredContainerInstancesCount`` is part of the cluster record and changes only
here, in the same transaction as the instance's own status change (ACTIVE/DRAINING count,
INACTIVE does not), guarded by both records' mod revisions. Registrations are rare, so the
cluster record is not hot, and DeleteCluster's refusal reads an exact number inside its own
compare-and-swap.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable

from stowage.model import container_instances as model
from stowage.resources import ecs_keys
from stowage.resources.paging import page
from stowage.resources.records import MAX_CAS_RETRIES, ContentionError, Doc, Record, Records
from stowage.store.base import Compare, Delete

BACKOFF_AFTER = 4
"""Lost compares after which a change waits a random few milliseconds before trying again."""


class ClusterGone(Exception):
    """The cluster was deleted (or never existed) while an instance change was in flight."""


def _counted(doc: Doc | None) -> bool:
    return doc is not None and doc.get("status") in (model.ACTIVE, model.DRAINING)


class InstanceRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def get(self, account: str, region: str, cluster: str, instance_id: str) -> Record | None:
        return await self.records.get(ecs_keys.container_instance(account, region, cluster, instance_id))

    async def change(
        self,
        account: str,
        region: str,
        cluster: str,
        instance_id: str,
        change: Callable[[Doc | None], Doc | None],
    ) -> Record | None:
        """Read-modify-write one instance (``change`` gets a private copy, or None when there is
        no record, and returns the new document or None for no change). When the change moves
        the instance in or out of the counted statuses, the cluster's count moves with it in
        the same transaction; a cluster that is not ACTIVE then raises ``ClusterGone``."""
        key = ecs_keys.container_instance(account, region, cluster, instance_id)
        ckey = ecs_keys.cluster(account, region, cluster)
        for attempt in range(MAX_CAS_RETRIES):
            if attempt >= BACKOFF_AFTER:
                # A burst of registrations all bump the cluster's instance count: retrying at
                # once mostly loses again, a few random milliseconds apart they get through.
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
            current = await self.records.get(key)
            new = change(copy.deepcopy(current.doc) if current else None)
            if new is None:
                return current
            compares = [Compare.mod_revision(key, current.mod_revision if current else 0)]
            writes: list[tuple[str, Doc]] = [(key, new)]
            delta = int(_counted(new)) - int(_counted(current.doc if current else None))
            if delta:
                crec = await self.records.get(ckey)
                if crec is None or crec.doc.get("status") != "ACTIVE":
                    if delta > 0:
                        raise ClusterGone(cluster)
                else:
                    cdoc = copy.deepcopy(crec.doc)
                    count = int(cdoc.get("registeredContainerInstancesCount", 0)) + delta
                    cdoc["registeredContainerInstancesCount"] = max(count, 0)
                    compares.append(Compare.mod_revision(ckey, crec.mod_revision))
                    writes.append((ckey, cdoc))
            result = await self.records.commit(compares, writes)
            if result.succeeded:
                return Record(key, new, result.revision)
        raise ContentionError(f"too much contention on {key}")

    async def remove(self, rec: Record) -> bool:
        """Delete a deregistered instance's record and its custom attributes (the reaper)."""
        parsed = ecs_keys.parse(rec.key)
        assert parsed is not None
        account, region, _family, cluster, instance_id = parsed
        attrs = f"{ecs_keys.attributes(account, region, cluster)}{instance_id}/"
        result = await self.records.store.txn(
            [Compare.mod_revision(rec.key, rec.mod_revision)], [Delete(rec.key), Delete(attrs, prefix=True)]
        )
        return result.succeeded

    async def page(
        self,
        account: str,
        region: str,
        cluster: str,
        *,
        after: str | None,
        limit: int,
        keep: Callable[[Record], bool],
    ) -> tuple[list[Record], str | None]:
        return await page(
            self.records,
            ecs_keys.container_instances(account, region, cluster),
            after=after,
            limit=limit,
            keep=keep,
        )

    async def custom_attributes(self, account: str, region: str, cluster: str) -> dict[str, list[Doc]]:
        """Instance id → its PutAttributes records, for the whole cluster in one range."""
        prefix = ecs_keys.attributes(account, region, cluster)
        out: dict[str, list[Doc]] = {}
        after: str | None = None
        while True:
            recs, more = await self.records.list(prefix, start_after=after, limit=1000)
            for rec in recs:
                out.setdefault(rec.key[len(prefix) :].split("/", 1)[0], []).append(rec.doc)
            if not more or not recs:
                return out
            after = recs[-1].key
