"""Scheduled actions' schedule expressions (model/autoscaling_schedule)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from stowage.model.autoscaling_schedule import ScheduleError, parse


def ts(*parts: int, tz: str = "UTC") -> float:
    return datetime(*parts, tzinfo=UTC if tz == "UTC" else ZoneInfo(tz)).timestamp()  # type: ignore[misc]


def test_at_in_a_time_zone_fires_once() -> None:
    s = parse("at(2030-03-01T09:30:00)", "America/New_York")
    when = ts(2030, 3, 1, 9, 30, tz="America/New_York")
    assert when == ts(2030, 3, 1, 14, 30)  # EST is UTC-5 on March 1st
    assert s.next_after(when - 1, 0) == when
    assert s.next_after(when, 0) is None


def test_rate_counts_from_its_anchor() -> None:
    s = parse("rate(5 minutes)")
    assert s.next_after(1000.0, 1000.0) == 1300.0
    assert s.next_after(1299.0, 1000.0) == 1300.0
    assert s.next_after(1300.0, 1000.0) == 1600.0
    assert parse("rate(1 day)").next_after(0.0, 0.0) == 86400.0


def test_cron_weekdays_in_a_time_zone() -> None:
    # 08:00 on weekdays in Paris; from Saturday 2030-03-02 noon UTC the next is Monday 07:00 UTC
    s = parse("cron(0 8 ? * MON-FRI *)", "Europe/Paris")
    assert s.next_after(ts(2030, 3, 2, 12, 0), 0) == ts(2030, 3, 4, 7, 0)


def test_cron_steps_lists_and_last_day() -> None:
    s = parse("cron(*/15 * * * ? *)")
    assert s.next_after(ts(2030, 1, 1, 0, 7), 0) == ts(2030, 1, 1, 0, 15)
    last = parse("cron(30 23 L * ? *)")
    assert last.next_after(ts(2030, 2, 1), 0) == ts(2030, 2, 28, 23, 30)
    nth = parse("cron(0 12 ? * 2#1 *)")  # first Monday
    assert nth.next_after(ts(2030, 4, 2), 0) == ts(2030, 5, 6, 12, 0)
    weekday = parse("cron(0 9 1W * ? *)")  # 2030-06-01 is a Saturday: Monday 3rd
    assert weekday.next_after(ts(2030, 5, 15), 0) == ts(2030, 6, 3, 9, 0)
    assert parse("cron(0 0 1 1 ? 2031)").next_after(ts(2031, 6, 1), 0) is None


@pytest.mark.parametrize(
    "expression",
    [
        "every 5 minutes",
        "rate(0 minutes)",
        "rate(5 minute)",
        "rate(1 hours)",
        "cron(0 8 * * * *)",  # one of day-of-month and day-of-week must be ?
        "cron(0 8 ? * MON-FRI)",  # five fields
        "cron(61 8 ? * MON *)",
        "at(2030-02-30T00:00:00)",
    ],
)
def test_refused(expression: str) -> None:
    with pytest.raises(ScheduleError):
        parse(expression)


def test_bad_time_zone() -> None:
    with pytest.raises(ScheduleError, match="Invalid Timezone"):
        parse("rate(1 hour)", "Mars/Olympus_Mons")
