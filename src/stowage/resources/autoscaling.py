"""Application Auto Scaling records on the store: key layout (the only place that spells it)
and typed access.

Key layout (resource ids percent-encoded, so ``service/c/s`` is one key segment)::

    /autoscaling/<account>/<region>/targets/<namespace>/<resource id>/<dimension>
    /autoscaling/<account>/<region>/policies/<namespace>/<resource id>/<dimension>/<policy name>
    /autoscaling/<account>/<region>/scheduled/<namespace>/<resource id>/<dimension>/<action name>
    /autoscaling/<account>/<region>/activities/<namespace>/<resource id>/<dimension>/<seq>

A target's children sit under ``<family>/<namespace>/<resource id>/<dimension>/``, so
deregistering removes each family's prefix. Activities are keyed newest first (``seq`` counts
down from 10^15 in milliseconds) and a target keeps at most ``MAX_ACTIVITIES`` of them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.parse import quote, unquote

from stowage.resources.paging import collect, page
from stowage.resources.records import Doc, Record, RecordExists, Records

PREFIX = "/autoscaling/"
TARGETS, POLICIES, SCHEDULED, ACTIVITIES = "targets", "policies", "scheduled", "activities"
MAX_ACTIVITIES = 500
ACTIVITY_RETENTION = 42 * 86400.0
"""AWS answers the last six weeks of activities."""

_SEQ_BASE = 10**15


def _q(part: str) -> str:
    return quote(part, safe="")


def scope(account: str, region: str) -> str:
    return f"{PREFIX}{account}/{region}/"


def family_prefix(account: str, region: str, family: str, namespace: str | None = None) -> str:
    base = f"{scope(account, region)}{family}/"
    return base if namespace is None else f"{base}{_q(namespace)}/"


def target_key(account: str, region: str, namespace: str, resource_id: str, dimension: str) -> str:
    return f"{family_prefix(account, region, TARGETS, namespace)}{_q(resource_id)}/{_q(dimension)}"


def child_prefix(
    account: str, region: str, family: str, namespace: str, *, rid: str | None, dim: str | None
) -> str:
    """A family's records of one namespace, narrowed to a resource id (and dimension) if given."""
    base = family_prefix(account, region, family, namespace)
    if rid is None:
        return base
    base = f"{base}{_q(rid)}/"
    return base if dim is None else f"{base}{_q(dim)}/"


def child_key(target: tuple[str, str, str, str, str], family: str, name: str) -> str:
    """``target`` is (account, region, namespace, resource id, dimension)."""
    account, region, namespace, resource_id, dimension = target
    prefix = child_prefix(account, region, family, namespace, rid=resource_id, dim=dimension)
    return f"{prefix}{_q(name)}"


def parse_target_key(key: str) -> tuple[str, str, str, str, str] | None:
    """(account, region, namespace, resource id, dimension)."""
    parts = key.split("/")
    if len(parts) != 8 or parts[1] != "autoscaling" or parts[4] != TARGETS:
        return None
    return parts[2], parts[3], unquote(parts[5]), unquote(parts[6]), unquote(parts[7])


class AutoscalingRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    # -- targets ----------------------------------------------------------------------------
    async def target(
        self, account: str, region: str, namespace: str, resource_id: str, dimension: str
    ) -> Record | None:
        return await self.records.get(target_key(account, region, namespace, resource_id, dimension))

    async def create_target(self, key: str, doc: Doc) -> Record:
        """Raises ``RecordExists`` when another registration won the race."""
        return await self.records.create(key, doc)

    async def update(self, key: str, change: Callable[[Doc], Doc | None]) -> Record:
        return await self.records.update(key, change)

    async def targets(self, account: str, region: str, namespace: str | None = None) -> list[Record]:
        return await collect(self.records, family_prefix(account, region, TARGETS, namespace))

    async def all_targets(self) -> list[Record]:
        """Every account's and region's targets (the controller's view)."""
        return await collect(self.records, PREFIX, keep=lambda r: parse_target_key(r.key) is not None)

    async def count_targets(self, account: str, region: str, namespace: str) -> int:
        return len(await self.targets(account, region, namespace))

    async def page_targets(
        self,
        account: str,
        region: str,
        namespace: str,
        *,
        after: str | None,
        limit: int,
        keep: Callable[[Record], bool],
    ) -> tuple[list[Record], str | None]:
        return await page(
            self.records,
            family_prefix(account, region, TARGETS, namespace),
            after=after,
            limit=limit,
            keep=keep,
        )

    async def remove_target(self, rec: Record) -> None:
        """The target and its policies and scheduled actions (its activities stay)."""
        parsed = parse_target_key(rec.key)
        assert parsed is not None
        account, region, namespace, resource_id, dimension = parsed
        for family in (POLICIES, SCHEDULED):
            prefix = child_prefix(account, region, family, namespace, rid=resource_id, dim=dimension)
            for child in await collect(self.records, prefix):
                await self.records.delete(child.key)
        await self.records.delete(rec.key)

    # -- policies and scheduled actions -----------------------------------------------------
    async def children(
        self,
        account: str,
        region: str,
        family: str,
        namespace: str,
        *,
        rid: str | None = None,
        dim: str | None = None,
    ) -> list[Record]:
        prefix = child_prefix(account, region, family, namespace, rid=rid, dim=dim)
        return await collect(self.records, prefix)

    async def page_children(
        self,
        prefix: str,
        *,
        after: str | None,
        limit: int,
        keep: Callable[[Record], bool],
    ) -> tuple[list[Record], str | None]:
        return await page(self.records, prefix, after=after, limit=limit, keep=keep)

    async def get(self, key: str) -> Record | None:
        return await self.records.get(key)

    async def put(self, key: str, doc: Doc) -> Record:
        return await self.records.put(key, doc)

    async def delete(self, key: str) -> None:
        await self.records.delete(key)

    # -- activities -------------------------------------------------------------------------
    async def add_activity(self, target: tuple[str, str, str, str, str], doc: Doc, now: float) -> Record:
        """``target`` is (account, region, namespace, resource id, dimension)."""
        account, region, namespace, resource_id, dimension = target
        prefix = child_prefix(account, region, ACTIVITIES, namespace, rid=resource_id, dim=dimension)
        seq = _SEQ_BASE - int(now * 1000)
        while True:
            key = f"{prefix}{seq:016d}-{uuid.uuid4().hex[:8]}"
            try:
                rec = await self.records.create(key, doc)
                break
            except RecordExists:
                continue
        await self._prune(prefix, now)
        return rec

    async def _prune(self, prefix: str, now: float) -> None:
        kept, _ = await self.records.list(prefix, limit=MAX_ACTIVITIES + 50)
        for i, rec in enumerate(kept):
            if i >= MAX_ACTIVITIES or now - float(rec.doc.get("StartTime") or now) > ACTIVITY_RETENTION:
                await self.records.delete(rec.key)
