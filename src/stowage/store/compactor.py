"""Periodic history compaction, so the store's event history does not grow forever.

Two retention rules, either or both:

- ``keep_revisions=N``: history keeps at least the last N revisions (compact to ``current - N``).
- ``keep_seconds=T``: history keeps at least the last T seconds. Like etcd's periodic
  compactor, each tick samples ``(now, current revision)``; the compaction target is the
  newest revision sampled at least T seconds ago. Needs no timestamps in the store.

With both, the target is the older of the two, so history satisfies both rules. Time is
injected (``clock`` and ``sleep``), so tests drive ``run_once`` with a fake clock and never
sleep; ``start`` runs the loop on the event loop for the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

from stowage.store.base import Compacted, Store, StoreError

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Compactor:
    def __init__(
        self,
        store: Store,
        *,
        keep_revisions: int | None = 10_000,
        keep_seconds: float | None = None,
        interval: float = 60.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if keep_revisions is None and keep_seconds is None:
            raise ValueError("a compactor needs keep_revisions, keep_seconds or both")
        if keep_revisions is not None and keep_revisions < 0:
            raise ValueError("keep_revisions must be >= 0")
        self._store = store
        self.keep_revisions = keep_revisions
        self.keep_seconds = keep_seconds
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._samples: deque[tuple[float, int]] = deque()
        self.compacted_to = 0
        """The compaction point this compactor last set or found (0 before the first)."""
        self._task: asyncio.Task[None] | None = None

    def target(self, now: float, current: int) -> int:
        """The revision to compact to at ``now`` with the store at ``current`` (0: none).
        Records the sample, so call it once per tick."""
        targets: list[int] = []
        if self.keep_revisions is not None:
            targets.append(current - self.keep_revisions)
        if self.keep_seconds is not None:
            self._samples.append((now, current))
            horizon = now - self.keep_seconds
            newest_old: tuple[float, int] | None = None
            # keep the newest sample at or before the horizon; older ones are of no more use
            while self._samples and self._samples[0][0] <= horizon:
                newest_old = self._samples.popleft()
            if newest_old is not None:
                self._samples.appendleft(newest_old)
            targets.append(newest_old[1] if newest_old else 0)
        return max(0, min(targets))

    async def run_once(self) -> int | None:
        """One tick: compact if the retention allows it. Returns the new compaction point, or
        None if nothing was compacted."""
        current = await self._store.revision()
        target = self.target(self._clock(), current)
        if target <= self.compacted_to:
            return None
        try:
            await self._store.compact(target)
        except Compacted as already:
            # someone else (another server on the same etcd) compacted at least this far
            self.compacted_to = max(target, already.compact_revision)
            return None
        self.compacted_to = target
        log.debug("compacted store history before revision %d", target)
        return target

    async def run(self) -> None:
        """Tick every ``interval`` until cancelled. Store errors are logged, never fatal: a
        compaction missed now is done at the next tick."""
        while True:
            try:
                await self.run_once()
            except StoreError as e:
                log.warning("history compaction failed: %s", e)
            await self._sleep(self.interval)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="stowage-compactor")
        return self._task

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
