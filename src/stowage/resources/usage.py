"""The Fargate usage ledger on the store: one record per billed task, written once.

A record is ``metering.TaskUsage.to_doc()`` of a stopped Fargate task, under
``ecs_keys.usage_entry`` (keyed by the UTC day it stopped, its cluster and its task id). It keeps
the task's size and times, not a cost: prices are applied when a bill is read, so the ledger
never goes stale when the price table changes. Writes are create-if-absent, so writing the same
task twice (a retry, the start-up reconcile pass) leaves the first record as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from stowage.model.metering import TaskUsage
from stowage.resources import ecs_keys
from stowage.resources.records import Records
from stowage.store.base import Compare

_BATCH = 512


def stop_day(stopped_at: float) -> str:
    return dt.datetime.fromtimestamp(float(stopped_at), dt.UTC).strftime("%Y-%m-%d")


def entry_key(account: str, region: str, usage: TaskUsage) -> str:
    return ecs_keys.usage_entry(
        account, region, stop_day(usage.end), usage.cluster, usage.task_arn.rpartition("/")[2]
    )


class UsageLedger:
    def __init__(self, records: Records) -> None:
        self.records = records

    async def has(self, key: str) -> bool:
        return await self.records.store.get(key) is not None

    async def write(self, entries: Sequence[tuple[str, TaskUsage]]) -> int:
        """Create the entries that are absent, in as few transactions as it takes; returns how
        many were written. Safe to repeat."""
        missing = [(k, u) for k, u in entries if not await self.has(k)]
        if not missing:
            return 0
        docs = [(k, u.to_doc()) for k, u in missing]
        result = await self.records.commit([Compare.absent(k) for k, _ in docs], docs)
        if result.succeeded:
            return len(docs)
        # someone wrote one of them meanwhile: one at a time, each only if still absent
        written = 0
        for key, doc in docs:
            one = await self.records.commit([Compare.absent(key)], [(key, doc)])
            written += int(one.succeeded)
        return written

    async def read(
        self, account: str, region: str, *, from_day: str | None = None, cluster: str | None = None
    ) -> list[TaskUsage]:
        """Every entry of the account and region that stopped on ``from_day`` or later (all when
        None), of one cluster when ``cluster`` is given."""
        prefix = ecs_keys.usage_ledger(account, region)
        # keys of day D are "<prefix>D/..."; "<prefix>D" sorts just before all of them
        start: str | None = None if from_day is None else prefix + from_day
        out: list[TaskUsage] = []
        while True:
            batch, more = await self.records.list(prefix, start_after=start, limit=_BATCH)
            for rec in batch:
                parsed = ecs_keys.parse_usage(rec.key)
                if parsed is None or (cluster is not None and parsed[3] != cluster):
                    continue
                out.append(TaskUsage.from_doc(rec.doc))
            if not more or not batch:
                return out
            start = batch[-1].key
