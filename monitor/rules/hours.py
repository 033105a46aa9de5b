"""Business hours and holidays per team, in the team's named time zone.

Written in the config as ``{"mon-fri": "09:00-17:30", "sat": "10:00-14:00"}``. An
empty table means the team is always open (holidays still close it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")

Interval = tuple[int, int]  # minutes after midnight, start inclusive, end exclusive


@dataclass(frozen=True, slots=True)
class OpeningHours:
    zone: ZoneInfo
    week: tuple[tuple[Interval, ...], ...] | None  # None: open around the clock
    holidays: frozenset[date] = frozenset()

    def is_open(self, moment: datetime) -> bool:
        local = _before_the_clocks_went_back(moment.astimezone(self.zone))
        if local.date() in self.holidays:
            return False
        if self.week is None:
            return True
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.week[local.weekday()])


def _before_the_clocks_went_back(local: datetime) -> datetime:
    """The team's clocks the last minute before they went back, during the hour they
    repeat (``fold``); else ``local``. The team opens and closes when its clocks first
    show a time, as the SLA calendar counts it: read again, a shift closed at 01:30
    reopened at the second 01:00 and one opened at 01:30 closed again for half an hour."""
    moment = local.astimezone(UTC)  # stepped back in UTC: aware datetimes of one zone
    while local.fold:  # are subtracted on their wall clocks
        moment -= timedelta(minutes=1)
        local = moment.astimezone(local.tzinfo)
    return local


def parse_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    # OSError: a region of the database ("Europe") is a folder, which ZoneInfo opens.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        message = f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        raise ValueError(message) from None


def parse_week(table: Mapping[str, str]) -> tuple[tuple[Interval, ...], ...] | None:
    """Parse the config table; raise ValueError naming the bad entry."""
    if not table:
        return None
    days: list[list[Interval]] = [[] for _ in DAYS]
    opened: dict[int, str] = {}
    closed: dict[int, str] = {}
    for key, spans in table.items():
        intervals = _intervals(spans, key)
        for day in _day_numbers(key):
            days[day].extend(intervals)
            (opened if intervals else closed).setdefault(day, key)
    _refuse_reopened(opened, closed)
    return tuple(_merged(day) for day in days)


def _refuse_reopened(opened: Mapping[int, str], closed: Mapping[int, str]) -> None:
    """A day closed by one entry and opened by another: open during either, it was open
    (its SLA clock running) where the team meant it closed, with nothing said. The wider
    entry is the one to narrow: the narrower one says what the team meant for the day,
    and told to narrow 'mon-fri' under 'mon-sun: closed', the team closed its Monday."""
    for day, key in closed.items():
        if day in opened:
            name, other = DAYS[day], opened[day]
            wider = key if len(_day_numbers(key)) > len(_day_numbers(other)) else other
            raise ValueError(
                f"{name} is closed by {key!r} but opened by {other!r}, and a day listed"
                f" twice is open during either: leave {name} out of {wider!r}"
            )


def _merged(spans: list[Interval]) -> tuple[Interval, ...]:
    """Overlapping or touching spans as one: a day listed twice ("mon-fri" and a short
    "fri") had its shared minutes counted twice by the SLA clock, a deadline came early."""
    out: list[Interval] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return tuple(out)


def _day_numbers(key: str) -> list[int]:
    numbers: list[int] = []
    for part in key.lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"unknown day {part!r}; use {', '.join(DAYS)} or ranges like mon-fri")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise ValueError(f"day range {part!r} runs backwards")
        numbers.extend(range(start, end + 1))
    return numbers


def _intervals(spans: str, key: str) -> list[Interval]:
    if spans.strip().lower() == "closed":
        return []
    out: list[Interval] = []
    for span in spans.split(","):
        found = _SPAN.match(span)
        if not found:
            raise ValueError(f"{key}: cannot read {span.strip()!r}; write 09:00-17:30 or closed")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or h1 > 23 or end > 24 * 60 or end <= start:
            raise ValueError(
                f"{key}: {span.strip()!r} is not a span within one day; split an overnight"
                " shift at midnight, written 24:00 (22:00-24:00 on one day, 00:00-06:00 on"
                " the next)"
            )
        out.append((start, end))
    return out
