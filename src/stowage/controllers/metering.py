"""Fargate metering on the control plane: the durable usage ledger and the usage of running tasks.

``Metering`` listens to the ECS index (``IndexListener``). For a non-Fargate task change it
checks ``launchType`` and returns; it keeps the index's Fargate task records, and when one is
STOPPED it queues the task for the ledger (``resources/usage.py``). A background loop writes
the queue in batches, create-if-absent, so a retry or a replay is harmless.

Durability: the reaper asks ``hold`` before deleting a stopped task, and a Fargate task is held
until this process has seen its usage in the ledger (or found it unbilled). At start-up,
``start`` loads the index's Fargate tasks and writes every stopped one that is missing from the
ledger before the server answers (the reconcile pass), so a crash between a task's stop and its
ledger write loses nothing: the task record is still there, since nothing reaped it.

``usage`` answers the usage API: ledger entries (from the day just before ``since``) plus the
Fargate tasks of the index metered up to now; a task in both counts once, from the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from decimal import Decimal

from stowage.controllers.ecs_index import EcsIndex
from stowage.model import metering
from stowage.model.metering import TaskUsage
from stowage.model.pricing import FARGATE
from stowage.resources import ecs_keys
from stowage.resources.records import Record, Records
from stowage.resources.usage import UsageLedger, entry_key, stop_day

log = logging.getLogger("stowage.controllers.metering")

BATCH = 256
RETRY_DELAY = 1.0
SHUTDOWN_FLUSH = 5.0
"""Seconds a graceful stop spends writing what is still queued."""
WINDOW_MARGIN = 120
"""Seconds before ``since`` a task may have stopped and still have billed seconds after it: a
task's billed interval ends at most a minute (the minimum) and a second (rounding) after it
stopped; the rest is slack."""


class Metering:
    def __init__(self, records: Records, index: EcsIndex, *, clock: Callable[[], float] = time.time) -> None:
        self.ledger = UsageLedger(records)
        self.index = index
        self.clock = clock
        self._fargate: dict[str, Record] = {}
        """task key → record, every Fargate task in the index"""
        self._ledgered: set[str] = set()
        """keys of stopped Fargate tasks whose usage is in the ledger (or that are not billed)"""
        self._queued: set[str] = set()
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._loop: asyncio.Task[None] | None = None

    # -- IndexListener -----------------------------------------------------------------------
    def task_changed(self, key: str, old: Record | None, new: Record | None) -> None:
        doc = (new if new is not None else old).doc  # type: ignore[union-attr]
        if doc.get("launchType") != FARGATE:
            return
        if new is None:
            self._fargate.pop(key, None)
            self._ledgered.discard(key)
            return
        self._fargate[key] = new
        if new.doc.get("lastStatus") == metering.STOPPED:
            self._enqueue(key)

    def instance_changed(self, key: str, rec: Record | None) -> None:
        return None

    def reset(self) -> None:
        """The index was re-listed: take its Fargate tasks again."""
        self._load()

    # -- life --------------------------------------------------------------------------------
    async def start(self) -> None:
        """Follow the index (which must be loaded) and reconcile the ledger with it."""
        self.index.subscribe(self)
        self._load()
        try:
            await self.flush()
        except Exception:
            log.exception("usage ledger reconcile failed; the writer loop retries")
        self._loop = asyncio.create_task(self._run(), name="usage-ledger")

    async def stop(self) -> None:
        """Stop the writer, writing what is still queued first if the store allows (what it
        cannot write now, the next start-up's reconcile pass will)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        try:
            await asyncio.wait_for(self.flush(), SHUTDOWN_FLUSH)
        except Exception:
            log.warning("%d usage ledger entries left for the next start-up", len(self._queued))

    async def flush(self) -> int:
        """Write everything queued now; returns how many ledger entries were created."""
        written = 0
        while self._queued:
            written += await self._write(list(self._queued)[:BATCH])
        return written

    def hold(self, rec: Record) -> bool:
        """For the reaper: keep this stopped task until its usage is in the ledger."""
        return rec.doc.get("launchType") == FARGATE and rec.key not in self._ledgered

    def pending(self) -> int:
        """Stopped Fargate tasks not yet confirmed in the ledger."""
        return len(self._queued)

    # -- reading -----------------------------------------------------------------------------
    async def usage(
        self,
        account: str,
        region: str,
        *,
        cluster: str | None = None,
        service: str | None = None,
        since: Decimal | None = None,
    ) -> list[TaskUsage]:
        """Every billed Fargate task of the account and region that may have usage after
        ``since``: stopped ones from the ledger, the others metered up to now."""
        now = self.clock()
        from_day = None if since is None else stop_day(float(since) - WINDOW_MARGIN)
        out = await self.ledger.read(account, region, from_day=from_day, cluster=cluster)
        seen = {u.task_arn for u in out}
        for key, rec in list(self._fargate.items()):
            parsed = ecs_keys.parse(key)
            if parsed is None or parsed[0] != account or parsed[1] != region:
                continue
            if cluster is not None and parsed[3] != cluster:
                continue
            if rec.doc.get("taskArn") in seen:
                continue
            usage = metering.meter(rec.doc, now)
            if usage is not None:
                out.append(usage)
        return [
            u
            for u in out
            if (service is None or u.service == service) and (since is None or u.billed_end > since)
        ]

    # -- writing -----------------------------------------------------------------------------
    def _load(self) -> None:
        self._fargate = {r.key: r for r in self.index.tasks() if r.doc.get("launchType") == FARGATE}
        self._ledgered &= set(self._fargate)
        for key, rec in self._fargate.items():
            if rec.doc.get("lastStatus") == metering.STOPPED:
                self._enqueue(key)

    def _enqueue(self, key: str) -> None:
        if key in self._ledgered or key in self._queued:
            return
        self._queued.add(key)
        self._queue.put_nowait(key)

    def _take(self) -> list[str]:
        keys: list[str] = []
        while len(keys) < BATCH and not self._queue.empty():
            keys.append(self._queue.get_nowait())
        return keys

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            keys = [first, *self._take()]
            try:
                await self._write(keys)
            except Exception:
                log.exception("writing %d usage ledger entries failed; retrying", len(keys))
                for key in keys:
                    self._queued.discard(key)
                    self._enqueue(key)
                await asyncio.sleep(RETRY_DELAY)

    async def _write(self, keys: list[str]) -> int:
        now = self.clock()
        entries: list[tuple[str, TaskUsage]] = []
        done: list[str] = []
        for key in keys:
            rec = self._fargate.get(key)
            if key in self._ledgered:  # written by a flush meanwhile
                self._queued.discard(key)
                continue
            if rec is None:  # gone from the index meanwhile: nothing left to meter
                self._queued.discard(key)
                continue
            parsed = ecs_keys.parse(key)
            usage = metering.meter(rec.doc, now)
            if usage is None or parsed is None or usage.running:
                self._queued.discard(key)
                if usage is None or parsed is None:
                    self._ledgered.add(key)  # never billed: nothing to keep it for
                continue
            entries.append((entry_key(parsed[0], parsed[1], usage), usage))
            done.append(key)
        written = await self.ledger.write(entries) if entries else 0
        for key in done:
            self._queued.discard(key)
            if key in self._fargate:
                self._ledgered.add(key)
        return written
