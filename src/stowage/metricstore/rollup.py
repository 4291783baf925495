"""Downsampling: raw points to one rollup point per minute (count, then sum/min/max per field).

Runs on columns sorted by time. Per minute and field it slices the column and calls the C
builtins ``sum``/``min``/``max`` on the slice, so an hour of a 10-second series costs a few
hundred builtin calls, not a Python loop per value.
"""

from __future__ import annotations

import bisect

from stowage.metricstore.codec import Columns
from stowage.metricstore.layout import MINUTE_S


def rollup(columns: Columns, period: float = MINUTE_S) -> Columns:
    """``[ts, f1, f2, ...]`` (sorted by ts) → ``[minute, n, f1 sum, f1 min, f1 max, f2 sum, ...]``."""
    ts = columns[0]
    fields = columns[1:]
    out: Columns = [[] for _ in range(2 + 3 * len(fields))]
    i, n = 0, len(ts)
    while i < n:
        minute = ts[i] - ts[i] % period
        j = bisect.bisect_left(ts, minute + period, i)
        out[0].append(minute)
        out[1].append(float(j - i))
        for f, col in enumerate(fields):
            part = col[i:j]
            base = 2 + 3 * f
            out[base].append(sum(part))
            out[base + 1].append(min(part))
            out[base + 2].append(max(part))
        i = j
    return out
