"""Alarm evaluation (model/alarms): M of N, every TreatMissingData choice, every comparison
operator at and around the threshold, and the reason text and data CloudWatch writes."""

from __future__ import annotations

import json

import pytest

from stowage.model.alarm_actions import ALARM, INSUFFICIENT_DATA, OK
from stowage.model.alarms import COMPARISONS, Point, Rule, evaluate, iso_time, points_in, window

T0 = 1_764_150_600.0  # 2025-11-26 09:50:00 UTC


def rule(m: int = 3, n: int = 3, treat: str = "missing", op: str = "GreaterThanThreshold") -> Rule:
    return Rule(3.0, op, n, m, treat, 60, "Average")


def pts(spec: str) -> list[Point]:
    """'X' = 5 (breaching a >3 threshold), '0' = 1, '-' = no data; oldest first."""
    values = {"X": 5.0, "0": 1.0, "-": None}
    return [Point(T0 + 60 * i, values[c]) for i, c in enumerate(spec)]


@pytest.mark.parametrize(
    ("spec", "m", "current", "treat", "want"),
    [
        ("XXX", 3, OK, "missing", ALARM),
        ("XX0", 3, OK, "missing", OK),
        ("X0X", 2, OK, "missing", ALARM),
        ("0X0", 2, ALARM, "missing", OK),
        ("---", 3, OK, "missing", INSUFFICIENT_DATA),
        ("---", 3, ALARM, "ignore", ALARM),
        ("---", 3, OK, "breaching", ALARM),
        ("---", 3, ALARM, "notBreaching", OK),
        ("X--", 2, OK, "missing", OK),  # too few points to decide: the state stays
        ("X--", 2, INSUFFICIENT_DATA, "missing", INSUFFICIENT_DATA),
        ("X--", 2, OK, "breaching", ALARM),
        ("X--", 2, ALARM, "notBreaching", OK),
        ("0--", 3, INSUFFICIENT_DATA, "missing", OK),  # one good point makes 3 of 3 impossible
        ("0-X", 1, OK, "ignore", ALARM),
        ("-X-", 1, OK, "missing", ALARM),
        ("-0-", 2, ALARM, "ignore", ALARM),
    ],
)
def test_m_of_n_and_missing_data(spec: str, m: int, current: str, treat: str, want: str) -> None:
    assert evaluate(rule(m, len(spec), treat), pts(spec), current, T0 + 999).state == want


@pytest.mark.parametrize(
    ("op", "below", "at", "above"),
    [
        ("GreaterThanOrEqualToThreshold", False, True, True),
        ("GreaterThanThreshold", False, False, True),
        ("LessThanThreshold", True, False, False),
        ("LessThanOrEqualToThreshold", True, True, False),
    ],
)
def test_each_comparison_operator(op: str, below: bool, at: bool, above: bool) -> None:
    r = Rule(3.0, op, 1, 1, "missing", 60, "Maximum")
    for value, breaching in ((2.999, below), (3.0, at), (3.001, above)):
        assert evaluate(r, [Point(T0, value)], OK, T0).state == (ALARM if breaching else OK)
    assert set(COMPARISONS) == {
        "GreaterThanOrEqualToThreshold",
        "GreaterThanThreshold",
        "LessThanThreshold",
        "LessThanOrEqualToThreshold",
    }


def test_reason_text_for_one_datapoint() -> None:
    out = evaluate(rule(1, 1), pts("X"), INSUFFICIENT_DATA, T0 + 60)
    assert (
        out.reason
        == "Threshold Crossed: 1 datapoint [5.0 (26/11/25 09:50:00)] was greater than the threshold (3.0)."
    )
    ok = evaluate(rule(1, 1), pts("0"), ALARM, T0 + 60)
    assert ok.reason == (
        "Threshold Crossed: 1 datapoint [1.0 (26/11/25 09:50:00)] was not greater than the threshold (3.0)."
    )


def test_reason_text_for_m_of_n_lists_newest_first() -> None:
    out = evaluate(rule(2, 3), pts("X0X"), OK, T0 + 180)
    assert out.reason == (
        "Threshold Crossed: 2 out of the last 3 datapoints "
        "[5.0 (26/11/25 09:52:00), 5.0 (26/11/25 09:50:00)] were greater than the threshold (3.0) "
        "(minimum 2 datapoints for OK -> ALARM transition)."
    )
    back = evaluate(rule(2, 3), pts("00X"), ALARM, T0 + 180)
    assert back.state == OK
    assert back.reason.endswith(
        "were not greater than the threshold (3.0) (minimum 2 datapoints for ALARM -> OK transition)."
    )


def test_reason_for_missing_data() -> None:
    assert evaluate(rule(), pts("---"), OK, T0).reason == "Insufficient Data: 3 datapoints were unknown."
    assert evaluate(rule(1, 1), pts("-"), OK, T0).reason == "Insufficient Data: 1 datapoint was unknown."
    treated = evaluate(rule(treat="breaching"), pts("---"), OK, T0).reason
    assert treated == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints were "
        "treated as [Breaching]."
    )


def test_reason_data_and_firing_values() -> None:
    out = evaluate(rule(2, 3), pts("X0X"), OK, T0 + 185.25)
    data = json.loads(json.dumps(out.reason_data))
    assert data["version"] == "1.0"
    assert data["queryDate"] == "2025-11-26T09:53:05.250+0000"
    assert data["startDate"] == "2025-11-26T09:50:00.000+0000"
    assert data["statistic"] == "Average" and data["period"] == 60 and data["threshold"] == 3.0
    assert data["recentDatapoints"] == [5.0, 1.0, 5.0]
    assert data["evaluatedDatapoints"][0]["timestamp"] == "2025-11-26T09:52:00.000+0000"
    assert out.value == 5.0 and out.recent == (5.0, 1.0, 5.0)
    p99 = Rule(3.0, "GreaterThanThreshold", 1, 1, "missing", 60, "p99", unit="Seconds")
    data = evaluate(p99, pts("X"), OK, T0).reason_data
    assert data["extendedStatistic"] == "p99" and "statistic" not in data and data["unit"] == "Seconds"
    assert evaluate(rule(), pts("---"), OK, T0).value is None


def test_window_is_aligned_and_points_fill_gaps() -> None:
    start, end = window(T0 + 75, 60, 3)
    assert (start, end) == (T0 - 120, T0 + 60)
    got = points_in(start, 60, 3, {T0 - 60: 2.0})
    assert [p.value for p in got] == [None, 2.0, None]
    assert iso_time(T0) == "2025-11-26T09:50:00.000+0000"
