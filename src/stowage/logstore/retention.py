"""Retention enforcement: a periodic purge of events older than their group's retention policy,
and of the oldest events when the store grows past an optional size cap.

Time comes from an injected clock (epoch seconds), so tests move time instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stowage.logstore.store import LogStore

log = logging.getLogger("stowage.logstore")


@dataclass(frozen=True, slots=True)
class PurgeResult:
    expired_events: int
    trimmed_bytes: int


class RetentionEnforcer:
    def __init__(
        self,
        store: LogStore,
        *,
        clock: Callable[[], float] = time.time,
        interval: float = 300.0,
        max_bytes: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.clock = clock
        self.interval = interval
        self.max_bytes = max_bytes
        self._sleep = sleep

    async def run_once(self) -> PurgeResult:
        expired = await self.store.purge_expired(int(self.clock() * 1000))
        trimmed = await self.store.trim_to(self.max_bytes) if self.max_bytes is not None else 0
        if expired or trimmed:
            log.info("log retention: %d expired events deleted, %d bytes trimmed", expired, trimmed)
        return PurgeResult(expired, trimmed)

    async def run(self) -> None:
        """Purge now and then every ``interval`` seconds, until cancelled."""
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A failed pass (disk full, locked file) must not end enforcement for good.
                log.exception("log retention pass failed")
            await self._sleep(self.interval)
