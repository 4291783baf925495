"""What a series' points look like: its fields, their precision, its step, and its tiers.

Every series has a ``Layout``: a fixed tuple of numeric fields per point (a point is
``(timestamp, field1, ..., fieldN)``), how many decimals each field keeps when compacted, and
its native step. The store keeps two tiers:

- tier ``RAW`` (0): points at their native step (seconds apart) when the step is under a
  minute; kept for the raw retention (a day by default);
- tier ``MINUTE`` (1): one point per minute, kept for the rollup retention (two weeks). For a
  raw series it is the rollup of its raw points: per minute the point count, then for each
  field its sum, minimum and maximum (``rollup_fields``). A series whose native step is a
  minute or more is written straight to this tier in its own layout (no rollup of a rollup).
"""

from __future__ import annotations

from dataclasses import dataclass

RAW = 0
MINUTE = 1
MINUTE_S = 60.0
TS_DECIMALS = 3
"""Timestamps are kept to the millisecond."""
ROLLUP_PARTS = ("sum", "min", "max")


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    fields: tuple[str, ...]
    decimals: tuple[int, ...]
    """Digits kept after the point, per field (0: integers such as bytes; 6: micro-units)."""
    step: float
    """Native seconds between points."""

    def __post_init__(self) -> None:
        if len(self.fields) != len(self.decimals):
            raise ValueError(f"layout {self.name}: one decimals entry per field")
        if not self.fields:
            raise ValueError(f"layout {self.name}: no fields")

    @property
    def width(self) -> int:
        """Columns of a native point: the timestamp and the fields."""
        return 1 + len(self.fields)

    @property
    def native_tier(self) -> int:
        return RAW if self.step < MINUTE_S else MINUTE

    @property
    def rolled_up(self) -> bool:
        """Whether the minute tier holds rollups (count/sum/min/max) of raw points."""
        return self.native_tier == RAW

    def tier_width(self, tier: int) -> int:
        if tier == MINUTE and self.rolled_up:
            return 2 + 3 * len(self.fields)
        return self.width

    def tier_decimals(self, tier: int) -> tuple[int, ...]:
        if tier == MINUTE and self.rolled_up:
            per_field = tuple(d for d in self.decimals for _ in ROLLUP_PARTS)
            return (0, 0, *per_field)
        return (TS_DECIMALS, *self.decimals)

    def index(self, field: str) -> int:
        """The column of ``field`` in a native point (1-based: column 0 is the timestamp)."""
        return 1 + self.fields.index(field)


def rollup_column(layout: Layout, field: str, part: str) -> int:
    """The column of ``field``'s ``part`` (sum/min/max) in a rollup point (column 1 is the count)."""
    return 2 + 3 * layout.fields.index(field) + ROLLUP_PARTS.index(part)
