"""Compaction, downsampling, retention and the size bound: the writer thread's periodic pass.

- **Compaction and rollup.** Each closed hour of a series that has unsealed chunks (the
  writer's frequent small RAW flushes, or points that arrived late) is read back, merged and
  written as one PACKED sealed chunk; for a raw series the hour's minute rollups are rewritten
  in the minute tier from the merged raw points (so a late point fixes its minute too).
- **Retention.** Raw chunks older than the raw retention and minute chunks older than the
  rollup retention are deleted; series with no point in the rollup retention are forgotten.
- **Size bound.** While the data pages exceed ``max_bytes``, the oldest raw chunks go first
  (their minutes survive as rollups), then the oldest minute chunks. Freed pages are handed back
  to the file system, so the file, not only its content, stays under the bound.

Work is done in batches with a commit each, so the writer never holds SQLite's write lock (or
the GIL between statements) for long.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stowage.metricstore import codec
from stowage.metricstore.db import MAX_SPAN, ChunkRow, MetricDb
from stowage.metricstore.layout import MINUTE, RAW, Layout
from stowage.metricstore.rollup import rollup

log = logging.getLogger(__name__)

_BATCH = 256
"""Series-hours compacted per transaction."""
_DELETE_BATCH = 2000
_EVICT_BATCH = 64
RAW_FLOOR = 3600.0
"""Seconds of the newest raw points the size bound evicts only after every minute point."""


@dataclass(frozen=True, slots=True)
class Policy:
    raw_retention: float
    rollup_retention: float
    max_bytes: int


@dataclass(slots=True)
class PassResult:
    compacted: int = 0
    expired_chunks: int = 0
    evicted_chunks: int = 0
    forgotten_series: int = 0
    bytes_after: int = 0


def in_txn(db: MetricDb, work: Callable[[], None]) -> None:
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        work()
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def compact_hour(db: MetricDb, layout: Layout, series: int, tier: int, hour: int) -> None:
    """One series' hour: its chunks of ``tier`` merged into one sealed chunk (and, for raw
    points, the hour's minute rollups rewritten). Call inside a transaction."""
    found = db.hour_chunks(series, tier, hour)
    if not found:
        return
    width = layout.tier_width(tier)
    merged = codec.merge([codec.decode(blob) for _, blob in found], width)
    db.delete_chunks([cid for cid, _ in found])
    ts = merged[0]
    if not ts:
        return
    rows: list[ChunkRow] = [
        (series, tier, ts[0], ts[-1], len(ts), 1, codec.encode_packed(merged, layout.tier_decimals(tier)))
    ]
    if tier == RAW and layout.rolled_up:
        minutes = rollup(merged)
        old = db.hour_chunks(series, MINUTE, hour)
        db.delete_chunks([cid for cid, _ in old])
        rows.append(
            (
                series,
                MINUTE,
                minutes[0][0],
                minutes[0][-1],
                len(minutes[0]),
                1,
                codec.encode_packed(minutes, layout.tier_decimals(MINUTE)),
            )
        )
    db.insert_chunks(rows)


def compact(db: MetricDb, layouts: Mapping[int, Layout], before: float) -> int:
    """Seal every hour that ended by ``before`` and still has unsealed chunks; returns how many
    series-hours were compacted. ``layouts``: series id → its layout (unknown ids are skipped)."""
    todo = [t for t in db.unsealed_hours(before) if t[0] in layouts]
    for start in range(0, len(todo), _BATCH):
        part = todo[start : start + _BATCH]

        def work(part: list[tuple[int, int, int]] = part) -> None:
            for series, tier, hour in part:
                compact_hour(db, layouts[series], series, tier, hour)

        in_txn(db, work)
        time.sleep(0)  # let the ingesting threads and the event loop in between batches
    return len(todo)


def _delete_loop(db: MetricDb, delete: Callable[[], int]) -> int:
    total = 0
    while True:
        done = 0

        def work() -> None:
            nonlocal done
            done = delete()

        in_txn(db, work)
        total += done
        if done == 0:
            return total
        time.sleep(0)


def expire(db: MetricDb, policy: Policy, now: float) -> int:
    raw_cut = now - policy.raw_retention
    minute_cut = now - policy.rollup_retention
    removed = _delete_loop(db, lambda: db.delete_ended(RAW, raw_cut, _DELETE_BATCH))
    removed += _delete_loop(db, lambda: db.delete_ended(MINUTE, minute_cut, _DELETE_BATCH))
    return removed


def bound_size(db: MetricDb, max_bytes: int, now: float) -> int:
    """Evict the oldest chunks until the data fits ``max_bytes`` (with a tenth to spare, so
    the next passes do not evict again at once); returns how many went. Order: raw points
    older than ``RAW_FLOOR`` (their minutes survive as rollups), then the oldest minute points,
    then the newest raw points."""
    if db.used_bytes() <= max_bytes:
        return 0
    target = int(max_bytes * 0.9)
    evicted = 0
    for tier, before in ((RAW, now - RAW_FLOOR), (MINUTE, None), (RAW, None)):
        while db.used_bytes() > target:
            done = 0

            def work(tier: int = tier, before: float | None = before) -> None:
                nonlocal done
                done = db.delete_oldest(tier, _EVICT_BATCH, before)

            in_txn(db, work)
            evicted += done
            if done == 0:
                break
    return evicted


def hour_of(ts: float) -> float:
    return ts - ts % MAX_SPAN
