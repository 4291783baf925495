"""Scheduled actions' schedules: ``at(...)``, ``rate(...)`` and ``cron(...)`` in a time zone.

- ``at(yyyy-mm-ddThh:mm:ss)``: once, at that wall-clock time in the action's ``Timezone``
  (default UTC);
- ``rate(N minute|minutes|hour|hours|day|days)``: every N units from the action's
  ``StartTime`` (or its creation);
- ``cron(minutes hours day-of-month month day-of-week year)``: AWS's six-field cron, in the
  time zone: ``*``, ``?``, lists, ranges, ``/`` steps, month names (JAN-DEC), day names
  (SUN-SAT; numbers 1-7 with 1 = Sunday), ``L`` (last day of the month; ``nL`` the last such
  weekday), ``W`` (nearest weekday) and ``#`` (``2#1``: the first Monday). One of
  day-of-month and day-of-week must be ``?``.

``Schedule.next_after(t)`` is the first firing strictly after epoch ``t`` (None: never again).
Pure: the controller passes the clock in.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}
_SEARCH_DAYS = 366 * 8  # a cron that fires less often than this (or never) is treated as never


class ScheduleError(ValueError):
    """An expression AWS refuses; the message is the ValidationException's."""


def zone(name: str | None) -> tzinfo:
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"Invalid Timezone: {name}") from None


@dataclass(frozen=True, slots=True)
class Schedule:
    kind: str
    """``at``, ``rate`` or ``cron``."""
    tz: tzinfo
    at: datetime | None = None
    every: float = 0.0
    cron: _Cron | None = None

    def next_after(self, t: float, anchor: float) -> float | None:
        """First firing strictly after ``t``; ``anchor`` is where a rate starts counting."""
        if self.kind == "at":
            assert self.at is not None
            when = self.at.timestamp()
            return when if when > t else None
        if self.kind == "rate":
            if t < anchor:
                return anchor + self.every
            n = int((t - anchor) // self.every) + 1
            return anchor + n * self.every
        assert self.cron is not None
        return self.cron.next_after(t, self.tz)


def parse(expression: str, timezone: str | None = None) -> Schedule:
    tz = zone(timezone)
    text = expression.strip()
    m = _AT.match(text)
    if m:
        try:
            local = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ScheduleError(f"Invalid at expression: {expression}") from None
        return Schedule("at", tz, at=local.replace(tzinfo=tz))
    m = _RATE.match(text)
    if m:
        n, unit = int(m.group(1)), m.group(2).rstrip("s")
        if n < 1:
            raise ScheduleError(f"Invalid rate expression: {expression}")
        if (n == 1) != (not m.group(2).endswith("s")):
            raise ScheduleError(f"Invalid rate expression: {expression}")
        return Schedule("rate", tz, every=float(n * _UNIT[unit]))
    m = _CRON.match(text)
    if m:
        return Schedule("cron", tz, cron=_Cron.parse(m.group(1), expression))
    raise ScheduleError(f"Unsupported schedule expression: {expression}. Must be at(), rate() or cron().")


# -- cron -----------------------------------------------------------------------------------------
def _number(token: str, names: dict[str, int], low: int, high: int, expression: str) -> int:
    value = names.get(token.upper()) if token.isalpha() else None
    if value is None:
        if not token.isdigit():
            raise ScheduleError(f"Invalid cron expression: {expression}")
        value = int(token)
    if not low <= value <= high:
        raise ScheduleError(f"Invalid cron expression: {expression}")
    return value


def _set(
    field: str, low: int, high: int, expression: str, names: dict[str, int] | None = None
) -> frozenset[int]:
    names = names or {}
    out: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ScheduleError(f"Invalid cron expression: {expression}")
            step = int(step_text)
        if base in ("*", ""):
            first, last = low, high
        elif "-" in base:
            a, b = base.split("-", 1)
            first, last = _number(a, names, low, high, expression), _number(b, names, low, high, expression)
        else:
            first = _number(base, names, low, high, expression)
            last = high if step_text else first
        if first <= last:
            out.update(range(first, last + 1, step))
        else:  # a wrapping range (FRI-MON)
            out.update(
                v
                for i, v in enumerate(list(range(first, high + 1)) + list(range(low, last + 1)))
                if i % step == 0
            )
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class _Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: str
    months: frozenset[int]
    dow: str
    years: frozenset[int] | None
    expression: str

    @staticmethod
    def parse(body: str, expression: str) -> _Cron:
        fields = body.split()
        if len(fields) != 6:
            raise ScheduleError(f"Invalid cron expression: {expression}")
        minute, hour, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(f"Invalid cron expression: {expression}")
        cron = _Cron(
            _set(minute, 0, 59, expression),
            _set(hour, 0, 23, expression),
            dom,
            _set(month, 1, 12, expression, MONTHS),
            dow,
            None if year in ("*", "?") else _set(year, 1970, 2199, expression),
            expression,
        )
        probe = date(2024, 1, 1)  # validates the day fields once
        cron._day_matches(probe)
        return cron

    def _day_matches(self, d: date) -> bool:
        if self.dom != "?":
            return self._dom_matches(d)
        return self._dow_matches(d)

    def _dom_matches(self, d: date) -> bool:
        last = calendar.monthrange(d.year, d.month)[1]
        field = self.dom
        if field == "L":
            return d.day == last
        if field.endswith("W") and field[:-1].isdigit():
            want = min(int(field[:-1]), last)
            target = date(d.year, d.month, want)
            if target.weekday() == 5:  # Saturday: Friday before, or Monday after the 1st
                target = target - timedelta(days=1) if want > 1 else target + timedelta(days=2)
            elif target.weekday() == 6:
                target = target + timedelta(days=1) if want < last else target - timedelta(days=2)
            return d == target
        return d.day in _set(field, 1, 31, self.expression)

    def _dow_matches(self, d: date) -> bool:
        field = self.dow
        weekday = (d.weekday() + 1) % 7 + 1  # Monday=0 -> 2, Sunday=6 -> 1
        if "#" in field:
            day_text, _, nth = field.partition("#")
            want = _number(day_text, DAYS, 1, 7, self.expression)
            if not nth.isdigit() or not 1 <= int(nth) <= 5:
                raise ScheduleError(f"Invalid cron expression: {self.expression}")
            return weekday == want and (d.day - 1) // 7 + 1 == int(nth)
        if field.endswith("L"):
            if field == "L":
                return weekday == 7 and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
            want = _number(field[:-1], DAYS, 1, 7, self.expression)
            return weekday == want and d.day + 7 > calendar.monthrange(d.year, d.month)[1]
        if field == "*":
            return True
        return weekday in _set(field, 1, 7, self.expression, DAYS)

    def next_after(self, t: float, tz: tzinfo) -> float | None:
        start = datetime.fromtimestamp(t, tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.date()
        for _ in range(_SEARCH_DAYS):
            in_year = self.years is None or day.year in self.years
            if in_year and day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                        if local >= start:
                            return local.timestamp()
            day += timedelta(days=1)
            if self.years is not None and day.year > max(self.years):
                return None
        return None
