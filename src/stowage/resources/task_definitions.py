"""Task definitions on the store: one record per revision plus one index record per family.

The family record is the family's index and its revision counter::

    {"family": "web", "lastRevision": 7,
     "revisions": {"ACTIVE": [5, 7], "INACTIVE": [1, 2, 3, 6], "DELETE_IN_PROGRESS": [4]}}

Every change to a revision's status is one store transaction over both records, guarded by
both records' mod revisions, so the index never disagrees with the revisions and two
concurrent registrations of one family can never take the same number (the loser of the
compare-and-swap re-reads ``lastRevision`` and tries the next one). Listing operations read
only family records; revision records are read when a caller needs the document.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stowage.resources import ecs_keys
from stowage.resources.records import MAX_CAS_RETRIES, ContentionError, Doc, Record, Records
from stowage.store.base import Compare, Delete

STATUSES = ("ACTIVE", "INACTIVE", "DELETE_IN_PROGRESS")


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    last_revision: int
    revisions: dict[str, list[int]]
    """Status → revision numbers in that status, ascending."""

    @classmethod
    def from_doc(cls, doc: Doc) -> Family:
        revs = doc.get("revisions") or {}
        return cls(doc["family"], int(doc["lastRevision"]), {s: list(revs.get(s, [])) for s in STATUSES})

    def latest_active(self) -> int | None:
        active = self.revisions["ACTIVE"]
        return active[-1] if active else None

    def status_of(self, revision: int) -> str | None:
        for status, revs in self.revisions.items():
            if revision in revs:
                return status
        return None


def _family_doc(name: str, last: int, revisions: dict[str, list[int]]) -> Doc:
    return {
        "family": name,
        "lastRevision": last,
        "revisions": {s: sorted(revisions.get(s, [])) for s in STATUSES},
    }


async def _backoff(attempt: int) -> None:
    """After a lost compare-and-swap: a short random pause, growing with the attempts, so a burst
    of writers to one family spreads out instead of colliding again in lockstep."""
    await asyncio.sleep(random.uniform(0, min(0.05, 0.001 * (attempt + 1))))


class TaskDefinitionStore:
    """Task-definition records of every account and region on one store."""

    def __init__(self, records: Records) -> None:
        self.records = records

    async def register(self, account: str, region: str, family: str, build: Callable[[int], Doc]) -> Record:
        """Store a new revision of ``family``; ``build(revision)`` makes its document (it may be
        called more than once when registrations race, so it must be cheap and pure). The new
        revision is ACTIVE."""
        fkey = ecs_keys.task_definition_family(account, region, family)
        for attempt in range(MAX_CAS_RETRIES):
            current = await self.records.get(fkey)
            fam = Family.from_doc(current.doc) if current else Family(family, 0, {s: [] for s in STATUSES})
            revision = fam.last_revision + 1
            doc = build(revision)
            revisions = copy.deepcopy(fam.revisions)
            revisions["ACTIVE"].append(revision)
            key = ecs_keys.task_definition(account, region, family, revision)
            result = await self.records.commit(
                [Compare.mod_revision(fkey, current.mod_revision if current else 0), Compare.absent(key)],
                [(fkey, _family_doc(family, revision, revisions)), (key, doc)],
            )
            if result.succeeded:
                return Record(key, doc, result.revision)
            await _backoff(attempt)
        raise ContentionError(f"too much contention registering {family}")

    async def get(self, account: str, region: str, family: str, revision: int) -> Record | None:
        return await self.records.get(ecs_keys.task_definition(account, region, family, revision))

    async def family(self, account: str, region: str, family: str) -> Family | None:
        rec = await self.records.get(ecs_keys.task_definition_family(account, region, family))
        return None if rec is None else Family.from_doc(rec.doc)

    async def latest_active(self, account: str, region: str, family: str) -> Record | None:
        fam = await self.family(account, region, family)
        revision = None if fam is None else fam.latest_active()
        return None if revision is None else await self.get(account, region, family, revision)

    async def families(self, account: str, region: str, prefix: str = "") -> list[Family]:
        """Families whose name starts with ``prefix``, in name order."""
        base = ecs_keys.task_definition_families(account, region)
        out: list[Family] = []
        after: str | None = None
        while True:
            recs, more = await self.records.list(base + prefix, start_after=after, limit=1000)
            out.extend(Family.from_doc(r.doc) for r in recs)
            if not more:
                return out
            after = recs[-1].key

    async def change(
        self, account: str, region: str, family: str, revision: int, change: Callable[[Doc], Doc | None]
    ) -> Record | None:
        """Read-modify-write one revision (deregister, delete, tag), keeping the family index in
        step with its ``status``. ``change`` gets a private copy and returns the new document,
        or None to leave it as it is. Returns the record as stored, or None if it does not
        exist. Exceptions from ``change`` pass through."""
        key = ecs_keys.task_definition(account, region, family, revision)
        fkey = ecs_keys.task_definition_family(account, region, family)
        for attempt in range(MAX_CAS_RETRIES):
            current = await self.records.get(key)
            if current is None:
                return None
            new = change(copy.deepcopy(current.doc))
            if new is None:
                return current
            writes: list[tuple[str, Doc]] = [(key, new)]
            compares = [Compare.mod_revision(key, current.mod_revision)]
            if new.get("status") != current.doc.get("status"):
                frec = await self.records.get(fkey)
                if frec is None:  # pragma: no cover - register writes both records at once
                    raise RuntimeError(f"task definition {key} has no family record")
                fam = Family.from_doc(frec.doc)
                revisions = {s: [r for r in revs if r != revision] for s, revs in fam.revisions.items()}
                revisions[new["status"]].append(revision)
                writes.append((fkey, _family_doc(family, fam.last_revision, revisions)))
                compares.append(Compare.mod_revision(fkey, frec.mod_revision))
            result = await self.records.commit(compares, writes)
            if result.succeeded:
                return Record(key, new, result.revision)
            await _backoff(attempt)
        raise ContentionError(f"too much contention on {key}")

    async def purge(self, account: str, region: str, family: str, revision: int) -> bool:
        """Remove a revision for good (what ECS does to DELETE_IN_PROGRESS revisions once no
        task or service uses them). The family record stays, so numbers are never reused."""
        key = ecs_keys.task_definition(account, region, family, revision)
        fkey = ecs_keys.task_definition_family(account, region, family)
        for _ in range(MAX_CAS_RETRIES):
            current = await self.records.get(key)
            frec = await self.records.get(fkey)
            if current is None or frec is None:
                return False
            fam = Family.from_doc(frec.doc)
            revisions = {s: [r for r in revs if r != revision] for s, revs in fam.revisions.items()}
            result = await self.records.commit(
                [
                    Compare.mod_revision(key, current.mod_revision),
                    Compare.mod_revision(fkey, frec.mod_revision),
                ],
                [(fkey, _family_doc(family, fam.last_revision, revisions))],
                extra=[Delete(key)],
            )
            if result.succeeded:
                return True
        raise ContentionError(f"too much contention on {key}")


def public_view(doc: Doc) -> dict[str, Any]:
    """The TaskDefinition shape of a stored document (tags travel separately)."""
    return {k: v for k, v in doc.items() if k != "tags"}
