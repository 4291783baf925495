"""An in-process store with full semantics and no durability: the reference implementation of
the contract in ``base.py``, used by unit tests and by simulations that need no restart."""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import AsyncIterator, Sequence

from stowage.store.base import (
    Compacted,
    Compare,
    Delete,
    Event,
    EventType,
    FutureRevision,
    Get,
    KeyValue,
    Op,
    Put,
    RangeResult,
    StoreUnavailable,
    TxnResult,
)
from stowage.store.compare import check_operand, compare_holds
from stowage.store.guarded import guarded_write
from stowage.store.watchhub import WatchHub


class MemoryStore:
    def __init__(self) -> None:
        self._data: dict[str, KeyValue] = {}
        self._keys: list[str] = []  # sorted, for range
        self._history: list[Event] = []  # every event from the compaction point on, in order
        self._revision = 0
        self._compacted = 0
        self._hub = WatchHub(self._replay)
        self._closed = False

    # -- reads -------------------------------------------------------------------------------
    async def get(self, key: str) -> KeyValue | None:
        self._check_open()
        return self._data.get(key)

    async def range(self, prefix: str, *, start_after: str | None = None, limit: int = 0) -> RangeResult:
        self._check_open()
        if start_after is not None and start_after >= prefix:
            i = bisect.bisect_right(self._keys, start_after)
        else:
            i = bisect.bisect_left(self._keys, prefix)
        out: list[KeyValue] = []
        more = False
        while i < len(self._keys) and self._keys[i].startswith(prefix):
            if limit and len(out) == limit:
                more = True
                break
            out.append(self._data[self._keys[i]])
            i += 1
        return RangeResult(out, more, self._revision)

    async def revision(self) -> int:
        self._check_open()
        return self._revision

    # -- writes ------------------------------------------------------------------------------
    async def put(self, key: str, value: bytes, *, expect_mod_revision: int | None = None) -> int:
        return await guarded_write(self.txn, key, Put(key, value), expect_mod_revision)

    async def delete(self, key: str, *, expect_mod_revision: int | None = None) -> int:
        return await guarded_write(self.txn, key, Delete(key), expect_mod_revision)

    async def txn(
        self, compares: Sequence[Compare], success: Sequence[Op], failure: Sequence[Op] = ()
    ) -> TxnResult:
        self._check_open()
        for c in compares:
            check_operand(c)
        ok = all(compare_holds(c, self._data.get(c.key)) for c in compares)
        ops = success if ok else failure
        events: list[Event] = []
        results: list[KeyValue | int | None] = []
        new_rev = self._revision + 1
        for op in ops:
            if isinstance(op, Get):
                results.append(self._data.get(op.key))
            elif isinstance(op, Put):
                prev = self._data.get(op.key)
                kv = KeyValue(
                    op.key,
                    op.value,
                    prev.create_revision if prev else new_rev,
                    new_rev,
                    prev.version + 1 if prev else 1,
                )
                if prev is None:
                    bisect.insort(self._keys, op.key)
                self._data[op.key] = kv
                events.append(Event(EventType.PUT, kv, prev))
                results.append(new_rev)
            else:
                keys = self._prefix_keys(op.key) if op.prefix else [op.key] if op.key in self._data else []
                for k in keys:
                    prev = self._data.pop(k)
                    self._keys.remove(k)
                    events.append(Event(EventType.DELETE, KeyValue(k, b"", 0, new_rev, 0), prev))
                results.append(len(keys))
        if events:
            self._revision = new_rev
            self._history.extend(events)
            self._hub.publish(events)
        return TxnResult(ok, self._revision, results)

    def _prefix_keys(self, prefix: str) -> list[str]:
        i = bisect.bisect_left(self._keys, prefix)
        j = i
        while j < len(self._keys) and self._keys[j].startswith(prefix):
            j += 1
        return self._keys[i:j]

    # -- watch and compaction ----------------------------------------------------------------
    @property
    def watchers(self) -> int:
        """Open watches (what ``/metrics`` reports)."""
        return self._hub.subscribers

    def watch(self, prefix: str, *, start_revision: int | None = None) -> _MemoryWatch:
        return _MemoryWatch(self, prefix, start_revision)

    async def _replay(self, prefix: str, start_revision: int) -> tuple[list[Event], int]:
        """History under ``prefix`` from ``start_revision`` on, and the revision it reaches."""
        if start_revision < self._compacted:
            raise Compacted(start_revision, self._compacted)
        if start_revision > self._revision + 1:
            raise FutureRevision(f"revision {start_revision} is in the future")
        lo = bisect.bisect_left(self._history, start_revision, key=lambda e: e.kv.mod_revision)
        return [e for e in self._history[lo:] if e.kv.key.startswith(prefix)], self._revision

    async def compact(self, revision: int) -> None:
        self._check_open()
        if revision > self._revision:
            raise FutureRevision(f"cannot compact to {revision}: current revision is {self._revision}")
        if revision <= self._compacted:
            raise Compacted(revision, self._compacted)
        self._history = [e for e in self._history if e.kv.mod_revision >= revision]
        self._compacted = revision

    async def close(self) -> None:
        self._closed = True
        self._hub.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("store is closed")


class _MemoryWatch:
    def __init__(self, store: MemoryStore, prefix: str, start_revision: int | None) -> None:
        self._sub = store._hub.subscribe(prefix, start_revision)

    def __aiter__(self) -> AsyncIterator[list[Event]]:
        return self._sub.__aiter__()

    async def started(self) -> None:
        """Subscribed synchronously by ``watch``: nothing to wait for."""

    async def close(self) -> None:
        await self._sub.close()


_ = asyncio  # the hub schedules on the running loop
