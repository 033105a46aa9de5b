"""Reports: volume, response and resolution times, SLA attainment and tags over a window."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, select
from sqlalchemy.orm import Session

from monitor.cases import SPAM_TAG
from monitor.domain import ActionKind, ActionStatus, CaseState, Label, Platform
from monitor.rules.hours import parse_zone
from monitor.runtime import Runtime
from monitor.settings import Team
from monitor.store.models import ActionRow, Case, Event, Message, from_customer
from monitor.threads import BACKFILL_TAG
from monitor.web.report_days import local_day

MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Timing:
    """Minutes from case opened to an event, for one group of cases."""

    group: str
    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True, slots=True)
class Attainment:
    team: str
    met: int
    breached: int
    pending: int

    @property
    def percent(self) -> float | None:
        done = self.met + self.breached
        return round(100 * self.met / done, 1) if done else None


@dataclass(frozen=True, slots=True)
class CaseFigures:
    """One case in the window, as the database computed it."""

    id: int
    team: str
    first_response: float | None  # minutes from opened
    resolution: float | None
    sla: str | None  # met | breached | pending | None (no SLA)
    tags: tuple[str, ...]
    state: str


@dataclass(frozen=True, slots=True)
class Report:
    since: datetime
    days: int
    volume: list[tuple[str, str, str, int]]  # (day, platform, sentiment, messages)
    first_response: list[Timing]  # by team, then "bot" and "human"
    resolution: list[Timing]
    # The same groups, in the business minutes of each case's team, as its SLA counts.
    first_response_business: list[Timing]
    sla: list[Attainment]
    top_tags: list[tuple[str, int]]
    # The IANA zone whose days the volume counts (web.report_timezone).
    timezone: str = "UTC"


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile: an actual observed value, as support dashboards report."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)


def timing(group: str, minutes: list[float]) -> Timing:
    return Timing(group, len(minutes), percentile(minutes, 0.5), percentile(minutes, 0.9))


def _minutes_between(start: Any, end: Any, dialect: str) -> ColumnElement[Any]:
    """Minutes as a number computed by the database: converting tens of thousands of
    timestamps to Python datetimes cost most of the report's time (bench/web.py)."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start) / 60.0
    return (func.julianday(end) - func.julianday(start)) * 1440.0


def _sla_outcome(now: datetime) -> ColumnElement[Any]:
    """The first response against its deadline. Once answered, sla_due_at moves on to
    the deadline of a follow-up's answer: the first one is kept in first_response_due_at."""
    answered = Case.first_response_at.is_not(None)
    due = case((answered, Case.first_response_due_at), else_=Case.sla_due_at)
    # Closed unanswered (spam, or nothing to answer): resolving leaves the deadline on
    # the case, but no answer is owed once it is closed, so only one closed after the
    # deadline (the customer waited past it) is a breach; one closed in time is neither.
    closed = Case.resolved_at.is_not(None)
    return case(
        # Missed before the customer reopened the case: its new clock does not undo it.
        (Case.missed_due_at.is_not(None), "breached"),
        (due.is_(None), None),
        (answered & (Case.first_response_at <= due), "met"),
        (answered, "breached"),
        (closed & (Case.resolved_at <= due), None),
        (closed | (due < now), "breached"),
        else_="pending",
    )


def _resolution_minutes(dialect: str) -> ColumnElement[Any]:
    """Minutes from opening to the last resolution (less the time it sat resolved before
    a reopening: _minutes_resolved_before); none for a case closed unanswered the moment
    it opened: a rule ignored the message that opened it (processing._close_as_ignored),
    nobody's work. Timed, each retweet or giveaway post was a 0-minute resolution."""
    ignored = Case.first_response_at.is_(None) & (Case.resolved_at == Case.opened_at)
    return case((ignored, None), else_=_minutes_between(Case.opened_at, Case.resolved_at, dialect))


def build_report(rt: Runtime, days: int = 30) -> Report:
    days = max(1, min(days, MAX_DAYS))
    now = rt.clock.now()
    since = now - timedelta(days=days)
    dialect = rt.engine.dialect.name
    zone = rt.settings.web.report_timezone
    query = select(
        Case.id,
        func.coalesce(Case.team, "(none)"),
        _minutes_between(Case.opened_at, Case.first_response_at, dialect),
        _resolution_minutes(dialect),
        _sla_outcome(now),
        cast(Case.tags, String),
        Case.state,
    ).where(Case.opened_at >= since)
    with rt.sessions() as session:
        day = local_day(Message.created_at, parse_zone(zone), since, now, dialect)
        volume = _volume(session, since, day)
        resolved_for = _minutes_resolved_before(session, since)
        figures = [_open_only(_figures(*row), resolved_for) for row in session.execute(query)]
        responders = _first_responders(session, since)
        moved, missed = _moved_after(session, since)
        business = _business_minutes(session, rt.settings.teams, since, moved)
    # The first response and its SLA are the team's that held the case when it was
    # answered: a case handed on since gave its new team none of them. A deadline missed
    # before a team change is the breach of the team that held the case then.
    rows = [_credited(r, moved) for r in figures]
    timed = [r for r in rows if not _spam(r)]
    # Only the cases answered when the cases were read: one answered before the business
    # minutes were read (a later statement) would be in the business table alone.
    in_business = [
        replace(r, first_response=business.get(r.id, r.first_response))
        for r in timed
        if r.first_response is not None
    ]
    return Report(
        since,
        days,
        volume,
        _first_response(timed, responders),
        _grouped(
            (r.team, r.resolution)
            for r in figures
            if r.resolution is not None and not _spam(r) and _resolved_by_people(r)
        ),
        _first_response(in_business, responders),
        _attainment([replace(r, team=missed.get(r.id, r.team)) for r in rows]),
        Counter(t for r in rows for t in r.tags).most_common(10),
        zone,
    )


def _figures(
    case_id: int,
    team: str,
    first_response: float | None,
    resolution: float | None,
    sla: str | None,
    tags: str | None,
    state: str,
) -> CaseFigures:
    """A row of the report's query, its tags (JSON text) decoded once."""
    decoded = tuple(json.loads(tags or "[]"))
    return CaseFigures(case_id, team, first_response, resolution, sla, decoded, state)


def _open_only(row: CaseFigures, resolved_for: dict[int, float]) -> CaseFigures:
    """The row with its resolution less the minutes it sat resolved before a reopening."""
    sat = resolved_for.get(row.id)
    if sat is None or row.resolution is None:
        return row
    return replace(row, resolution=row.resolution - sat)


def _minutes_resolved_before(session: Session, since: datetime) -> dict[int, float]:
    """By id, the minutes each resolved case opened since sat resolved between its
    opening and its last close, read from the audit trail: a case the customer
    reopened days after it was closed was timed from its first opening to its last
    close, those days included, though nobody owed her anything then. Only reopened
    cases are timed so.

    Read through each case's events (ix_events_case), about one row per resolved case,
    as the figures are: "the cases with a reopening" asked of the events table alone
    read every state change ever recorded, on each report page."""
    resolved = CaseState.RESOLVED.value
    old, new = Event.detail["old"].as_string(), Event.detail["new"].as_string()
    query = (
        select(Case.id, Case.opened_at, Case.resolved_at, new, Event.at)
        .join(Event, Event.case_id == Case.id)
        .where(Case.opened_at >= since, Case.resolved_at.is_not(None))
        .where(Event.kind == "state", (old == resolved) | (new == resolved))
        .order_by(Case.id, Event.at, Event.id)
    )
    minutes: dict[int, float] = {}
    for case_id, group in groupby(session.execute(query).all(), key=lambda row: row[0]):
        rows = list(group)
        _, opened, last_close, _, _ = rows[0]
        changes = [(state == resolved, at) for _, _, _, state, at in rows]
        if all(closes for closes, _ in changes):
            continue  # never reopened: timed from opening to close
        minutes[case_id] = _closed_minutes(changes, opened, last_close)
    return minutes


def _closed_minutes(
    changes: Sequence[tuple[bool, datetime]], opened: datetime, last_close: datetime
) -> float:
    """Minutes between ``opened`` and ``last_close`` spent closed, from the case's closes
    (True) and reopenings (False) in order. Not before ``opened``: a reopening of a case
    closed unanswered moved its opening to then, and its time closed is behind it."""
    total, closed_at = 0.0, None
    for closes, at in changes:
        if closes:
            closed_at = at
        elif closed_at is not None:
            start, end = max(closed_at, opened), min(at, last_close)
            total += max(0.0, (end - start).total_seconds() / 60)
            closed_at = None
    return total


def _spam(row: CaseFigures) -> bool:
    """Closed as spam: no customer waited for an answer or a resolution, so its minutes
    (marked spam moments after it opened, mostly) are not timed; its SLA outcome and its
    tag still count."""
    return row.state == CaseState.RESOLVED.value and SPAM_TAG in row.tags


@dataclass(frozen=True, slots=True)
class Answered:
    """A case moved to another team after its first response: the team that held it
    when it was answered (None: no team), and the times that response is counted from
    and at."""

    team: str | None
    opened: datetime
    answered: datetime


# A team change in the audit trail: a person's move ("team", with the team it left) or
# a rule's escalation ("state", with the team it went to).
_TEAM_EVENT: ColumnElement[bool] = (Event.kind == "team") | (
    (Event.kind == "state") & Event.detail["team"].as_string().is_not(None)
)


def _credited(row: CaseFigures, moved: dict[int, Answered]) -> CaseFigures:
    """The row under the team its first response and SLA count for."""
    answered = moved.get(row.id)
    if answered is None:
        return row
    return replace(row, team=answered.team or "(none)")


TeamEvents = list[tuple[str, dict[str, Any], datetime]]


def _moved_after(session: Session, since: datetime) -> tuple[dict[int, Answered], dict[int, str]]:
    """The cases opened since that changed team after a moment of theirs, read from the
    audit trail in one query: a person's move ("team", with the team it left) and a
    rule's escalation ("state", with the team it went to). Only cases escalated or moved
    have such events, so few rows come back.

    By id, first the answered cases moved after their first response: the team that
    held each when it was answered, and its times. Then the cases moved after missing
    their first-response deadline (kept in missed_due_at): the team that held each then;
    the team it went to got a new deadline of its own, and the breach is not its."""
    query = (
        select(
            Case.id,
            Case.opened_at,
            Case.first_response_at,
            Case.missed_due_at,
            Event.kind,
            Event.detail,
            Event.at,
        )
        .join(Event, Event.case_id == Case.id)
        .where(
            Case.opened_at >= since,
            Case.first_response_at.is_not(None) | Case.missed_due_at.is_not(None),
            _TEAM_EVENT,
        )
        .order_by(Case.id, Event.at, Event.id)
    )
    moved: dict[int, Answered] = {}
    missed: dict[int, str] = {}
    for case_id, group in groupby(session.execute(query).all(), key=lambda row: row[0]):
        rows = list(group)
        _, opened, answered, due, _, _, _ = rows[0]
        events = [(kind, detail or {}, when) for _, _, _, _, kind, detail, when in rows]
        if _changed_after(events, answered):
            moved[case_id] = Answered(_team_at(events, answered), opened, answered)
        if _changed_after(events, due):
            missed[case_id] = _team_at(events, due) or "(none)"
    return moved, missed


def _changed_after(events: TeamEvents, moment: datetime | None) -> bool:
    return moment is not None and any(when > moment for _, _, when in events)


def _team_at(events: TeamEvents, answered: datetime) -> str | None:
    """The team that held the case at ``answered`` (or at a missed deadline), from its
    team events in order, one at least after it. A person's move says which team it
    left; a rule's escalation only where it went, so then the team is the one the last
    event before the answer gave it (None: no team yet)."""
    kind, detail = next((kind, detail) for kind, detail, at in events if at > answered)
    if kind == "team":
        return _text(detail.get("old"))
    before = [(kind, detail) for kind, detail, at in events if at <= answered]
    if not before:
        return None
    kind, detail = before[-1]
    return _text(detail.get("new" if kind == "team" else "team"))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _business_minutes(
    session: Session, teams: Sequence[Team], since: datetime, moved: dict[int, Answered]
) -> dict[int, float]:
    """Minutes to the first response on the calendar of the team that answered, for the
    answered cases of teams with business hours or holidays; on any other case they are
    the clock's. Only these cases' timestamps are read into Python, which is slow on
    many rows."""
    calendars = {t.name: t.calendar() for t in teams if t.business_hours or t.holidays}
    if not calendars:
        return {}
    query = select(Case.id, Case.team, Case.opened_at, Case.first_response_at).where(
        Case.opened_at >= since,
        Case.first_response_at.is_not(None),
        Case.team.in_(sorted(calendars)),
    )
    minutes = {
        case_id: calendars[team].minutes_between(opened, answered)
        for case_id, team, opened, answered in session.execute(query).all()
        if team is not None and answered is not None and case_id not in moved
    }
    for case_id, a in moved.items():
        if a.team in calendars:
            minutes[case_id] = calendars[a.team].minutes_between(a.opened, a.answered)
    return minutes


def _resolved_by_people(row: CaseFigures) -> bool:
    """Whether the case's resolution is one to time. Not a case a backfill imported: it
    resolves its cases as it imports them, days after they were written, and that span
    is no one's work."""
    return BACKFILL_TAG not in row.tags


def _volume(
    session: Session, since: datetime, day: ColumnElement[Any]
) -> list[tuple[str, str, str, int]]:
    label = func.coalesce(Message.label, "unscored")
    # Not the brand's own posts that a search brought in: they inflated the volume.
    query = (
        select(day, Message.platform, label, func.count())
        .where(Message.created_at >= since, from_customer())
        .group_by(day, Message.platform, label)
        .order_by(day)
    )
    return [(str(d), p, str(lab), int(n)) for d, p, lab, n in session.execute(query).all()]


def _first_responders(session: Session, since: datetime) -> dict[int, str]:
    """'bot' or 'human' for the reply posted in each case opened since that was its
    first response; a case answered first on the platform itself has none here."""
    # In the order they were posted (a sent reply's updated_at is when it went out), not
    # queued: a bot reply held by the X write budget went out after a person's answer,
    # and the lowest id credited the bot with the first response.
    order = func.row_number().over(
        partition_by=ActionRow.case_id, order_by=(ActionRow.updated_at, ActionRow.id)
    )
    sent = (
        select(ActionRow.case_id, ActionRow.rule, ActionRow.actor, order.label("n"))
        .join(Case, Case.id == ActionRow.case_id)
        .where(
            Case.opened_at >= since,
            ActionRow.kind == ActionKind.REPLY.value,
            ActionRow.status == ActionStatus.SENT.value,
            # Sent by the first response (dispatch counts it when it records the send):
            # one sent after the brand's answer on the platform is not what answered
            # first, and credited the bot with a person's first response.
            ActionRow.updated_at <= Case.first_response_at,
        )
        .subquery()
    )
    rows = session.execute(
        select(sent.c.case_id, sent.c.rule, sent.c.actor).where(sent.c.n == 1)
    ).all()
    # A rule's reply keeps the rule as actor; an approved draft carries the approver's name.
    return {
        case_id: "by bot" if actor is None or actor == rule else "by human"
        for case_id, rule, actor in rows
        if case_id is not None
    }


def _grouped(pairs: Iterable[tuple[str, float]]) -> list[Timing]:
    groups: dict[str, list[float]] = defaultdict(list)
    for group, value in pairs:
        groups[group].append(float(value))
    return [timing(group, groups[group]) for group in sorted(groups)]


def _first_response(rows: Sequence[CaseFigures], responders: dict[int, str]) -> list[Timing]:
    answered = [r for r in rows if r.first_response is not None]
    by_team = _grouped((r.team, r.first_response) for r in answered)  # type: ignore[misc]
    # Answered with no reply of ours: a person answered on the platform itself.
    by_who = _grouped(
        (responders.get(r.id, "by human"), r.first_response)  # type: ignore[misc]
        for r in answered
    )
    return [*by_team, *by_who]


def _attainment(rows: Sequence[CaseFigures]) -> list[Attainment]:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    for r in rows:
        if r.sla is not None:
            tally[r.team][r.sla] += 1
    return [
        Attainment(team, c["met"], c["breached"], c["pending"]) for team, c in sorted(tally.items())
    ]


def csv_rows(report: Report) -> list[list[str]]:
    """The same numbers as the charts, one long table: section, group, key, value."""
    rows = [["section", "group", "key", "value"]]
    rows += [["window", "", "since", report.since.isoformat()]]
    rows += [["window", "", "days", str(report.days)]]
    rows += [["window", "", "timezone", report.timezone]]
    rows += _volume_rows(report)
    for section, timings in (
        ("first_response_minutes", report.first_response),
        ("first_response_business_minutes", report.first_response_business),
        ("resolution_minutes", report.resolution),
    ):
        for t in timings:
            rows += [[section, t.group, "count", str(t.count)]]
            rows += [
                [section, t.group, key, "" if v is None else str(v)]
                for key, v in (("median", t.median), ("p90", t.p90))
            ]
    for a in report.sla:
        rows += [
            ["sla", a.team, key, str(v)]
            for key, v in (("met", a.met), ("breached", a.breached), ("pending", a.pending))
        ]
        rows += [["sla", a.team, "percent", "" if a.percent is None else str(a.percent)]]
    rows += [["tags", tag, "cases", str(n)] for tag, n in report.top_tags]
    return rows


def window_days(report: Report) -> list[str]:
    """Every day of the window in the report's zone, as the volume counts them (the first
    and last partly). From the local date of the start to that of the end, not days + 1
    dates: across a DST change the window's 24-hour days span one more date, or one
    fewer."""
    zone = parse_zone(report.timezone)
    first = report.since.astimezone(zone).date()
    last = (report.since + timedelta(days=report.days)).astimezone(zone).date()
    return [(first + timedelta(days=d)).isoformat() for d in range((last - first).days + 1)]


def every_day_volume(report: Report) -> list[tuple[str, str, str, int]]:
    """The volume with a row for every day, platform and label of the window, 0 where
    nothing came in (the CSV and /api/reports): a chart or pivot table made from the
    rows alone skipped a day that had none."""
    counts = {(day, platform, label): n for day, platform, label, n in report.volume}
    days = sorted({*window_days(report), *(day for day, _, _ in counts)})
    platforms = sorted({*(p.value for p in Platform), *(p for _, p, _ in counts)})
    labels = sorted({*(lab.value for lab in Label), *(lab for _, _, lab in counts)})
    return [
        (day, platform, label, counts.get((day, platform, label), 0))
        for day in days
        for platform in platforms
        for label in labels
    ]


def _volume_rows(report: Report) -> list[list[str]]:
    return [
        ["volume", f"{day} {platform}", label, str(n)]
        for day, platform, label, n in every_day_volume(report)
    ]
