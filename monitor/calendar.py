"""Business hours per team, for SLA clocks that stop at night, on weekends and holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from monitor.domain import utc

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A calendar with no open day would never reach a deadline; two years is the bound.
MAX_DAYS = 731


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    zone: ZoneInfo
    open_days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    holidays: frozenset[date]

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """The moment ``minutes`` of business time after ``start``."""
        remaining = timedelta(minutes=minutes)
        local = utc(start).astimezone(self.zone)
        day = local.date()
        for _ in range(MAX_DAYS):
            window = self._window(day)
            if window is not None:
                begin = max(window[0], local)
                if begin < window[1]:
                    available = window[1] - begin
                    if remaining <= available:
                        return utc(begin + remaining)
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError("no business hours within two years: check the team's calendar")

    def minutes_between(self, start: datetime, end: datetime) -> float:
        """Business minutes from ``start`` to ``end`` (negative when end is earlier)."""
        if end < start:
            return -self.minutes_between(end, start)
        total = timedelta()
        first = utc(start).astimezone(self.zone)
        last = utc(end).astimezone(self.zone)
        day = first.date()
        while day <= last.date():
            window = self._window(day)
            if window is not None:
                lo, hi = max(window[0], first), min(window[1], last)
                total += max(hi - lo, timedelta())
            day += timedelta(days=1)
        return total.total_seconds() / 60

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.open_days or day in self.holidays:
            return None
        return (
            datetime.combine(day, self.opens, self.zone),
            datetime.combine(day, self.closes, self.zone),
        )


class AlwaysOpen:
    """The calendar of a team without business hours: the SLA clock never stops."""

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        return utc(start) + timedelta(minutes=minutes)

    def minutes_between(self, start: datetime, end: datetime) -> float:
        return (utc(end) - utc(start)).total_seconds() / 60
