"""The shared controller worker loop (controllers/k8s/worker.py): retries, and a cancel that a
sync swallows still ends the worker (else a controller's stop() waits for it forever)."""

from __future__ import annotations

import asyncio
import contextlib

from stowage.controllers.k8s.worker import work
from stowage.controllers.services.queue import WorkQueue


def test_a_cancel_swallowed_inside_a_sync_still_ends_the_worker() -> None:
    async def body() -> None:
        queue = WorkQueue()
        entered = asyncio.Event()
        done: list[str] = []

        async def sync(key: str) -> None:
            entered.set()
            inner = asyncio.create_task(asyncio.sleep(10))
            # the common stop() idiom: it swallows the caller's cancel along with the inner one
            with contextlib.suppress(asyncio.CancelledError):
                await inner
            done.append(key)

        worker = asyncio.create_task(work(queue, sync, "test"))
        queue.add("a")
        await entered.wait()
        worker.cancel()
        await asyncio.wait_for(asyncio.wait({worker}), timeout=5)
        assert worker.cancelled() and done == ["a"]

    asyncio.run(body())


def test_a_failing_sync_is_retried() -> None:
    async def body() -> None:
        queue = WorkQueue()
        calls: list[str] = []

        async def sync(key: str) -> None:
            calls.append(key)
            if len(calls) == 1:
                raise RuntimeError("first time fails")

        worker = asyncio.create_task(work(queue, sync, "test"))
        queue.add("k")
        for _ in range(100):
            if len(calls) >= 2:
                break
            await asyncio.sleep(0.05)
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        assert calls == ["k", "k"]

    asyncio.run(body())
