"""The worker loop every Kubernetes controller runs on its work queue: take a key, sync it,
and on failure retry it with exponential back-off (capped at 30 s). Store errors are expected
(a lost connection) and logged as warnings; anything else is a bug and logged with its trace.
A worker that was cancelled ends after its current sync even if that sync swallowed the
cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from stowage.controllers.services.queue import WorkQueue
from stowage.store.base import StoreError

log = logging.getLogger("stowage.controllers.k8s")

MAX_BACKOFF = 30.0


async def work(queue: WorkQueue, sync: Callable[[str], Awaitable[None]], what: str) -> None:
    """Serve ``queue`` forever; ``what`` names the controller in logs."""
    failures: dict[str, int] = {}
    while True:
        key = await queue.get()
        try:
            await sync(key)
            failures.pop(key, None)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            n = failures[key] = failures.get(key, 0) + 1
            level = logging.WARNING if isinstance(exc, StoreError) else logging.ERROR
            log.log(level, "%s sync %s failed (attempt %d)", what, key, n, exc_info=level == logging.ERROR)
            queue.add_after(key, min(MAX_BACKOFF, 0.2 * 2**n))
        finally:
            queue.done(key)
        me = asyncio.current_task()
        if me is not None and me.cancelling():
            # a cancel that something inside the sync swallowed (a stop() that waits for its
            # own tasks with CancelledError suppressed): end now, or stop() waits for us forever
            raise asyncio.CancelledError
