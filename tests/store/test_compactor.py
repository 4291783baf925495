"""The history compactor, driven tick by tick with a fake clock (no sleeping)."""

from __future__ import annotations

import asyncio

import pytest

from stowage.store.base import Compacted, Store
from stowage.store.compactor import Compactor
from stowage.store.memory import MemoryStore
from tests.store.conftest import Backend
from tests.store.helpers import collect


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_keep_last_revisions(backend: Backend) -> None:
    async def body(store: Store) -> None:
        compactor = Compactor(store, keep_revisions=10)
        revs = [await store.put("k", str(i).encode()) for i in range(30)]
        assert await compactor.run_once() == revs[-1] - 10
        assert await compactor.run_once() is None  # nothing new to compact
        with pytest.raises(Compacted):
            await collect(store.watch("k", start_revision=revs[-1] - 11), 1)
        events, _ = await collect(store.watch("k", start_revision=revs[-1] - 10), 11)
        assert [e.kv.value for e in events] == [str(i).encode() for i in range(19, 30)]
        kv = await store.get("k")
        assert kv is not None and kv.value == b"29"

    backend.run(body)


def test_keep_seconds_compacts_to_the_revision_seen_that_long_ago() -> None:
    async def body() -> None:
        store = MemoryStore()
        clock = FakeClock()
        compactor = Compactor(store, keep_revisions=None, keep_seconds=300, clock=clock)
        await store.put("k", b"0")
        assert await compactor.run_once() is None  # t=0s, rev 1 sampled; nothing is 300 s old
        clock.now += 200
        at_200 = await store.put("k", b"1")
        assert await compactor.run_once() is None  # t=200s
        clock.now += 100
        await store.put("k", b"2")
        assert await compactor.run_once() == 1  # t=300s: the t=0 sample (rev 1) is old enough
        clock.now += 250
        await store.put("k", b"3")
        assert await compactor.run_once() == at_200  # t=550s: the t=200 sample is the newest old one
        assert compactor.compacted_to == at_200

    asyncio.run(body())


def test_both_rules_keep_the_longer_history() -> None:
    async def body() -> None:
        store = MemoryStore()
        clock = FakeClock()
        compactor = Compactor(store, keep_revisions=5, keep_seconds=60, clock=clock)
        for i in range(20):
            await store.put("k", str(i).encode())
        assert await compactor.run_once() is None  # time rule: nothing is 60 s old yet
        clock.now += 60
        for i in range(20):
            await store.put("k", str(i).encode())
        # time rule allows 20 (sampled 60 s ago), revision rule allows 35: keep the longer
        assert await compactor.run_once() == 20

    asyncio.run(body())


def test_running_loop_uses_the_injected_sleep() -> None:
    async def body() -> None:
        store = MemoryStore()
        for i in range(50):
            await store.put("k", str(i).encode())
        ticks: list[float] = []
        third_tick = asyncio.Event()

        async def fake_sleep(seconds: float) -> None:
            ticks.append(seconds)
            if len(ticks) == 3:
                third_tick.set()
            await asyncio.sleep(0)

        compactor = Compactor(store, keep_revisions=20, interval=30, sleep=fake_sleep)
        compactor.start()
        await asyncio.wait_for(third_tick.wait(), 10)
        await compactor.stop()
        assert ticks[:3] == [30, 30, 30]
        assert compactor.compacted_to == 30
        with pytest.raises(Compacted):
            await store.compact(30)

    asyncio.run(body())


def test_someone_else_compacting_further_is_not_an_error() -> None:
    async def body() -> None:
        store = MemoryStore()
        for i in range(50):
            await store.put("k", str(i).encode())
        await store.compact(45)
        compactor = Compactor(store, keep_revisions=10)
        assert await compactor.run_once() is None
        assert compactor.compacted_to >= 40

    asyncio.run(body())


def test_needs_a_retention_rule() -> None:
    with pytest.raises(ValueError):
        Compactor(MemoryStore(), keep_revisions=None, keep_seconds=None)
