"""A keyed work queue (Kubernetes' workqueue): a key is queued at most once, never processed by
two workers at once, and a key added while being processed is processed again afterwards.
Delayed adds (``add_after``) give retry back-off and periodic re-checks."""

from __future__ import annotations

import asyncio
import contextlib


class WorkQueue:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def add(self, key: str) -> None:
        if key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.put_nowait(key)

    def add_after(self, key: str, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        old = self._timers.get(key)
        if old is not None and old.when() <= loop.time() + delay:
            return  # an earlier wake-up is already set
        if old is not None:
            old.cancel()
        self._timers[key] = loop.call_later(delay, self._fire, key)

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> str:
        key = await self._queue.get()
        self._dirty.discard(key)
        self._processing.add(key)
        return key

    def depth(self) -> int:
        """Keys waiting to be processed (not counting those being processed or delayed)."""
        return self._queue.qsize()

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.put_nowait(key)

    def close(self) -> None:
        for timer in self._timers.values():
            with contextlib.suppress(Exception):
                timer.cancel()
        self._timers.clear()
