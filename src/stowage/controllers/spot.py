"""FARGATE_SPOT interruptions: reclaiming Spot capacity on demand or at a chaos rate.

AWS may take Fargate Spot capacity back at any time: the task gets a two-minute warning
(an EventBridge event and SIGTERM to its containers) and then stops with ``stopCode:
SpotInterruption``. stowage does the same to RUNNING FARGATE_SPOT tasks, on an admin call
(``reclaim``) or at random at ``rate`` interruptions per task-hour (chaos testing): the task's
desired status becomes STOPPED with that stop code and reason (its agent sends SIGTERM, then
SIGKILL after the container's stop timeout, at most 120 s on Fargate), ``stoppingAt`` records
the warning, and a service owning it gets an event saying so before replacing it.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from stowage.controllers.ecs_index import EcsIndex
from stowage.model import fargate
from stowage.model import services as service_model
from stowage.model import tasks as task_model
from stowage.model.capacity_providers import FARGATE_SPOT
from stowage.resources import ecs_keys
from stowage.resources.records import Doc, Record, Records
from stowage.resources.services import ServiceRecords
from stowage.resources.tasks import TaskRecords

log = logging.getLogger("stowage.controllers.spot")


def interruptible(rec: Record) -> bool:
    """A RUNNING FARGATE_SPOT task not yet asked to stop."""
    doc = rec.doc
    return (
        doc.get("capacityProviderName") == FARGATE_SPOT
        and doc.get("lastStatus") == task_model.RUNNING
        and doc.get("desiredStatus") == task_model.RUNNING
    )


def _interrupt(doc: Doc, now: float) -> Doc | None:
    if doc.get("desiredStatus") == task_model.STOPPED or doc.get("lastStatus") == task_model.STOPPED:
        return None
    new = task_model.stop_requested(doc, fargate.SPOT_REASON, now, code=fargate.SPOT_INTERRUPTION)
    if new is not None:
        new["_spotWarningAt"] = now
    return new


class SpotReclaimer:
    def __init__(
        self,
        records: Records,
        index: EcsIndex,
        *,
        clock: Callable[[], float],
        rate: float = 0.0,
        rng: random.Random | None = None,
    ) -> None:
        self.records = records
        self.index = index
        self.clock = clock
        self.rate = rate
        """Interruptions per RUNNING Spot task per hour (0: only on request)."""
        self.rng = rng or random.Random()

    async def reclaim(
        self, account: str, region: str, *, cluster: str | None = None, count: int = 1
    ) -> list[str]:
        """Interrupt up to ``count`` RUNNING FARGATE_SPOT tasks (of ``cluster`` if given),
        oldest first; returns their ARNs."""
        prefix = ecs_keys.tasks(account, region, cluster) if cluster else ecs_keys.scope(account, region)
        candidates = sorted(
            (r for r in self.index.tasks() if r.key.startswith(prefix) and interruptible(r)),
            key=lambda r: float(r.doc.get("startedAt") or 0),
        )
        done: list[str] = []
        for rec in candidates[:count]:
            if await self._interrupt(rec):
                done.append(str(rec.doc["taskArn"]))
        return done

    async def _interrupt(self, rec: Record) -> bool:
        now = self.clock()
        after = await TaskRecords(self.records).change(rec.key, lambda d: _interrupt(d, now))
        if after is None or after.doc.get("_spotWarningAt") != now:
            return False
        log.info("Spot capacity reclaimed: %s (two-minute warning)", after.doc["taskArn"])
        group = str(after.doc.get("group", ""))
        if group.startswith("service:"):
            await self._tell_service(rec.key, group.removeprefix("service:"), str(after.doc["taskArn"]), now)
        return True

    async def _tell_service(self, task_key: str, service: str, task_arn: str, now: float) -> None:
        parts = task_key.split("/")
        key = ecs_keys.service(parts[2], parts[3], parts[5], service)
        message = (
            f"(service {service}) task {task_arn.rsplit('/', 1)[-1]}: FARGATE_SPOT capacity is "
            "being reclaimed; the task has a two-minute warning and will be stopped (SpotInterruption)."
        )

        def change(doc: Doc) -> Doc:
            service_model.add_event(doc, message, now)
            return doc

        await ServiceRecords(self.records).change(key, change)

    async def run(self, interval: float = 5.0) -> None:
        """Chaos: each RUNNING Spot task is interrupted with probability rate x interval / 1 h."""
        while True:
            await asyncio.sleep(interval)
            if self.rate <= 0:
                continue
            chance = min(1.0, self.rate * interval / 3600.0)
            for rec in [r for r in self.index.tasks() if interruptible(r)]:
                if self.rng.random() < chance:
                    try:
                        await self._interrupt(rec)
                    except Exception:  # one failed interruption must not stop the chaos loop
                        log.exception("Spot interruption of %s failed", rec.key)
