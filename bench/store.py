"""In-process store benchmark: gets/s, range/s and puts/s for the memory and SQLite backends.

    .venv/bin/python bench/store.py [--keys 20000] [--concurrency 256] [--backends memory,sqlite]

Puts are measured three ways: concurrent unconditional puts (many tasks, so SQLite's group
commit batches them into few fsyncs), concurrent compare-and-swap updates, and one put at a
time (each pays a full commit: the floor a single sequential client sees). Numbers depend on
the machine and its disk; the SQLite store runs with its default synchronous=FULL.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from stowage.store.base import CompareFailed, Store
from stowage.store.memory import MemoryStore
from stowage.store.sqlite import SqliteStore

VALUE = b'{"clusterName":"bench","status":"ACTIVE","registeredContainerInstancesCount":0}' * 4


async def timed(count: int, fn: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await fn()
    return count / (time.perf_counter() - start)


async def concurrently(total: int, concurrency: int, op: Callable[[int], Awaitable[None]]) -> None:
    next_i = 0

    async def worker() -> None:
        nonlocal next_i
        while next_i < total:
            i = next_i
            next_i += 1
            await op(i)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def bench(name: str, store: Store, keys: int, concurrency: int) -> dict[str, float]:
    names = [f"ecs/clusters/123456789012/bench-{i:06d}" for i in range(keys)]

    async def put(i: int) -> None:
        await store.put(names[i], VALUE)

    results: dict[str, float] = {}
    results["puts/s (concurrent)"] = await timed(keys, lambda: concurrently(keys, concurrency, put))

    async def cas(i: int) -> None:
        key = names[i % 1000]
        while True:
            kv = await store.get(key)
            assert kv is not None
            try:
                await store.put(key, VALUE, expect_mod_revision=kv.mod_revision)
                return
            except CompareFailed:
                continue

    results["cas updates/s (concurrent)"] = await timed(keys, lambda: concurrently(keys, concurrency, cas))

    sequential = min(keys, 2000)

    async def one_at_a_time() -> None:
        for i in range(sequential):
            await store.put(names[i], VALUE)

    results["puts/s (one at a time)"] = await timed(sequential, one_at_a_time)

    order = [random.randrange(keys) for _ in range(keys * 5)]

    async def gets() -> None:
        for i in order:
            await store.get(names[i])

    results["gets/s"] = await timed(len(order), gets)

    pages = 2000

    async def ranges() -> None:
        for i in range(pages):
            await store.range("ecs/clusters/123456789012/", start_after=names[(i * 37) % keys], limit=100)

    results["range(limit=100)/s"] = await timed(pages, ranges)
    return results


async def run_backend(name: str, keys: int, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="stowage-bench-") as tmp:
        store: Store = MemoryStore() if name == "memory" else SqliteStore(Path(tmp))
        try:
            results = await bench(name, store, keys, concurrency)
            if isinstance(store, SqliteStore):
                results["sqlite commits"] = store.commits
            return results
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--backends", default="memory,sqlite")
    args = parser.parse_args()
    for name in args.backends.split(","):
        results = asyncio.run(run_backend(name, args.keys, args.concurrency))
        print(f"{name}:")
        for metric, value in results.items():
            print(f"  {metric:<28} {value:>12,.0f}")


if __name__ == "__main__":
    main()
