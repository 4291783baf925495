"""Chunk encoding: a run of points of one series as one self-describing blob.

A chunk holds ``n`` points of ``width`` columns (the first is the timestamp), stored column by
column. Two codecs, named in the header so any chunk decodes on its own:

- ``RAW``: the columns as little-endian float64, uncompressed. What the writer flushes every
  few seconds: encoding costs a microsecond or two per series, which matters when tens of
  thousands of series flush at once.
- ``PACKED``: each column quantized to an integer with a per-column number of decimals (the
  timestamp to the millisecond, bytes to the byte, CPU to the micro-core), delta-encoded, its
  int64 bytes shuffled (all first bytes, then all second bytes, ...) and the whole compressed
  with zlib. Small deltas leave most shuffled bytes zero, which zlib squeezes to well under a
  byte per value. Compaction rewrites an hour of RAW chunks as one PACKED chunk. A column whose
  decimals are ``FLOAT`` (custom metrics: any double, 1e-108 to 1e108) is kept exact instead:
  its float64 bytes shuffled, no quantization or deltas.

Header (little-endian): magic ``b"M"``, codec (u8), width (u8), n (u32), then for PACKED one
signed byte of decimals per column.
"""

from __future__ import annotations

import array
import itertools
import operator
import struct
import sys
import zlib
from collections.abc import Collection, Sequence

RAW = 0
PACKED = 1
_MAGIC = 0x4D
_HEAD = struct.Struct("<BBBI")
_WIDTH = 8
_LITTLE = sys.byteorder == "little"

FLOAT = -128
"""A column's "decimals" meaning: keep the exact float64 (no quantization)."""

Columns = list[list[float]]
"""``columns[0]`` are timestamps (epoch seconds), ``columns[i]`` the i-th field's values."""


class ChunkError(ValueError):
    """A blob that is not a chunk this code can read (corruption, or a newer format)."""


def _le(arr: array.array[int] | array.array[float]) -> bytes:
    if not _LITTLE:
        arr = array.array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _from_le(typecode: str, data: bytes) -> array.array:  # type: ignore[type-arg]
    arr = array.array(typecode)
    arr.frombytes(data)
    if not _LITTLE:
        arr.byteswap()
    return arr


def encode_raw(rows: Sequence[Sequence[float]], width: int) -> bytes:
    """Points given row by row (``(ts, v1, ..., vF)``) as a RAW chunk."""
    flat = array.array("d", [r[j] for j in range(width) for r in rows])
    return _HEAD.pack(_MAGIC, RAW, width, len(rows)) + _le(flat)


def _shuffle(data: bytes) -> bytes:
    return b"".join(data[i::_WIDTH] for i in range(_WIDTH))


def _unshuffle(data: bytes, n: int) -> bytes:
    out = bytearray(len(data))
    for i in range(_WIDTH):
        out[i::_WIDTH] = data[i * n : (i + 1) * n]
    return bytes(out)


def encode_packed(columns: Columns, decimals: Sequence[int], level: int = 6) -> bytes:
    """Columns as a PACKED chunk; ``decimals[j]`` digits after the point are kept for column j."""
    width = len(columns)
    if len(decimals) != width:
        raise ValueError("one decimals entry per column")
    n = len(columns[0]) if columns else 0
    parts: list[bytes] = []
    for col, dec in zip(columns, decimals, strict=True):
        if dec == FLOAT:
            parts.append(_shuffle(_le(array.array("d", col))))
            continue
        scale = 10.0**dec
        q = list(map(round, map(scale.__mul__, col)))
        deltas = array.array("q", q[:1])
        deltas.extend(map(operator.sub, q[1:], q[:-1]))
        parts.append(_shuffle(_le(deltas)))
    header = _HEAD.pack(_MAGIC, PACKED, width, n) + struct.pack(f"<{width}b", *decimals)
    return header + zlib.compress(b"".join(parts), level)


def decode(blob: bytes, want: Collection[int] | None = None) -> Columns:
    """Any chunk back to columns. With ``want``, only those columns (and the timestamps,
    column 0) are decoded; the others come back empty, which saves most of the work of reading
    one field of a wide layout."""
    if len(blob) < _HEAD.size:
        raise ChunkError("chunk too short")
    magic, codec, width, n = _HEAD.unpack_from(blob)
    if magic != _MAGIC:
        raise ChunkError("not a metrics chunk")
    if codec == RAW:
        if len(blob) - _HEAD.size != n * width * _WIDTH:
            raise ChunkError("raw chunk size does not match its header")
        flat = _from_le("d", blob[_HEAD.size :])
        return [
            flat[j * n : (j + 1) * n].tolist() if want is None or j == 0 or j in want else []
            for j in range(width)
        ]
    if codec == PACKED:
        start = _HEAD.size + width
        decimals = struct.unpack_from(f"<{width}b", blob, _HEAD.size)
        try:
            body = zlib.decompress(blob[start:])
        except zlib.error as exc:
            raise ChunkError(f"packed chunk does not decompress: {exc}") from None
        if len(body) != n * width * _WIDTH:
            raise ChunkError("packed chunk size does not match its header")
        out: Columns = []
        size = n * _WIDTH
        for j, dec in enumerate(decimals):
            if want is not None and j != 0 and j not in want:
                out.append([])
                continue
            if dec == FLOAT:
                out.append(_from_le("d", _unshuffle(body[j * size : (j + 1) * size], n)).tolist())
                continue
            q = _from_le("q", _unshuffle(body[j * size : (j + 1) * size], n))
            inv = 10.0**-dec
            out.append(list(map(inv.__mul__, itertools.accumulate(q))))
        return out
    raise ChunkError(f"unknown chunk codec {codec}")


def in_order(parts: Sequence[Columns]) -> bool:
    """Whether the parts (each sorted by time, as every chunk is written) follow one another
    without overlapping (the usual case: consecutive chunks), so concatenating them is their
    merge."""
    last = float("-inf")
    for cols in parts:
        ts = cols[0]
        if not ts:
            continue
        if ts[0] <= last:
            return False
        last = ts[-1]
    return True


def concat(parts: Sequence[Columns], width: int) -> Columns:
    """Parts that are ``in_order`` joined column by column (empty columns stay empty)."""
    out: Columns = [[] for _ in range(width)]
    for cols in parts:
        for j in range(width):
            out[j].extend(cols[j])
    return out


def merge(parts: Sequence[Columns], width: int) -> Columns:
    """Several chunks' columns as one, sorted by time; of points with the same timestamp the
    last given wins (a re-sent point replaces the old one). Every column must be present."""
    by_ts: dict[float, int] = {}
    rows: list[tuple[float, ...]] = []
    for cols in parts:
        for row in zip(*cols, strict=True):
            at = by_ts.get(row[0])
            if at is None:
                by_ts[row[0]] = len(rows)
                rows.append(row)
            else:
                rows[at] = row
    rows.sort(key=operator.itemgetter(0))
    if not rows:
        return [[] for _ in range(width)]
    return [list(col) for col in zip(*rows, strict=True)]
