"""Reading the Docker Engine's log stream into `LogLine`s.

GET /containers/{id}/logs?timestamps=1 answers, for a container without a TTY, with frames of
an 8-byte header (stream id, 3 zero bytes, big-endian length) followed by the payload; with a
TTY, with raw bytes (all of it stdout). Frame boundaries need not be line boundaries, so bytes
are assembled into lines per stream, and each line starts with the engine's RFC 3339 timestamp.
aiodocker's own log helpers drop the stream id, which ECS's log shipping needs; hence this.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

from stowage.runtime.base import LogLine, LogStream
from stowage.runtime.docker_json import parse_time

_HEADER = struct.Struct(">BxxxL")
_STREAMS: dict[int, LogStream] = {1: "stdout", 2: "stderr"}


def split_timestamp(raw: str, stream: LogStream) -> LogLine:
    stamp, sep, text = raw.partition(" ")
    when = parse_time(stamp) if sep else None
    if when is None:  # no timestamp prefix (should not happen with timestamps=1)
        return LogLine(datetime.now(UTC), stream, raw)
    return LogLine(when, stream, text)


class LineAssembler:
    """Accumulates bytes per stream and hands out whole lines."""

    def __init__(self) -> None:
        self._pending: dict[LogStream, bytes] = {"stdout": b"", "stderr": b""}

    def feed(self, stream: LogStream, data: bytes) -> list[LogLine]:
        buf = self._pending[stream] + data
        *lines, rest = buf.split(b"\n")
        self._pending[stream] = rest
        return [split_timestamp(line.decode("utf-8", "replace").rstrip("\r"), stream) for line in lines]

    def flush(self) -> list[LogLine]:
        out = []
        for stream, rest in self._pending.items():
            if rest:
                out.append(split_timestamp(rest.decode("utf-8", "replace"), stream))
        self._pending = {"stdout": b"", "stderr": b""}
        return out


async def read_log_lines(
    read_exactly: Callable[[int], Awaitable[bytes]],
    read_chunk: Callable[[], Awaitable[bytes]],
    *,
    tty: bool,
) -> AsyncIterator[LogLine]:
    """Yield lines from a log response body. `read_exactly(n)` raises IncompleteReadError at
    end of stream; `read_chunk()` returns b"" there."""
    lines = LineAssembler()
    if tty:
        while chunk := await read_chunk():
            for line in lines.feed("stdout", chunk):
                yield line
    else:
        while True:
            try:
                header = await read_exactly(_HEADER.size)
            except asyncio.IncompleteReadError:
                break
            stream_id, length = _HEADER.unpack(header)
            if not length:
                continue
            try:
                payload = await read_exactly(length)
            except asyncio.IncompleteReadError as exc:
                payload = exc.partial
            # stdin (0) never appears in logs; anything else non-stderr counts as stdout
            for line in lines.feed(_STREAMS.get(stream_id, "stdout"), payload):
                yield line
    for line in lines.flush():
        yield line
