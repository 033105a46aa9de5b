"""The local day a stored UTC timestamp falls on, in the reports' time zone, as SQL.

SQLite has no time-zone functions, and PostgreSQL's zone data may differ from Python's,
which the teams' calendars use. So Python finds the zone's UTC offsets over the window
(a handful of spans: two DST changes a year at most), and the database adds the offset
of the span a timestamp is in before taking its date. A DST day of 23 or 25 hours is
then one day, as the wall clock has it, on both databases alike; grouping stays in the
database, one query as before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func

# Coarse enough to be cheap over a year (1,500 look-ups), fine enough that no zone
# changes its offset twice within it.
STEP = timedelta(hours=6)


def _offset(zone: ZoneInfo, moment: datetime) -> int:
    delta = moment.astimezone(zone).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def offset_spans(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """``(from, offset in seconds)`` for each stretch of one UTC offset from ``start`` to
    ``end``; the first stretch also covers what is before it, the last what is after."""
    spans = [(start, _offset(zone, start))]
    at = start
    while at < end:
        step = min(STEP, end - at)
        after = _offset(zone, at + step)
        if after != spans[-1][1]:
            # The change is within (at, at + step]: bisect it to the second.
            low, high = at, at + step
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if _offset(zone, middle) == after:
                    high = middle
                else:
                    low = middle
            spans.append((high.replace(microsecond=0), after))
        at += step
    return spans


def _shifted_day(column: Any, offset: int, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":
        # timezone('UTC', ...): the wall clock in UTC, whatever the session's zone is.
        wall: ColumnElement[Any] = func.timezone("UTC", column)
        if offset:
            wall = wall + func.make_interval(0, 0, 0, 0, 0, 0, offset)
        return func.to_char(wall, "YYYY-MM-DD")
    if offset:
        return func.date(column, f"{offset:+d} seconds")
    return func.substr(column, 1, 10)  # stored as "YYYY-MM-DD HH:MM:SS" in UTC


def local_day(
    column: Any, zone: ZoneInfo, since: datetime, until: datetime, dialect: str
) -> ColumnElement[Any]:
    """``column``'s date (``YYYY-MM-DD``) in ``zone``, exact for timestamps from ``since``
    to a day past ``until`` (a post stamped a little ahead of our clock)."""
    spans = offset_spans(zone, since.astimezone(UTC), until.astimezone(UTC) + timedelta(days=1))
    last = _shifted_day(column, spans[-1][1], dialect)
    if len(spans) == 1:
        return last
    whens = [
        (column < spans[i + 1][0], _shifted_day(column, offset, dialect))
        for i, (_, offset) in enumerate(spans[:-1])
    ]
    return case(*whens, else_=last)
