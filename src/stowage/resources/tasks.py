"""Task records on the store: lifecycle changes with resource release, reaping.

Placement reserves an instance's resources in the transaction that creates the task
(``controllers/placement``, guarded by the instance's and the cluster's mod revisions). Here:

- ``change``: any read-modify-write of a task; when the task reaches STOPPED for the first time
  its reservation goes back to the instance in the same transaction (``_released``), so an
  instance's remaining resources stay exact.
"""

from __future__ import annotations

from collections.abc import Callable

from stowage.model import container_instances as ci
from stowage.model import tasks as model
from stowage.resources import ecs_keys
from stowage.resources.paging import page
from stowage.resources.records import MAX_CAS_RETRIES, ContentionError, Doc, Record, Records
from stowage.store.base import Compare, Delete


class TaskRecords:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def get(self, account: str, region: str, cluster: str, task_id: str) -> Record | None:
        return await self.records.get(ecs_keys.task(account, region, cluster, task_id))

    async def change(
        self,
        key: str,
        change: Callable[[Doc], Doc | None],
        *,
        cached: Callable[[str], Record | None] | None = None,
    ) -> Record | None:
        """Read-modify-write a task (``change`` must not mutate the document it gets: it returns
        a new one, or None for no change). Returns
        the task as stored, None if it does not exist. Exceptions from ``change`` pass through.
        ``cached``: a recent copy of records by key (the controllers' index), tried first for
        the task and its instance: a stale one only loses the compare and is re-read."""
        hint = cached
        for _ in range(MAX_CAS_RETRIES):
            current = (hint(key) if hint is not None else None) or await self.records.get(key)
            if current is None:
                return None
            # No copy: ``change`` returns a new document (the model's changes copy what they
            # touch) and never mutates the one it is given, which the index shares.
            new = change(current.doc)
            if new is None:
                return current
            compares = [Compare.mod_revision(key, current.mod_revision)]
            writes: list[tuple[str, Doc]] = []
            if new.get("lastStatus") == model.STOPPED and not new.get("_released"):
                new["_released"] = True
                instance = await self._instance_of(key, new, hint)
                if instance is not None:
                    compares.append(Compare.mod_revision(instance.key, instance.mod_revision))
                    writes.append((instance.key, _released(instance.doc, new)))
            writes.append((key, new))
            result = await self.records.commit(compares, writes, hand_over=True)
            if result.succeeded:
                return Record(key, new, result.revision)
            hint = None  # lost the compare: read the store from now on
        raise ContentionError(f"too much contention on {key}")

    async def _instance_of(
        self, task_key: str, doc: Doc, cached: Callable[[str], Record | None] | None = None
    ) -> Record | None:
        key = ecs_keys.task_instance(task_key, doc)
        if key is None:
            return None
        return (cached(key) if cached is not None else None) or await self.records.get(key)

    async def delete(self, rec: Record) -> bool:
        """Delete a task if it is still as read (the reaper)."""
        result = await self.records.store.txn(
            [Compare.mod_revision(rec.key, rec.mod_revision)], [Delete(rec.key)]
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
            self.records, ecs_keys.tasks(account, region, cluster), after=after, limit=limit, keep=keep
        )


def _released(instance: Doc, task: Doc) -> Doc:
    needs = model.Needs.from_doc(task["_needs"])
    inst = dict(instance)  # shallow: release builds a new list, nothing shared is mutated
    inst["remainingResources"] = ci.release(
        inst["remainingResources"], needs.cpu, needs.memory, needs.tcp, needs.udp
    )
    inst["_activeTasks"] = max(int(inst.get("_activeTasks", 0)) - 1, 0)
    inst["version"] = int(inst.get("version", 0)) + 1
    return inst
