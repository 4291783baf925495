"""Chunk encoding: both codecs give back what went in (to each column's precision), merging
keeps one point per timestamp, and a damaged blob is refused rather than misread."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stowage.metricstore import codec
from stowage.metricstore.codec import ChunkError

_TS = st.floats(min_value=1.7e9, max_value=1.8e9, allow_nan=False)
_BYTES = st.integers(min_value=0, max_value=2**50)
_CORES = st.floats(min_value=0.0, max_value=256.0, allow_nan=False)


@given(st.lists(st.tuples(_TS, _CORES, _BYTES), min_size=1, max_size=300))
def test_raw_round_trip_is_exact(rows: list[tuple[float, float, int]]) -> None:
    cols = codec.decode(codec.encode_raw(rows, 3))
    assert cols == [[float(r[j]) for r in rows] for j in range(3)]


@given(st.lists(st.tuples(_TS, _CORES, _BYTES), min_size=1, max_size=300))
def test_packed_round_trip_keeps_each_columns_decimals(rows: list[tuple[float, float, int]]) -> None:
    columns = [[float(r[j]) for r in rows] for j in range(3)]
    back = codec.decode(codec.encode_packed(columns, (3, 6, 0)))
    for original, decoded, decimals in zip(columns, back, (3, 6, 0), strict=True):
        assert len(decoded) == len(original)
        for a, b in zip(original, decoded, strict=True):
            assert b == pytest.approx(a, abs=0.51 * 10**-decimals + abs(a) * 1e-12)


_ANY = st.floats(allow_nan=False, allow_infinity=False)


@given(st.lists(st.tuples(_TS, _ANY, _ANY), min_size=1, max_size=200))
def test_float_columns_of_a_packed_chunk_are_exact(rows: list[tuple[float, float, float]]) -> None:
    columns = [[float(r[j]) for r in rows] for j in range(3)]
    back = codec.decode(codec.encode_packed(columns, (3, codec.FLOAT, codec.FLOAT)))
    assert back[1:] == columns[1:]
    assert codec.decode(codec.encode_packed(columns, (3, codec.FLOAT, codec.FLOAT)), want={2})[1] == []


def test_packed_is_smaller_than_raw_for_steady_series() -> None:
    n = 360
    cols = [
        [1_764_000_000.0 + 10 * i for i in range(n)],
        [0.25 + (i % 7) * 1e-4 for i in range(n)],
        [40 * 2**20 + (i % 5) * 4096 for i in range(n)],
    ]
    raw = codec.encode_raw(list(zip(*cols, strict=True)), 3)
    packed = codec.encode_packed(cols, (3, 6, 0))
    assert len(packed) * 10 < len(raw)
    assert len(packed) / (n * 3) < 1.0  # under a byte per value


def test_merge_sorts_and_keeps_the_last_point_of_a_timestamp() -> None:
    a = [[3.0, 1.0], [30.0, 10.0]]
    b = [[2.0, 3.0], [20.0, 31.0]]
    assert codec.merge([a, b], 2) == [[1.0, 2.0, 3.0], [10.0, 20.0, 31.0]]
    assert codec.merge([], 2) == [[], []]


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"X" * 20,
        codec.encode_raw([(1.0, 2.0)], 2)[:-3],
        codec.encode_packed([[1.0], [2.0]], (3, 0))[:-2],
    ],
)
def test_damaged_chunks_are_refused(blob: bytes) -> None:
    with pytest.raises(ChunkError):
        codec.decode(blob)


def test_decoding_only_the_wanted_columns() -> None:
    cols = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]
    for blob in (codec.encode_raw(list(zip(*cols, strict=True)), 4), codec.encode_packed(cols, (3, 0, 0, 0))):
        assert codec.decode(blob, want=(2,)) == [[1.0, 2.0], [], [5.0, 6.0], []]


def test_consecutive_parts_concatenate_and_overlapping_ones_do_not() -> None:
    a, b = [[1.0, 2.0], [10.0, 20.0]], [[3.0], [30.0]]
    assert codec.in_order([a, b]) and codec.concat([a, b], 2) == [[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]]
    assert not codec.in_order([b, a]) and not codec.in_order([a, a])
