"""The ``teams:`` and ``channels:`` sections: who takes escalated cases, their business
hours and SLA, and where they are notified."""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Annotated

from pydantic import BeforeValidator, Field, ValidationInfo, field_validator

from monitor.calendar import BusinessCalendar
from monitor.domain import MAX_SLA_MINUTES, MIN_NOTIFY_CHARS, NAME_CHARS, NOTIFY_CHARS
from monitor.logs import redact_apprise_urls
from monitor.rules.hours import OpeningHours, parse_week, parse_zone
from monitor.settings.base import Strict

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
DEFAULT_WARNING = 15  # business minutes


def warning_before(deadline: int, warning: int) -> int:
    """The business minutes to warn before a deadline of ``deadline``: ``warning``, or
    half the deadline (rounded down; 0: none) when ``warning`` would reach back to its
    start, so the warning came with the escalation itself. For a team's own deadline
    and for a rule's shorter one (escalate: sla_minutes), so both halve alike."""
    return warning if warning < deadline else deadline // 2


def _written_date(value: object) -> object:
    """pydantic reads a number, or digits in quotes, as a Unix timestamp (1767225600 as
    2026-01-01): a holiday nobody wrote."""
    expected = "expected a date written YYYY-MM-DD (2026-12-25)"
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"{expected}, not a number")
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError(f"{expected}, not {value!r}")
    return value


class Team(Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS)
    first_response_minutes: int = Field(default=60, ge=1, le=MAX_SLA_MINUTES)
    # Business minutes (the team's calendar) before the deadline at which check_sla warns.
    # Bounded as the deadline is: check_sla walks this far ahead in the calendar each run.
    # Read through warning_minutes: left out, it fits a short deadline.
    sla_warning_minutes: int = Field(default=DEFAULT_WARNING, ge=0, le=MAX_SLA_MINUTES)
    channels: list[str] = Field(default_factory=list)
    # Business hours and holidays, in the team's own time zone: rules match on them and
    # the SLA clock stops outside them. No table: open around the clock.
    timezone: str = "UTC"
    business_hours: dict[str, str] = Field(default_factory=dict)  # {"mon-fri": "09:00-17:00"}
    holidays: list[Annotated[date, BeforeValidator(_written_date)]] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _trimmed(cls, name: str) -> str:
        """Rules, dashboard users and stored cases name a team exactly: ' care' was a
        second team that `team: care` in a rule never reached, shown as 'care'."""
        if name != name.strip():
            raise ValueError(
                "must not start or end with white space: rules and the dashboard name a"
                " team exactly"
            )
        return name

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        parse_zone(name)
        return name

    @field_validator("business_hours")
    @classmethod
    def _readable_hours(cls, table: dict[str, str]) -> dict[str, str]:
        week = parse_week(table)
        if week is not None and not any(week):
            # Else every deadline of the team failed at escalation, not at check-config.
            raise ValueError(
                "the team is closed every day, so its SLA clock never runs; give it"
                " hours, or leave business_hours out for around the clock"
            )
        return table

    @field_validator("sla_warning_minutes")
    @classmethod
    def _warning_before_deadline(cls, warning: int, info: ValidationInfo) -> int:
        """A warning as long as the deadline (or longer) is due as the case is escalated:
        it came with the escalation, or with the breach alert a minute later. Only a
        written one (a default is not validated): the default fits itself to a short
        deadline (warning_minutes)."""
        deadline = info.data.get("first_response_minutes")
        if deadline is None or warning < deadline:
            return warning  # a bad deadline is reported on its own
        name = info.data.get("name")  # missing when refused itself
        team = "the team" if name is None else f"team {name!r}"
        raise ValueError(
            f"{team} warns {warning} business minutes before a"
            f" deadline of {deadline} (first_response_minutes), so at the escalation"
            f" itself: set it below {deadline} (0: no warning), or leave it out for half"
            " the deadline"
        )

    @property
    def warning_minutes(self) -> int:
        """The warning check_sla gives, in business minutes like the deadline (0: none).
        The default 15 before a deadline of 15 or less came at the escalation; refused,
        it broke every such team that never set it: half the deadline, rounded down. A
        written one is below the deadline (_warning_before_deadline), so it is kept."""
        return warning_before(self.first_response_minutes, self.sla_warning_minutes)

    def warning_for(self, deadline: int) -> int:
        """The warning for a case due ``deadline`` business minutes after its clock
        starts: the team's, or half of a rule's shorter deadline (escalate: sla_minutes),
        which the team's warning reached at the escalation itself."""
        return warning_before(deadline, self.warning_minutes)

    def opening_hours(self) -> OpeningHours:
        # Every escalation starts an SLA clock from these: parsed once per team, not per case.
        table = tuple(self.business_hours.items())
        return _opening_hours(self.timezone, table, frozenset(self.holidays))

    def calendar(self) -> BusinessCalendar:
        return BusinessCalendar(self.opening_hours())


@functools.lru_cache(maxsize=64)
def _opening_hours(
    zone: str, table: tuple[tuple[str, str], ...], holidays: frozenset[date]
) -> OpeningHours:
    return OpeningHours(parse_zone(zone), parse_week(dict(table)), holidays)


class Channel(Strict):
    """A notification target: an apprise URL (Slack, Teams, Discord, mailto, json://...)."""

    url: str = Field(min_length=3)
    # The most this channel takes, title and body together (an SMS or pager gateway:
    # 160); a longer notification is cut there, the customer's words first.
    max_chars: int = Field(default=NOTIFY_CHARS, ge=MIN_NOTIFY_CHARS, le=NOTIFY_CHARS)

    @field_validator("url")
    @classmethod
    def _apprise_can_send(cls, url: str) -> str:
        # Checked here, or a typo ("slak://") would fail every escalation at run time.
        import apprise

        redact_apprise_urls()
        # Read as the notifier reads it (responders.notify): apprise takes a string
        # holding several URLs (", " or " " between them) as that many targets.
        target = apprise.Apprise()
        if not target.add(url):
            raise ValueError(
                "apprise cannot send to this URL (its scheme or form is wrong; see "
                "https://github.com/caronc/apprise/wiki); the URL is not shown, it may "
                "hold a secret"
            )
        if len(target) > 1:
            # A notification is one outbox action per channel, retried whole: with one
            # of its URLs down, the others got the alert again at every retry, for all
            # of notify_retry_hours.
            raise ValueError(
                f"holds {len(target)} apprise URLs; a channel is one URL, sent to and "
                "retried on its own: give each URL a channel name of its own and list "
                "those names (the URLs are not shown, they may hold secrets)"
            )
        return url
