"""Pages of records under a prefix, filtered, for the ECS list operations.

A page is cut at ``limit`` matching records; the continuation is the key suffix (relative to
the prefix) of the last record returned, and it is only given when another matching record
exists, so a client never fetches an empty last page.
"""

from __future__ import annotations

from collections.abc import Callable

from stowage.resources.records import Record, Records

_BATCH = 256


async def page(
    records: Records,
    prefix: str,
    *,
    after: str | None,
    limit: int,
    keep: Callable[[Record], bool] = lambda _r: True,
) -> tuple[list[Record], str | None]:
    """Up to ``limit`` records under ``prefix`` after the suffix ``after`` that ``keep`` accepts,
    and the suffix to continue after (None at the end)."""
    out: list[Record] = []
    start = None if after is None else prefix + after
    while True:
        batch, more = await records.list(prefix, start_after=start, limit=max(_BATCH, limit + 1))
        for rec in batch:
            if not keep(rec):
                continue
            if len(out) == limit:
                return out, out[-1].key[len(prefix) :]
            out.append(rec)
        if not more or not batch:
            return out, None
        start = batch[-1].key


async def collect(
    records: Records, prefix: str, keep: Callable[[Record], bool] = lambda _r: True
) -> list[Record]:
    """Every record under ``prefix`` that ``keep`` accepts, read in batches."""
    out: list[Record] = []
    start: str | None = None
    while True:
        batch, more = await records.list(prefix, start_after=start, limit=_BATCH)
        out.extend(r for r in batch if keep(r))
        if not more or not batch:
            return out
        start = batch[-1].key
