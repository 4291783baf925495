"""CloudWatch statistics over points: Average, Sum, Minimum, Maximum, SampleCount and pNN.

A ``StatSet`` accumulates one period's samples, either single values (raw points) or whole
statistic sets (a minute rollup, or a derived metric published as count/sum/min/max, as ECS
publishes its service utilization). Percentiles need values: a statistic set contributes its
average as one value (the store keeps no per-sample distribution past the raw tier), which is
exact for raw points and an approximation over rollups; ``docs/metrics.md`` says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

BASIC = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100(?:\.0{1,10})?)$")


class StatisticError(ValueError):
    """A statistic name CloudWatch would refuse."""


def parse_statistic(name: str) -> str | float:
    """A basic statistic's name, or a percentile as a float in [0, 100] (``p99`` → 99.0)."""
    if name in BASIC:
        return name
    m = _PERCENTILE.match(name)
    if m is None:
        raise StatisticError(
            f"The statistic {name!r} is not valid: use one of {', '.join(BASIC)} or a percentile "
            "such as p99 or p99.9 (p0 to p100)."
        )
    return float(m[1])


@dataclass(slots=True)
class StatSet:
    n: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    values: list[float] | None = field(default=None)

    def add(self, value: float) -> None:
        self.n += 1
        self.total += value
        self.low = min(self.low, value)
        self.high = max(self.high, value)
        if self.values is not None:
            self.values.append(value)

    def add_set(self, n: float, total: float, low: float, high: float) -> None:
        if n <= 0:
            return
        self.n += n
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)
        if self.values is not None:
            self.values.append(total / n)

    def value(self, stat: str | float) -> float | None:
        """The statistic of what was added; None when nothing was."""
        if self.n <= 0:
            return None
        if isinstance(stat, str):
            return basic_statistic(stat, self.n, self.total, self.low, self.high)
        return percentile(self.values or [], stat)


def basic_statistic(stat: str, n: float, total: float, low: float, high: float) -> float:
    """Average, Sum, Minimum, Maximum or SampleCount of a non-empty statistic set."""
    if stat == "Average":
        return total / n
    if stat == "Sum":
        return total
    if stat == "Minimum":
        return low
    if stat == "Maximum":
        return high
    if stat == "SampleCount":
        return n
    raise StatisticError(f"not a basic statistic: {stat!r}")


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in [0, 100]) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def new_statset(stat: str | float) -> StatSet:
    """An empty set that keeps values only when ``stat`` is a percentile."""
    return StatSet(values=[] if isinstance(stat, float) else None)
