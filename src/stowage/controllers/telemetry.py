"""The control plane's own instruments: counters and histograms, as Prometheus models them.

Cheap enough for the hot path: an observation is a ``bisect`` and two additions. Each
instrument has one writer at a time (the event loop, or one thread); readers (the
``/metrics`` renderer) copy the numbers, so a scrape may see an observation half counted in
the sum but not yet in the buckets, which Prometheus tolerates.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: from half a millisecond (a cached Describe) to long-polls cut short."""


class Histogram:
    __slots__ = ("buckets", "counts", "n", "total")

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * (len(self.buckets) + 1)
        """Per bucket (not cumulative); the last is +Inf."""
        self.total = 0.0
        self.n = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """(``le`` label, cumulative count) pairs, ending with ``+Inf``."""
        out: list[tuple[str, int]] = []
        running = 0
        for bound, count in zip((*map(_le, self.buckets), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out

    def quantile(self, q: float) -> float | None:
        """The upper bound of the bucket holding the ``q`` quantile (None when empty)."""
        if self.n == 0:
            return None
        rank = q * self.n
        running = 0
        for i, count in enumerate(self.counts):
            running += count
            if running >= rank:
                return self.buckets[i] if i < len(self.buckets) else float("inf")
        return float("inf")


def _le(bound: float) -> str:
    return repr(float(bound))


class RequestStats:
    """API latency per (service, operation) and requests per (service, operation, status)."""

    def __init__(self) -> None:
        self.latency: dict[tuple[str, str], Histogram] = {}
        self.requests: dict[tuple[str, str, int], int] = {}

    def observe(self, service: str, operation: str, status: int, seconds: float) -> None:
        key = (service, operation)
        hist = self.latency.get(key)
        if hist is None:
            hist = self.latency[key] = Histogram()
        hist.observe(seconds)
        rkey = (service, operation, status)
        self.requests[rkey] = self.requests.get(rkey, 0) + 1
