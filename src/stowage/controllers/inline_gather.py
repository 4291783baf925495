"""``gather``, without a task per awaitable when there is only one.

``asyncio.gather`` wraps each awaitable in a task: one turn of the event loop to start it and
another to resume the caller when it ends. Under load a turn of the loop is milliseconds (every
agent's long-poll and report shares it), and the hot paths (RunTask's commit, an agent's state
report) usually have exactly one thing to await: those await it inline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TypeVar

_T = TypeVar("_T")


async def gather_inline(awaitables: Iterable[Awaitable[_T]]) -> list[_T]:
    """The results of ``awaitables`` in order; concurrently when there are several."""
    todo = list(awaitables)
    if len(todo) == 1:
        return [await todo[0]]
    return list(await asyncio.gather(*todo))
