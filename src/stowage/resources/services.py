"""Service records on the store: create and retire them with the cluster's service count.

``activeServicesCount`` lives in the cluster record, and DeleteCluster reads it inside its own
compare-and-swap; so creating a service (count up) and a service becoming INACTIVE (count
down) each commit the service record and the cluster record in one transaction guarded by
both mod revisions. A DeleteCluster racing a CreateService makes one of them retry and see
the other.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from stowage.model import clusters as cluster_model
from stowage.model import services as model
from stowage.resources import ecs_keys
from stowage.resources.paging import collect, page
from stowage.resources.records import MAX_CAS_RETRIES, ContentionError, Doc, Record, Records
from stowage.store.base import Compare, CompareFailed


class ClusterGone(Exception):
    """The cluster is not ACTIVE (any more)."""


class ServiceExists(Exception):
    def __init__(self, current: Record) -> None:
        super().__init__(current.key)
        self.current = current


class ServiceRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def get(self, account: str, region: str, cluster: str, name: str) -> Record | None:
        return await self.records.get(ecs_keys.service(account, region, cluster, name))

    async def create(self, account: str, region: str, cluster: str, doc: Doc) -> Record:
        """Store a new ACTIVE service (replacing an INACTIVE one of the same name) and count it
        in the cluster. Raises ``ServiceExists`` (ACTIVE or DRAINING) or ``ClusterGone``."""
        key = ecs_keys.service(account, region, cluster, doc["serviceName"])
        ckey = ecs_keys.cluster(account, region, cluster)
        for _ in range(MAX_CAS_RETRIES):
            current = await self.records.get(key)
            if current is not None and current.doc.get("status") != model.INACTIVE:
                raise ServiceExists(current)
            crec = await self.records.get(ckey)
            if crec is None or not cluster_model.is_active(crec.doc):
                raise ClusterGone(cluster)
            cdoc = copy.deepcopy(crec.doc)
            cdoc["activeServicesCount"] = int(cdoc.get("activeServicesCount", 0)) + 1
            guard = (
                Compare.absent(key) if current is None else Compare.mod_revision(key, current.mod_revision)
            )
            result = await self.records.commit(
                [guard, Compare.mod_revision(ckey, crec.mod_revision)], [(key, doc), (ckey, cdoc)]
            )
            if result.succeeded:
                return Record(key, doc, result.revision)
        raise ContentionError(f"too much contention on {key}")

    async def change(self, key: str, change: Callable[[Doc], Doc | None]) -> Record | None:
        """Read-modify-write a service (None: no such record). When the change makes the service
        INACTIVE, the cluster's ``activeServicesCount`` goes down in the same transaction."""
        parsed = ecs_keys.parse_service(key)
        assert parsed is not None
        account, region, cluster, _name = parsed
        ckey = ecs_keys.cluster(account, region, cluster)
        for _ in range(MAX_CAS_RETRIES):
            current = await self.records.get(key)
            if current is None:
                return None
            new = change(copy.deepcopy(current.doc))
            if new is None:
                return current
            compares = [Compare.mod_revision(key, current.mod_revision)]
            writes: list[tuple[str, Doc]] = [(key, new)]
            if new.get("status") == model.INACTIVE and current.doc.get("status") != model.INACTIVE:
                crec = await self.records.get(ckey)
                if crec is not None:
                    cdoc = copy.deepcopy(crec.doc)
                    cdoc["activeServicesCount"] = max(int(cdoc.get("activeServicesCount", 0)) - 1, 0)
                    compares.append(Compare.mod_revision(ckey, crec.mod_revision))
                    writes.append((ckey, cdoc))
            result = await self.records.commit(compares, writes)
            if result.succeeded:
                return Record(key, new, result.revision)
        raise ContentionError(f"too much contention on {key}")

    async def delete(self, rec: Record) -> bool:
        """Remove an INACTIVE service record for good, if still as read."""
        try:
            await self.records.delete(rec.key, expect_mod_revision=rec.mod_revision)
        except CompareFailed:
            return False
        return True

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
            self.records, ecs_keys.services(account, region, cluster), after=after, limit=limit, keep=keep
        )

    async def all(self, account: str, region: str) -> list[Record]:
        return await collect(self.records, ecs_keys.services(account, region))
