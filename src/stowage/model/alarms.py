"""CloudWatch metric alarm evaluation as pure functions: the data points of the evaluation range
in, the alarm's next state with CloudWatch's ``StateReason`` text and ``StateReasonData`` out.

The evaluation range is the ``EvaluationPeriods`` (N) periods that ended at the last period
boundary. Each period's data point is breaching, not breaching, or missing; ``TreatMissingData``
turns missing points into breaching ones (``breaching``) or not breaching ones
(``notBreaching``), or leaves them missing (``missing``, ``ignore``). Then, with M the
``DatapointsToAlarm`` (default N):

- M or more breaching points: ALARM;
- else N - M + 1 or more points not breaching (so ALARM cannot be reached): OK;
- else, when every point is missing: INSUFFICIENT_DATA (``missing``), or the state stays as it is
  (``ignore``);
- else (too few points to decide either way) the state stays as it is.

Reason texts follow CloudWatch's: ``Threshold Crossed: 2 out of the last 3 datapoints [5.0
(26/11/25 09:50:00), ...] were greater than the threshold (3.0) (minimum 2 datapoints for OK ->
ALARM transition).``; ``Insufficient Data: 3 datapoints were unknown.``
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from stowage.model.alarm_actions import ALARM, INSUFFICIENT_DATA, OK

COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
BAND_COMPARISONS = (
    "LessThanLowerOrGreaterThanUpperThreshold",
    "LessThanLowerThreshold",
    "GreaterThanUpperThreshold",
)
"""Anomaly-detection band comparisons: they need a ``ThresholdMetricId`` (metric math), which
stowage does not evaluate; PutMetricAlarm refuses them."""
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
INITIAL_REASON = "Unchecked: Initial alarm creation"

BREACHING = "X"
NOT_BREACHING = "0"
MISSING = "-"


@dataclass(frozen=True, slots=True)
class Rule:
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    treat_missing: str
    period: int
    statistic: str
    """``Average``, ``p99``, ...: what each period's data point is."""
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class Point:
    timestamp: float
    """The period's start."""
    value: float | None
    """None: no data in the period."""


@dataclass(frozen=True, slots=True)
class Outcome:
    state: str
    reason: str
    reason_data: dict[str, Any]
    value: float | None
    """The newest data point present (what an Auto Scaling step policy measures)."""
    recent: tuple[float, ...]
    """The present data points, oldest first."""


def window(now: float, period: int, periods: int) -> tuple[float, float]:
    """The evaluation range ending at the last period boundary at or before ``now``."""
    end = now - now % period
    return end - period * periods, end


def points_in(start: float, period: int, periods: int, found: dict[float, float]) -> list[Point]:
    """One point per period of the range (oldest first), from the query's (start → value)."""
    return [Point(start + i * period, found.get(start + i * period)) for i in range(periods)]


def breaches(rule: Rule, value: float) -> bool:
    return COMPARISONS[rule.comparison][0](value, rule.threshold)


def classify(rule: Rule, points: Sequence[Point]) -> list[str]:
    """Each point as ``X`` (breaching), ``0`` (not) or ``-`` (missing), after TreatMissingData."""
    missing_as = {"breaching": BREACHING, "notBreaching": NOT_BREACHING}.get(rule.treat_missing, MISSING)
    return [
        missing_as if p.value is None else (BREACHING if breaches(rule, p.value) else NOT_BREACHING)
        for p in points
    ]


def next_state(rule: Rule, kinds: Sequence[str], current: str) -> str:
    n, m = len(kinds), rule.datapoints_to_alarm
    if kinds.count(BREACHING) >= m:
        return ALARM
    if kinds.count(NOT_BREACHING) >= n - m + 1:
        return OK
    if kinds.count(MISSING) == n and rule.treat_missing == "missing":
        return INSUFFICIENT_DATA
    return current


def evaluate(rule: Rule, points: Sequence[Point], current: str, now: float) -> Outcome:
    """The alarm's state after this evaluation (``current`` when nothing decides a change)."""
    kinds = classify(rule, points)
    state = next_state(rule, kinds, current)
    present = [p for p in points if p.value is not None]
    recent = tuple(p.value for p in present if p.value is not None)
    value = recent[-1] if recent and state != INSUFFICIENT_DATA else None
    return Outcome(
        state,
        reason(rule, points, kinds, state, current),
        reason_data(rule, points, now),
        value,
        recent,
    )


def _num(v: float) -> str:
    return repr(float(v))


def _short_time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%d/%m/%y %H:%M:%S")


def iso_time(ts: float) -> str:
    """CloudWatch's timestamps in reason data and history: ``2025-11-26T09:50:00.000+0000``."""
    t = dt.datetime.fromtimestamp(ts, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


def _plural(n: int, word: str = "datapoint") -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def reason(rule: Rule, points: Sequence[Point], kinds: Sequence[str], state: str, previous: str) -> str:
    n, m = len(points), rule.datapoints_to_alarm
    phrase = COMPARISONS[rule.comparison][1]
    if state == INSUFFICIENT_DATA:
        unknown = kinds.count(MISSING)
        return f"Insufficient Data: {_plural(unknown)} {'was' if unknown == 1 else 'were'} unknown."
    if all(p.value is None for p in points):
        treated = "Breaching" if state == ALARM else "NonBreaching"
        return (
            f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
            f"{n} missing {'datapoint was' if n == 1 else 'datapoints were'} treated as [{treated}]."
        )
    want = BREACHING if state == ALARM else NOT_BREACHING
    chosen = [p for p, k in zip(points, kinds, strict=True) if k == want and p.value is not None]
    listed = ", ".join(f"{_num(p.value or 0.0)} ({_short_time(p.timestamp)})" for p in reversed(chosen))
    negation = "" if state == ALARM else "not "
    count = kinds.count(want)
    verb = "was" if count == 1 else "were"
    if n == 1:
        threshold = _num(rule.threshold)
        return (
            f"Threshold Crossed: 1 datapoint [{listed}] was {negation}{phrase} the threshold ({threshold})."
        )
    needed = m if state == ALARM else n - m + 1
    return (
        f"Threshold Crossed: {count} out of the last {n} datapoints [{listed}] {verb} {negation}{phrase} "
        f"the threshold ({_num(rule.threshold)}) (minimum {_plural(needed)} for "
        f"{previous} -> {state} transition)."
    )


def reason_data(rule: Rule, points: Sequence[Point], now: float) -> dict[str, Any]:
    """``StateReasonData`` as CloudWatch writes it (a JSON object; stored as a string)."""
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": iso_time(now),
        "startDate": iso_time(points[0].timestamp) if points else iso_time(now),
    }
    if rule.statistic.startswith("p"):
        data["extendedStatistic"] = rule.statistic
    else:
        data["statistic"] = rule.statistic
    if rule.unit is not None:
        data["unit"] = rule.unit
    data["period"] = rule.period
    data["recentDatapoints"] = [p.value for p in points if p.value is not None]
    data["threshold"] = rule.threshold
    data["evaluatedDatapoints"] = [
        {"timestamp": iso_time(p.timestamp), "value": p.value}
        for p in reversed(points)
        if p.value is not None
    ]
    return data
