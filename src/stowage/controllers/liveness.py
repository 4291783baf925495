"""Agent liveness: PollAssignments is the heartbeat; a silent agent is marked disconnected.

Heartbeats are kept in memory (one float per instance), so a thousand agents polling cost no
store writes; the record's ``agentConnected`` is written only when it flips. An instance this
process has not heard from yet gets a full timeout of grace from the first sweep that sees it
(after a control-plane restart, agents get time to poll again before they are marked
disconnected). Time is injected: tests call ``heartbeat``/``sweep`` with their own clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from stowage.controllers.ecs_index import EcsIndex
from stowage.model import container_instances as ci
from stowage.resources import ecs_keys
from stowage.resources.container_instances import InstanceRecords
from stowage.resources.records import Doc, Records

log = logging.getLogger("stowage.controllers.liveness")


class Liveness:
    def __init__(
        self, records: Records, index: EcsIndex, *, clock: Callable[[], float], timeout: float = 60.0
    ) -> None:
        self.records = records
        self.index = index
        self.clock = clock
        self.timeout = timeout
        self._seen: dict[str, float] = {}
        self._flipped: set[str] = set()
        """Instances this process marked disconnected (the index may not show it yet)."""

    async def heartbeat(self, account: str, region: str, cluster: str, instance_id: str, doc: Doc) -> None:
        """An agent polled. ``doc`` is its instance record as the caller read it."""
        now = self.clock()
        key = ecs_keys.container_instance(account, region, cluster, instance_id)
        self._seen[key] = now
        if (doc.get("agentConnected") and key not in self._flipped) or doc.get("status") == ci.INACTIVE:
            return
        self._flipped.discard(key)

        def connect(current: Doc | None) -> Doc | None:
            if current is None or current.get("agentConnected") or current.get("status") == ci.INACTIVE:
                return None
            current["agentConnected"] = True
            current["_healthChangedAt"] = now
            return ci.touch(current)

        rec = await InstanceRecords(self.records).change(account, region, cluster, instance_id, connect)
        if rec is not None:
            await self.index.caught_up(rec.mod_revision)

    async def sweep(self) -> int:
        """Mark every instance silent for longer than ``timeout`` disconnected; returns how many."""
        now = self.clock()
        flipped = 0
        for rec in self.index.instances():
            doc = rec.doc
            if not doc.get("agentConnected") or doc.get("status") == ci.INACTIVE:
                continue
            last = self._seen.setdefault(rec.key, now)
            if now - last <= self.timeout:
                continue
            parsed = ecs_keys.parse(rec.key)
            if parsed is None:  # pragma: no cover - the index holds only parsed keys
                continue
            account, region, _family, cluster, instance_id = parsed

            wrote = False

            def disconnect(current: Doc | None, key: str = rec.key) -> Doc | None:
                nonlocal wrote
                wrote = False
                if current is None or not current.get("agentConnected"):
                    return None
                if self.clock() - self._seen.get(key, now) <= self.timeout:
                    return None  # it polled while we were deciding
                current["agentConnected"] = False
                current["_healthChangedAt"] = now
                wrote = True
                return ci.touch(current)

            changed = await InstanceRecords(self.records).change(
                account, region, cluster, instance_id, disconnect
            )
            if wrote and changed is not None:
                self._flipped.add(rec.key)
                await self.index.caught_up(changed.mod_revision)
                flipped += 1
                log.info("agent of %s missed its heartbeats: disconnected", doc.get("containerInstanceArn"))
        return flipped

    def forget(self, instance_key: str) -> None:
        self._seen.pop(instance_key, None)
        self._flipped.discard(instance_key)

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:
                log.exception("liveness sweep failed")
