"""Store contract under concurrency: compare-and-swap races from many tasks at once.

Every backend must serialize guarded writes so that exactly one of several racers wins and a
read-modify-write counter ends exact."""

from __future__ import annotations

import asyncio

from stowage.store.base import Compare, CompareFailed, Put, Store
from tests.store.conftest import Backend


def test_exactly_one_concurrent_create_wins(backend: Backend) -> None:
    async def body(store: Store) -> None:
        async def create(i: int) -> int | None:
            try:
                return await store.put("leader", str(i).encode(), expect_mod_revision=0)
            except CompareFailed:
                return None

        results = await asyncio.gather(*(create(i) for i in range(40)))
        winners = [i for i, rev in enumerate(results) if rev is not None]
        assert len(winners) == 1
        kv = await store.get("leader")
        assert kv is not None and kv.value == str(winners[0]).encode() and kv.version == 1

    backend.run(body)


def test_exactly_one_concurrent_txn_wins_on_each_revision(backend: Backend) -> None:
    async def body(store: Store) -> None:
        base = await store.put("slot", b"free")

        async def claim(i: int) -> bool:
            result = await store.txn(
                [Compare.mod_revision("slot", base)], [Put("slot", f"taken-{i}".encode())]
            )
            return result.succeeded

        outcomes = await asyncio.gather(*(claim(i) for i in range(30)))
        assert outcomes.count(True) == 1
        kv = await store.get("slot")
        assert kv is not None and kv.value == f"taken-{outcomes.index(True)}".encode()
        assert kv.version == 2

    backend.run(body)


def test_many_tasks_racing_on_one_counter_end_exact(backend: Backend) -> None:
    tasks, increments = 20, 10

    async def body(store: Store) -> None:
        await store.put("counter", b"0")
        conflicts = 0

        async def incrementer() -> None:
            nonlocal conflicts
            for _ in range(increments):
                while True:
                    kv = await store.get("counter")
                    assert kv is not None
                    try:
                        await store.put(
                            "counter", str(int(kv.value) + 1).encode(), expect_mod_revision=kv.mod_revision
                        )
                        break
                    except CompareFailed as lost:
                        assert lost.current is not None and lost.current.mod_revision != kv.mod_revision
                        conflicts += 1

        await asyncio.gather(*(incrementer() for _ in range(tasks)))
        kv = await store.get("counter")
        assert kv is not None
        assert int(kv.value) == tasks * increments
        assert kv.version == tasks * increments + 1  # exactly one successful write per increment

    backend.run(body)


def test_concurrent_writers_get_distinct_increasing_revisions(backend: Backend) -> None:
    async def body(store: Store) -> None:
        r0 = await store.revision()
        revs = await asyncio.gather(*(store.put(f"par/{i}", b"v") for i in range(300)))
        assert sorted(revs) == list(range(r0 + 1, r0 + 301))
        assert await store.revision() == r0 + 300
        listed = await store.range("par/")
        assert sorted(kv.mod_revision for kv in listed.kvs) == sorted(revs)

    backend.run(body)
