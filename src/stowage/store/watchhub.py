"""Fan-out of committed events to in-process watchers, with catch-up from history.

A backend whose writes all pass through this process (memory, SQLite) publishes each commit
here. A subscriber first replays history from its start revision (through the backend's
``replay``), then follows live events, dropping any it already replayed. A subscriber that
falls more than ``max_pending`` events behind stops buffering and catches up from history
instead, as etcd does with its "unsynced" watchers, so one slow reader never grows memory
without bound and never blocks writers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from stowage.store.base import Event, StoreUnavailable

Replay = Callable[[str, int], Awaitable[tuple[list[Event], int]]]


class WatchHub:
    def __init__(self, replay: Replay, max_pending: int = 50_000) -> None:
        self._replay = replay
        self._subs: set[Subscription] = set()
        self._max_pending = max_pending
        self.current_revision = 0
        """Revision of the last published batch; a live-only subscriber starts after it."""

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self, prefix: str, start_revision: int | None) -> Subscription:
        sub = Subscription(self, prefix, start_revision)
        self._subs.add(sub)
        return sub

    def publish(self, events: list[Event]) -> None:
        if not events:
            return
        self.current_revision = events[-1].kv.mod_revision
        for sub in self._subs:
            matching = [e for e in events if e.kv.key.startswith(sub.prefix)]
            if matching:
                sub._offer(matching, self._max_pending)

    def close(self) -> None:
        for sub in list(self._subs):
            sub._fail(StoreUnavailable("store closed"))
        self._subs.clear()

    def _drop(self, sub: Subscription) -> None:
        self._subs.discard(sub)


class Subscription:
    def __init__(self, hub: WatchHub, prefix: str, start_revision: int | None) -> None:
        self._hub = hub
        self.prefix = prefix
        # the next revision this subscriber still has to deliver
        self._next = start_revision if start_revision is not None else hub.current_revision + 1
        self._need_replay = start_revision is not None
        self._pending: list[Event] = []
        self._wakeup = asyncio.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._iterator: AsyncIterator[list[Event]] | None = None

    def _offer(self, events: list[Event], limit: int) -> None:
        if self._need_replay:
            return  # catching up from history; live events will be read from there
        self._pending.extend(events)
        if len(self._pending) > limit:
            self._pending.clear()
            self._need_replay = True
        self._wakeup.set()

    def _fail(self, error: BaseException) -> None:
        self._error = error
        self._wakeup.set()

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        # One stream per subscription: iterating again (a second ``async for``) continues it.
        # A fresh generator each time would let the abandoned one's ``finally`` unsubscribe
        # the watch when it is garbage-collected.
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[list[Event]]:
        try:
            while not self._closed:
                if self._error is not None:
                    raise self._error
                if self._need_replay:
                    self._need_replay = False
                    self._pending.clear()  # anything buffered is also in history
                    events, upto = await self._hub._replay(self.prefix, self._next)
                    self._next = upto + 1
                    if events:
                        yield events
                    continue
                batch = [e for e in self._pending if e.kv.mod_revision >= self._next]
                self._pending.clear()
                if batch:
                    self._next = batch[-1].kv.mod_revision + 1
                    yield batch
                    continue
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            self._hub._drop(self)

    async def close(self) -> None:
        self._closed = True
        self._hub._drop(self)
        self._wakeup.set()
