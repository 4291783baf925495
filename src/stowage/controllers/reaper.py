"""The reaper: forgets STOPPED tasks and deregistered instances once their retention has passed.

ECS keeps stopped tasks describable for at least an hour; ``retention`` (seconds) is that
hour by default. A task is deleted only if it is still exactly as the sweep read it (a
compare on its mod revision), so a late report is never lost to a race. Time is injected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.stats import StatsSink
from stowage.model import container_instances as ci
from stowage.model import tasks as task_model
from stowage.resources.container_instances import InstanceRecords
from stowage.resources.records import Record, Records
from stowage.resources.tasks import TaskRecords

log = logging.getLogger("stowage.controllers.reaper")


class Reaper:
    def __init__(
        self,
        records: Records,
        index: EcsIndex,
        stats: StatsSink,
        *,
        clock: Callable[[], float],
        retention: float = 3600.0,
    ) -> None:
        self.tasks = TaskRecords(records)
        self.instances = InstanceRecords(records)
        self.index = index
        self.stats = stats
        self.clock = clock
        self.retention = retention
        self.hold: Callable[[Record], bool] | None = None
        """Keeps a stopped task past its retention while it says so (the Fargate usage ledger
        holds a task until its usage is written)."""

    async def sweep(self) -> int:
        """Delete what has expired; returns how many records went."""
        now = self.clock()
        removed = 0
        for rec in self.index.tasks():
            doc = rec.doc
            stopped_at = doc.get("stoppedAt")
            if doc.get("lastStatus") != task_model.STOPPED or stopped_at is None:
                continue
            if now - float(stopped_at) < self.retention or (self.hold is not None and self.hold(rec)):
                continue
            if await self.tasks.delete(rec):
                self.stats.forget(str(doc["taskArn"]))
                removed += 1
        for rec in self.index.instances():
            gone_at = rec.doc.get("_inactiveAt")
            if rec.doc.get("status") != ci.INACTIVE or gone_at is None:
                continue
            if now - float(gone_at) >= self.retention and await self.instances.remove(rec):
                removed += 1
        return removed

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("reaper sweep failed")
