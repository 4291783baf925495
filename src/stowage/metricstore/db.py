"""The metric store's SQL, synchronous: one ``MetricDb`` per connection, used from one thread.

Two tables. ``series``: one row per series (key, group, layout name, labels as JSON, when it
was created and when its last flushed point was). ``chunks``: runs of one series' points in one
tier (``codec`` blobs) with their time span; ``sealed`` chunks are compacted hours, unsealed
ones what the writer flushed since. Chunks never span more than ``MAX_SPAN`` seconds, which
bounds the index scan of a time-range read.

The database is created with ``auto_vacuum=INCREMENTAL`` so that space freed by retention can
be handed back to the file system (``release``), which is what keeps the file under its size
bound rather than only its live data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

MAX_SPAN = 3600.0
"""Longest time span of one chunk (a compacted hour)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    grp TEXT NOT NULL,
    layout TEXT NOT NULL,
    labels TEXT NOT NULL,
    created REAL NOT NULL,
    last REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    series INTEGER NOT NULL,
    tier INTEGER NOT NULL,
    t0 REAL NOT NULL,
    t1 REAL NOT NULL,
    n INTEGER NOT NULL,
    sealed INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series, tier, t0);
CREATE INDEX IF NOT EXISTS chunks_by_end ON chunks (tier, t1);
CREATE INDEX IF NOT EXISTS chunks_unsealed ON chunks (t0) WHERE sealed = 0;
"""

SeriesRow = tuple[int, str, str, str, dict[str, str], float, float]
"""(id, key, group, layout, labels, created, last)"""
ChunkRow = tuple[int, int, float, float, int, int, bytes]
"""(series, tier, t0, t1, n, sealed, data)"""


def connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    if writer:
        # Both must precede the first table (they shape the file). Pages of 16 KiB hold several
        # compacted hours of a series each (a 4 KiB page holds one and wastes the rest).
        conn.execute("PRAGMA page_size=16384")
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    conn.execute("PRAGMA journal_mode=WAL")
    # Metrics tolerate losing the last commits on power loss (not on a crash of the process):
    # NORMAL skips the fsync of every commit.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA journal_size_limit=8388608")
    conn.execute("PRAGMA wal_autocheckpoint=256")  # pages: the WAL stays under ~4 MiB
    conn.execute("PRAGMA cache_size=-16384")
    if writer:
        conn.executescript(_SCHEMA)
    return conn


class MetricDb:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def close(self) -> None:
        self.conn.close()

    # -- series ------------------------------------------------------------------------------
    def load_series(self) -> list[SeriesRow]:
        rows = self.conn.execute("SELECT id, key, grp, layout, labels, created, last FROM series")
        return [(r[0], r[1], r[2], r[3], orjson.loads(r[4]), r[5], r[6]) for r in rows]

    def insert_series(self, rows: Iterable[SeriesRow]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO series (id, key, grp, layout, labels, created, last)"
            " VALUES (?,?,?,?,?,?,?)",
            ((r[0], r[1], r[2], r[3], orjson.dumps(r[4]).decode(), r[5], r[6]) for r in rows),
        )

    def update_last(self, rows: Iterable[tuple[float, int]]) -> None:
        self.conn.executemany("UPDATE series SET last = ? WHERE id = ?", rows)

    def delete_series(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM chunks WHERE series IN ({marks})", part)
            self.conn.execute(f"DELETE FROM series WHERE id IN ({marks})", part)

    # -- chunks ------------------------------------------------------------------------------
    def insert_chunks(self, rows: Iterable[ChunkRow]) -> None:
        self.conn.executemany(
            "INSERT INTO chunks (series, tier, t0, t1, n, sealed, data) VALUES (?,?,?,?,?,?,?)", rows
        )

    def read(self, series: int, tier: int, start: float, end: float) -> list[bytes]:
        """Blobs of the chunks of ``series``/``tier`` that may hold points in [start, end)."""
        rows = self.conn.execute(
            "SELECT data FROM chunks WHERE series = ? AND tier = ? AND t0 >= ? AND t0 < ? AND t1 >= ?"
            " ORDER BY t0",
            (series, tier, start - MAX_SPAN, end, start),
        )
        return [r[0] for r in rows]

    def unsealed_hours(self, before: float) -> list[tuple[int, int, int]]:
        """(series, tier, hour index) of every hour ending by ``before`` with unsealed chunks."""
        rows = self.conn.execute(
            "SELECT DISTINCT series, tier, CAST(t0 / 3600 AS INTEGER) FROM chunks"
            " WHERE sealed = 0 AND t0 < ?",
            (before - before % MAX_SPAN,),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def hour_chunks(self, series: int, tier: int, hour: int) -> list[tuple[int, bytes]]:
        t0 = hour * MAX_SPAN
        rows = self.conn.execute(
            "SELECT id, data FROM chunks WHERE series = ? AND tier = ? AND t0 >= ? AND t0 < ? ORDER BY t0",
            (series, tier, t0, t0 + MAX_SPAN),
        )
        return [(r[0], r[1]) for r in rows]

    def delete_chunks(self, ids: Sequence[int]) -> None:
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            self.conn.execute(f"DELETE FROM chunks WHERE id IN ({','.join('?' * len(part))})", part)

    def delete_ended(self, tier: int, before: float, limit: int) -> int:
        """Delete up to ``limit`` chunks of ``tier`` whose last point is before ``before``."""
        cur = self.conn.execute(
            "DELETE FROM chunks WHERE id IN (SELECT id FROM chunks WHERE tier = ? AND t1 < ? LIMIT ?)",
            (tier, before, limit),
        )
        return int(cur.rowcount)

    def delete_oldest(self, tier: int, limit: int, before: float | None = None) -> int:
        """Delete the ``limit`` chunks of ``tier`` that ended first (and before ``before``)."""
        cur = self.conn.execute(
            "DELETE FROM chunks WHERE id IN"
            " (SELECT id FROM chunks WHERE tier = ? AND t1 < ? ORDER BY t1 LIMIT ?)",
            (tier, float("inf") if before is None else before, limit),
        )
        return int(cur.rowcount)

    # -- space -------------------------------------------------------------------------------
    def pragma(self, name: str) -> int:
        row = self.conn.execute(f"PRAGMA {name}").fetchone()
        return int(row[0]) if row else 0

    def used_bytes(self) -> int:
        """Bytes of pages holding data (the file minus its free list)."""
        return (self.pragma("page_count") - self.pragma("freelist_count")) * self.pragma("page_size")

    def file_bytes(self) -> int:
        return self.pragma("page_count") * self.pragma("page_size")

    def release(self) -> None:
        """Give free pages back to the file system and empty the WAL."""
        # The pragma frees one page per step and must be stepped to its end, which
        # ``execute`` does not do for a statement without result columns; ``executescript`` does.
        self.conn.executescript("PRAGMA incremental_vacuum;")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def counts(self) -> dict[str, Any]:
        row = self.conn.execute("SELECT count(*), coalesce(sum(n), 0) FROM chunks").fetchone()
        return {"chunks": int(row[0]), "points": int(row[1])}
