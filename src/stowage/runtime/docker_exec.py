"""Reading the output of a Docker exec (POST /exec/{id}/start without a TTY).

The answer is the same multiplexed stream as a container's logs: frames of an 8-byte header
(stream id, 3 zero bytes, big-endian length) and the payload. A probe wants the output as one
text (stdout and stderr as they came), kept to a bounded size; the rest is read and dropped so
the command is never blocked on a full pipe.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

_HEADER = struct.Struct(">BxxxL")


async def read_exec_output(read_exactly: Callable[[int], Awaitable[bytes]], limit: int) -> str:
    """Every frame's payload until the end of the stream, the first ``limit`` bytes kept.
    ``read_exactly(n)`` raises IncompleteReadError at the end of the stream."""
    kept = bytearray()
    while True:
        try:
            header = await read_exactly(_HEADER.size)
        except asyncio.IncompleteReadError:
            break
        _stream, length = _HEADER.unpack(header)
        if not length:
            continue
        try:
            payload = await read_exactly(length)
        except asyncio.IncompleteReadError as exc:
            payload = exc.partial
        if len(kept) < limit:
            kept.extend(payload[: limit - len(kept)])
    return kept.decode("utf-8", "replace")
