"""Helpers for reading watches in tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from stowage.store.base import Event, Watch

WAIT = 30.0  # a guard against a hung watch, not a performance assertion


async def next_batch(it: AsyncIterator[list[Event]], wait: float = WAIT) -> list[Event]:
    return await asyncio.wait_for(it.__anext__(), wait)


async def collect(watch: Watch, count: int, wait: float = WAIT) -> tuple[list[Event], list[list[Event]]]:
    """Read batches until ``count`` events arrived; returns the events and the batches."""
    it = watch.__aiter__()
    events: list[Event] = []
    batches: list[list[Event]] = []
    while len(events) < count:
        batch = await next_batch(it, wait)
        batches.append(batch)
        events.extend(batch)
    return events, batches


def summary(events: list[Event]) -> list[tuple[str, str, int, bytes]]:
    """(type, key, revision, value) per event: what most assertions compare."""
    return [(e.type.value, e.kv.key, e.kv.mod_revision, e.kv.value) for e in events]
