"""Time for the agent: wall clock, sleeps and backoff, injected so tests need not wait.

`SystemClock` is the real thing. `ManualClock` is virtual time for tests (and simulations):
``sleep`` blocks until the test calls `ManualClock.advance` past the deadline, so a test that
wants "the stats interval elapsed" advances ten seconds instead of waiting ten seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (what the ECS API's timestamps carry)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ManualClock:
    """Virtual time: starts at ``start`` and moves only when `advance` is called."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._seq), future))
        await future

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking every sleeper whose deadline is reached, in order, and let
        the woken tasks run before returning."""
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            await settle()
        self._now = target
        await settle()


async def settle(rounds: int = 20) -> None:
    """Let ready tasks run (a few event-loop turns)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def wait_event(clock: Clock, event: asyncio.Event, timeout_s: float) -> bool:
    """Wait until ``event`` is set or ``timeout_s`` passes on ``clock``; True if it was set."""
    if event.is_set():
        return True
    if isinstance(clock, SystemClock):
        # A timer on this task instead of two helper tasks: thousands of simulated task
        # runners wait here, and asyncio.wait's task/future churn was a profile hot spot.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout_s)):
                await event.wait()
        return event.is_set()
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(timeout_s))
    try:
        await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
    return event.is_set()


@dataclass
class Backoff:
    """Exponential backoff with jitter for loops that retry until the world comes back."""

    base_s: float = 0.5
    max_s: float = 30.0
    attempt: int = 0

    def next_delay(self) -> float:
        self.attempt += 1
        cap = min(self.max_s, self.base_s * (2 ** min(self.attempt - 1, 16)))
        return random.uniform(cap / 2, cap)

    def reset(self) -> None:
        self.attempt = 0
