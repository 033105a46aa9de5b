"""The rules' business-hours check and the SLA calendar agree on the nights the clocks
change, in the team's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor.calendar import BusinessCalendar
from monitor.rules.hours import OpeningHours, parse_week, parse_zone

MINUTE = timedelta(minutes=1)


def hours(zone: str, table: dict[str, str]) -> OpeningHours:
    return OpeningHours(parse_zone(zone), parse_week(table))


def disagreements(opening: OpeningHours, night: datetime) -> list[datetime]:
    """The minutes of the night that the rules call open and the SLA clock does not
    count, or the other way round."""
    calendar = BusinessCalendar(opening)
    moments = (night + MINUTE * m for m in range(6 * 60))
    return [
        t
        for t in moments
        if opening.is_open(t) is not (calendar.minutes_between(t, t + MINUTE) == 1)
    ]


# The spans end or start inside the hour the clocks repeat: New York's 01:00-02:00 on
# 1 November 2026 (05:00-07:00 UTC), Berlin's 02:00-03:00 on 25 October (00:00-02:00).
@pytest.mark.parametrize(
    ("zone", "span", "night"),
    [
        ("America/New_York", "00:00-01:30", datetime(2026, 11, 1, 4, tzinfo=UTC)),
        ("America/New_York", "01:30-24:00", datetime(2026, 11, 1, 4, tzinfo=UTC)),
        ("Europe/Berlin", "00:00-02:30", datetime(2026, 10, 24, 23, tzinfo=UTC)),
        ("Europe/Berlin", "02:30-03:30", datetime(2026, 10, 24, 23, tzinfo=UTC)),
        ("Europe/Berlin", "01:30-02:30", datetime(2026, 10, 24, 23, tzinfo=UTC)),
    ],
)
def test_the_repeated_hour_is_open_for_the_rules_as_the_sla_clock_counts_it(
    zone: str, span: str, night: datetime
) -> None:
    assert disagreements(hours(zone, {"mon-sun": span}), night) == []


def test_a_shift_closing_in_the_repeated_hour_does_not_reopen_when_the_clocks_go_back() -> None:
    # Closed at the first 01:30 (05:30 UTC); the clocks showing 01:00-01:30 again an
    # hour later (06:00-06:30 UTC) do not bring the shift back for the rules.
    night_shift = hours("America/New_York", {"sat": "22:00-24:00", "sun": "00:00-01:30"})
    assert night_shift.is_open(datetime(2026, 11, 1, 5, 29, tzinfo=UTC))
    assert not night_shift.is_open(datetime(2026, 11, 1, 5, 30, tzinfo=UTC))
    assert not night_shift.is_open(datetime(2026, 11, 1, 6, 15, tzinfo=UTC))
    # 3 h 30 of night shift, as the SLA clock counts it.
    calendar = BusinessCalendar(night_shift)
    start = datetime(2026, 11, 1, 2, tzinfo=UTC)  # Saturday 22:00 EDT
    assert calendar.add_minutes(start, 210) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


# Saturday 22:00 to Sunday 06:00 on the team's clocks: 9 hours when the clocks go back,
# 7 when they go forward.
@pytest.mark.parametrize(
    ("zone", "opens", "closes", "minutes"),
    [
        ("America/New_York", datetime(2026, 11, 1, 2), datetime(2026, 11, 1, 11), 540),
        ("America/New_York", datetime(2026, 3, 8, 3), datetime(2026, 3, 8, 10), 420),
        ("Europe/Berlin", datetime(2026, 10, 24, 20), datetime(2026, 10, 25, 5), 540),
        ("Europe/Berlin", datetime(2026, 3, 28, 21), datetime(2026, 3, 29, 4), 420),
    ],
)
def test_an_overnight_shift_counts_the_hour_the_clocks_add_or_skip(
    zone: str, opens: datetime, closes: datetime, minutes: int
) -> None:
    shift = hours(zone, {"sat": "22:00-24:00", "sun": "00:00-06:00"})
    calendar = BusinessCalendar(shift)
    opens, closes = opens.replace(tzinfo=UTC), closes.replace(tzinfo=UTC)
    assert calendar.minutes_between(opens - MINUTE * 60, closes + MINUTE * 60) == minutes
    assert calendar.add_minutes(opens - MINUTE * 60, minutes) == closes
    assert disagreements(shift, opens) == []
