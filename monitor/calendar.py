"""SLA clocks that stop outside a team's business hours (nights, weekends, holidays).

The hours themselves are parsed by monitor.rules.hours, which rules also match on, so a
team has one definition of when it is open.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from monitor.domain import utc
from monitor.rules.hours import OpeningHours

# A calendar with no open minute would never reach a deadline: two years without one
# is the bound. Counted from the last open day, not from the start: a long SLA on a
# short week (Saturday mornings) legitimately ends more than two years ahead.
MAX_DAYS = 731
DAY_MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    hours: OpeningHours

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of business time after ``start``."""
        remaining = timedelta(minutes=minutes)
        start = utc(start)
        day = start.astimezone(self.hours.zone).date()
        closed_days = 0
        while closed_days < MAX_DAYS:
            closed_days += 1
            for opens, closes in self._windows(day):
                begin = max(opens, start)
                if begin >= closes:
                    continue
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
                closed_days = 0
            day += timedelta(days=1)
        raise ValueError("no business hours within two years: check the team's calendar")

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """Business minutes from ``start`` to ``end`` (negative when end is earlier)."""
        if end < start:
            return -self.minutes_between(end, start)
        first, last = utc(start), utc(end)
        total = timedelta()
        day = first.astimezone(self.hours.zone).date()
        last_day = last.astimezone(self.hours.zone).date()
        while day <= last_day:
            for opens, closes in self._windows(day):
                total += max(min(closes, last) - max(opens, first), timedelta())
            day += timedelta(days=1)
        return total.total_seconds() / 60

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        return _windows(self.hours, day)


# The reports read every answered case's business minutes: tens of thousands of cases
# over the same few dozen days, each day's windows worked out once.
@functools.lru_cache(maxsize=4096)
def _windows(hours: OpeningHours, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if day in hours.holidays:
        return ()
    spans = [(0, DAY_MINUTES)] if hours.week is None else hours.week[day.weekday()]
    return tuple((_at(hours, day, start), _at(hours, day, end)) for start, end in spans)


def _at(hours: OpeningHours, day: date, minute: int) -> datetime:
    """The moment the team's clocks show ``minute`` on ``day``, in UTC.

    In UTC because Python subtracts and adds datetimes of one time zone on their
    wall clocks: a day the clocks change would count 24 hours instead of 23 or 25,
    and a deadline across the change would be an hour off."""
    if minute >= DAY_MINUTES:
        day, minute = day + timedelta(days=1), minute - DAY_MINUTES
    local = datetime.combine(day, time(minute // 60, minute % 60), hours.zone)
    moment = utc(local)
    if moment.astimezone(hours.zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return moment
    # A time the clocks skip when they go forward: Python reads it with the old
    # offset, an hour after the change, but the team's clocks (and is_open) pass it
    # at the change itself. The change lies between the two readings.
    before, after = utc(local.replace(fold=1)), moment
    offset = after.astimezone(hours.zone).utcoffset()
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) / 2
        if middle.astimezone(hours.zone).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return after.replace(microsecond=0)
