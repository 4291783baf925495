"""SPDY/3 framing, the server's half of what ``kubectl port-forward`` speaks.

kubectl >= 1.31 tunnels SPDY over a WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``, KEP
4006): the WebSocket's binary messages carry the SPDY byte stream as it is, with no framing of
their own. Go's framer (moby/spdystream) implements SPDY/3 without flow control, so this codec
does not either: WINDOW_UPDATE and SETTINGS are read and ignored.

A frame is 8 bytes of header then its payload. Control frames: ``1 | version(15) | type(16) |
flags(8) | length(24)``; data frames: ``0 | stream id(31) | flags(8) | length(24)``. The header
blocks of SYN_STREAM, SYN_REPLY and HEADERS are zlib-compressed with the SPDY/3 dictionary, one
zlib stream per direction for the whole connection (each block ends with a sync flush). The
dictionary is the spec's constant, taken from the ``spdy-py`` package rather than restated.

Pure: ``FrameReader`` turns received bytes into frames, the ``*_frame`` functions build frames
to send (a ``HeaderEncoder`` holds the sending direction's zlib stream).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

from spdy.dictionary import zdict as _DICTIONARY

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
MAX_DATA = (1 << 24) - 1
"""The largest payload one frame can carry (its length is 24 bits)."""

# RST_STREAM status codes (SPDY/3 section 2.4.2).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6


class SpdyError(ValueError):
    """The peer sent something that is not SPDY/3: the connection cannot go on."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One received frame. ``kind`` is the control frame type, or 0 for a data frame."""

    kind: int
    flags: int
    stream_id: int = 0
    headers: dict[str, list[str]] = field(default_factory=dict)
    data: bytes = b""
    """A data frame's payload."""
    value: int = 0
    """PING's id, RST_STREAM's and GOAWAY's status."""

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


class FrameReader:
    """Reassembles frames from the byte stream (frames may span WebSocket messages)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._inflate = zlib.decompressobj(zdict=_DICTIONARY)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= 8:
            first, flags_length = struct.unpack_from(">II", self._buf)
            length = flags_length & 0xFFFFFF
            if len(self._buf) < 8 + length:
                break
            payload = bytes(self._buf[8 : 8 + length])
            del self._buf[: 8 + length]
            flags = flags_length >> 24
            if first & 0x80000000:
                frames.append(self._control(first >> 16 & 0x7FFF, first & 0xFFFF, flags, payload))
            else:
                frames.append(Frame(0, flags, stream_id=first & 0x7FFFFFFF, data=payload))
        return frames

    def _control(self, version: int, kind: int, flags: int, payload: bytes) -> Frame:
        if version != VERSION:
            raise SpdyError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                (sid,) = struct.unpack_from(">I", payload)
                return Frame(kind, flags, sid & 0x7FFFFFFF, headers=self._headers(payload[10:]))
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", payload)
                return Frame(kind, flags, sid & 0x7FFFFFFF, headers=self._headers(payload[4:]))
            if kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE):
                sid, value = struct.unpack_from(">II", payload)
                return Frame(kind, flags, sid & 0x7FFFFFFF, value=value)
            if kind == PING:
                return Frame(kind, flags, value=struct.unpack_from(">I", payload)[0])
        except (struct.error, zlib.error) as exc:
            raise SpdyError(f"malformed control frame of type {kind}: {exc}") from exc
        return Frame(kind, flags)  # SETTINGS and unknown types: nothing we act on

    def _headers(self, block: bytes) -> dict[str, list[str]]:
        raw = self._inflate.decompress(block)
        (count,) = struct.unpack_from(">I", raw)
        at, out = 4, {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, at)
            name = raw[at + 4 : at + 4 + n].decode("latin-1").lower()
            at += 4 + n
            (n,) = struct.unpack_from(">I", raw, at)
            out[name] = raw[at + 4 : at + 4 + n].decode("latin-1").split("\x00")
            at += 4 + n
        return out


class HeaderEncoder:
    """The sending direction's header compression (one zlib stream for the connection)."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zdict=_DICTIONARY)

    def block(self, headers: dict[str, str]) -> bytes:
        raw = bytearray(struct.pack(">I", len(headers)))
        for name, value in headers.items():
            for part in (name.lower().encode("latin-1"), value.encode("latin-1")):
                raw += struct.pack(">I", len(part)) + part
        return self._deflate.compress(bytes(raw)) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, flags << 24 | len(payload)) + payload


def syn_reply_frame(encoder: HeaderEncoder, stream_id: int, headers: dict[str, str] | None = None) -> bytes:
    return _control(SYN_REPLY, 0, struct.pack(">I", stream_id) + encoder.block(headers or {}))


def data_frame(stream_id: int, data: bytes, *, fin: bool = False) -> bytes:
    if len(data) > MAX_DATA:
        raise ValueError("a data frame carries at most 16 MiB")
    flags = FLAG_FIN if fin else 0
    return struct.pack(">II", stream_id & 0x7FFFFFFF, flags << 24 | len(data)) + data


def rst_stream_frame(stream_id: int, status: int) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def ping_frame(ping_id: int) -> bytes:
    return _control(PING, 0, struct.pack(">I", ping_id))


def goaway_frame(last_stream_id: int, status: int = 0) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_stream_id, status))
