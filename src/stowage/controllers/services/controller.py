"""The service controller: a watch on service records, the task index's change feed, a keyed
work queue and a few workers running ``ServiceSync`` one key at a time.

Keys are queued when a service record changes, when one of its tasks changes, when an
instance of its cluster changes (DAEMON placement, drained or disconnected hosts), when a
sync asks to come back later (back-off, grace periods, deregistration delay) and by a periodic
resync of every service. A sync that fails is retried with back-off; nothing it does depends
on in-memory state, so a crashed and restarted control plane resumes from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from stowage.controllers.ecs_index import EcsIndex
from stowage.controllers.services.launcher import Launcher
from stowage.controllers.services.queue import WorkQueue
from stowage.controllers.services.sync import Retry, ServiceSync, SyncConfig
from stowage.controllers.services.tracker import ServiceRef, ServiceTasks
from stowage.resources import ecs_keys
from stowage.resources.records import Record, Records, decode
from stowage.store.base import Compacted, EventType, StoreError

log = logging.getLogger("stowage.controllers.services")

WORKERS = 4
COALESCE_MIN = 0.05
COALESCE_MAX = 1.0


class ServiceController:
    def __init__(
        self,
        records: Records,
        index: EcsIndex,
        launcher: Launcher,
        *,
        clock: Callable[[], float] = time.time,
        config: SyncConfig | None = None,
    ) -> None:
        self.records = records
        self.index = index
        self.config = config or SyncConfig()
        self.queue = WorkQueue()
        self.services: dict[str, Record] = {}
        """Every service record, kept by the watch (the listener reads it)."""
        self.changed = asyncio.Event()
        """Set (and replaced) whenever a service record changes."""
        self.tracker = ServiceTasks(index, self._service_changed, self._cluster_changed)
        self.sync = ServiceSync(records, index, launcher, clock=clock, config=self.config)
        self._failures: dict[str, int] = {}
        self._cost: dict[str, float] = {}
        """Seconds the last sync of each key took (how long its task changes coalesce)."""
        self._loops: list[asyncio.Task[None]] = []

    # -- feeds ------------------------------------------------------------------------------
    def _service_changed(self, ref: ServiceRef) -> None:
        # Task changes arrive by the thousand during a big step; coalesce them: the key syncs
        # a while after the first change, once for all that arrived meanwhile. The wait is what
        # the last sync of the key cost, so the controller spends about half of the event loop
        # on one busy service at most, and the agents' reports get the rest.
        # A cheap service (its last sync under COALESCE_MIN) syncs at once, as before.
        key = ecs_keys.service(*ref)
        cost = self._cost.get(key, 0.0)
        if cost < COALESCE_MIN:
            self.queue.add(key)
        else:
            self.queue.add_after(key, min(COALESCE_MAX, cost))

    def _cluster_changed(self, ref: tuple[str, str, str]) -> None:
        prefix = ecs_keys.services(*ref)
        for key in self.services:
            if key.startswith(prefix):
                self.queue.add(key)

    def tasks_of(self, key: str) -> list[Record]:
        ref = ecs_keys.parse_service(key)
        return [] if ref is None else self.tracker.of(ref)

    def _notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    async def _watch(self) -> None:
        while True:
            try:
                page = await self.records.store.range(ecs_keys.SERVICES_ROOT)
                self.services = {kv.key: Record(kv.key, decode(kv.value), kv.mod_revision) for kv in page.kvs}
                for key in self.services:
                    self.queue.add(key)
                self._notify()
                watch = self.records.store.watch(ecs_keys.SERVICES_ROOT, start_revision=page.revision + 1)
                try:
                    async for batch in watch:
                        for event in batch:
                            kv = event.kv
                            if event.type is EventType.DELETE:
                                self.services.pop(kv.key, None)
                            else:
                                self.services[kv.key] = Record(kv.key, decode(kv.value), kv.mod_revision)
                            self.queue.add(kv.key)
                        self._notify()
                finally:
                    await watch.close()
                await asyncio.sleep(1.0)
            except Compacted:
                log.info("service watch fell behind compaction; re-listing")
            except StoreError as exc:
                log.warning("service watch lost the store (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.config.resync)
            for key in list(self.services):
                self.queue.add(key)

    async def _worker(self) -> None:
        while True:
            key = await self.queue.get()
            t0 = time.perf_counter()
            try:
                again = await self.sync.sync(key, self.tasks_of(key))
                self._failures.pop(key, None)
                if again is not None:
                    self.queue.add_after(key, again)
            except Retry:
                self.queue.add(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                log.exception("sync of %s failed (attempt %d)", key, n)
                self.queue.add_after(key, min(0.1 * 2**n, 30.0))
            finally:
                self.queue.done(key)
                took = time.perf_counter() - t0
                self._cost[key] = took
                if took > 2.0:
                    log.info("sync of %s took %.2fs", key, took)

    async def start(self) -> None:
        await self.index.ready.wait()
        self.tracker.reset()
        self._loops.append(asyncio.create_task(self._watch(), name="service-watch"))
        self._loops.append(asyncio.create_task(self._resync(), name="service-resync"))
        for i in range(WORKERS):
            self._loops.append(asyncio.create_task(self._worker(), name=f"service-worker-{i}"))

    async def stop(self) -> None:
        for loop in self._loops:
            loop.cancel()
        for loop in self._loops:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await loop
        self._loops.clear()
        self.queue.close()
