"""Step function ``check_sla``: warn before and alert at a response breach, once each.

The response is the first one, or the next one the brand owes after a customer's
follow-up (``cases.response_owed_since``); ``sla_due_at`` holds the deadline of either.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Row, and_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from monitor import cases, notifications
from monitor.domain import ActionKind, ActionStatus
from monitor.runtime import Runtime
from monitor.settings import Team
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer
from monitor.store.pending import add_event
from monitor.store.queries import skip_locked

log = logging.getLogger("inchannel.sla")

BATCH = 500
OWED = cases.ANSWER_OWED


def check_sla(rt: Runtime) -> bool:
    """Mark cases whose response is due soon or overdue. Returns True if more wait."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        query = (
            select(Case)
            .where(
                OWED,
                Case.sla_breached_at.is_(None),
                Case.sla_due_at.is_not(None),
                _alert_due(rt, now),
                Case.state.in_(cases.OPEN_STATES),
            )
            .order_by(Case.sla_due_at)
            .limit(BATCH + 1)
        )
        # Every worker runs this job: a case another worker is checking is skipped, else
        # both saw it unwarned and both recorded the alert (the notification alone is
        # deduplicated by its key).
        due = list(session.scalars(skip_locked(session, query, key_share=True)))
        raised = [_check(rt, session, case, now) for case in due[:BATCH]]
    # Counted once committed: a check the database rolls back (a deadlock, a locked
    # SQLite file) raised nothing, and the next run raises those alerts again.
    for kind in raised:
        if kind is not None:
            rt.metrics.sla_alert(kind)
    return len(due) > BATCH


def _alert_due(rt: Runtime, now: datetime) -> ColumnElement[bool]:
    """Cases with an alert to raise now: past their deadline, or not yet warned and within
    their warning time: their own (sla_warn_from), else their team's. A case already
    warned, or not yet in its window, must not take a place in the batch: with more
    such cases than BATCH the same ones came back every run, the cases behind them were
    never warned, and the job reported more work forever."""
    teams = [
        and_(Case.team == team.name, Case.sla_due_at <= _warning_reach(team, now))
        for team in rt.settings.teams
        if team.warning_minutes
    ]
    # A configured team's only, as _check warns: a case of a team since removed from the
    # config (renamed) would come back every run until its deadline, filling the batch.
    configured = Case.team.in_([team.name for team in rt.settings.teams])
    own = and_(configured, Case.sla_warn_from <= now, Case.sla_warn_from < Case.sla_due_at)
    warn = or_(own, and_(Case.sla_warn_from.is_(None), or_(*teams))) if teams else own
    return or_(Case.sla_due_at < now, and_(Case.sla_warned_at.is_(None), warn))


def _check(rt: Runtime, session: Session, case: Case, now: datetime) -> str | None:
    """Raise the case's alert if one is due; return its kind (breached, warning)."""
    assert case.sla_due_at is not None
    team = rt.settings.team(case.team or "")
    response = _response(case)
    # Overdue is past the deadline: an answer at the deadline itself is in time, as the
    # reports count it (met), so an alert at that instant would call it a breach.
    if now > case.sla_due_at:
        if not _mark(session, case, Case.sla_breached_at, now):
            return None
        overdue = f"{response} response overdue since {case.sla_due_at:%Y-%m-%d %H:%M} UTC"
        _alert(rt, session, case, now, "breached", overdue)
        return "breached"
    if team is None or case.sla_warned_at is not None:
        return None
    if _warning_due(team, case, now):
        if not _mark(session, case, Case.sla_warned_at, now):
            return None
        minutes = int(team.calendar().minutes_between(now, case.sla_due_at))
        due = f"{case.sla_due_at:%Y-%m-%d %H:%M} UTC"
        headline = f"{response} response due in {minutes} business min, at {due}"
        _alert(rt, session, case, now, "warning", headline)
        return "warning"
    return None


def _mark(
    session: Session, case: Case, mark: InstrumentedAttribute[datetime | None], now: datetime
) -> bool:
    """Set the breach or warning mark if the case still owes, to the same team, the
    answer whose deadline was read. On SQLite the read ran outside any transaction (the
    driver begins one at the first write): a person's team change committed meanwhile
    got the old deadline's mark on its new deadline, and the new team was never alerted.
    PostgreSQL holds the row from the read on, so this never refuses there."""
    marked = session.execute(
        update(Case)
        .where(
            Case.id == case.id,
            Case.team.is_not_distinct_from(case.team),
            Case.sla_due_at == case.sla_due_at,
            mark.is_(None),
            OWED,
            Case.state.in_(cases.OPEN_STATES),
        )
        .values({mark: now}),
        execution_options={"synchronize_session": False},
    )
    return getattr(marked, "rowcount", 0) == 1


def _warning_due(team: Team, case: Case, now: datetime) -> bool:
    """Whether the case's deadline is within its warning now, as _alert_due selects it:
    from its own warning instant (a rule's short deadline; at the deadline itself, none),
    else within the team's warning (0: none)."""
    assert case.sla_due_at is not None
    if case.sla_warn_from is not None:
        return case.sla_warn_from <= now and case.sla_warn_from < case.sla_due_at
    return bool(team.warning_minutes) and case.sla_due_at <= _warning_reach(team, now)


def _warning_reach(team: Team, now: datetime) -> datetime:
    """The latest deadline to warn of now: the team's warning (``warning_minutes``) of
    business time ahead, as the deadline itself was counted. On the wall clock a case
    due at 09:30 on Monday was warned of at 08:45 with a 45-minute warning, before the
    team opened and with less time left than promised; counted in business time the
    warning comes on Friday at 16:45. The SQL filter and the check use this one bound,
    so a case the batch selects is one that is warned."""
    return team.calendar().add_minutes(now, team.warning_minutes)


def _response(case: Case) -> str:
    """Which answer the deadline is for: the team reads "next response" as "the customer
    wrote again", not as a late first answer."""
    return "first" if case.first_response_at is None else "next"


def _alert(
    rt: Runtime, session: Session, case: Case, now: datetime, kind: str, headline: str
) -> None:
    due = case.sla_due_at.isoformat() if case.sla_due_at else None
    response = _response(case)
    cases.record(session, case, f"sla_{kind}", "system", now, due=due, response=response)
    channels = notifications.channels_for(rt.settings, case.team)
    customer = session.get(Customer, case.customer_id)
    text = notifications.case_summary(rt.settings, case, customer, None, f"SLA {headline}")
    notifications.enqueue(
        session,
        case=case,
        text=text,
        # Per deadline: a case handed to another team gets a new one, and that team's
        # alert must not be taken for the old team's on a channel they share.
        key=_alert_key(kind, case.id, due),
        actor="system",
        now=now,
        channels=channels,
    )
    log.info("case=%s sla=%s team=%s", case.ref, kind, case.team)


def _alert_key(kind: str, case_id: int, due: str | None) -> str:
    return f"sla-{kind}:{case_id}:{due}"


def withdraw_answered(session: Session, rows: Sequence[ActionRow], *, now: datetime) -> set[int]:
    """Withdraw the claimed SLA alerts whose case no longer owes the answer they are
    about: answered, resolved or given another deadline since. An alert waits in the
    outbox as long as its channel is down (``notify_retry_hours``): sent once it was
    back, it called the team to cases answered hours before. Their ids."""
    alerts = {row.id: about for row in rows if (about := _alert_deadline(row)) is not None}
    if not alerts:
        return set()
    query = select(Case.id, Case.sla_due_at, Case.sla_warned_at, Case.sla_breached_at).where(
        Case.id.in_({row.case_id for row in rows if row.id in alerts}),
        OWED,
        Case.state.in_(cases.OPEN_STATES),
    )
    owed: dict[int, Owed] = {c.id: c for c in session.execute(query)}
    stale = [
        row
        for row in rows
        if row.id in alerts and not _still_owed(row, alerts[row.id], owed.get(row.case_id or 0))
    ]
    for row in stale:
        row.status, row.updated_at = ActionStatus.REJECTED.value, now
        row.attempts -= 1  # the claim counted an attempt that is not made
        detail = {"action": row.id, "reason": "the case no longer owes the answer it warned of"}
        add_event(
            session,
            case_id=row.case_id,
            kind="notification_withdrawn",
            actor="bot",
            detail=detail,
            at=now,
        )
    return {row.id for row in stale}


# A case's id, deadline, warning mark and breach mark, as withdraw_answered reads them.
Owed = Row[int, datetime | None, datetime | None, datetime | None]


def _still_owed(row: ActionRow, about: tuple[str, datetime], case: Owed | None) -> bool:
    """Whether the alert's case still owes the answer the alert is about: the deadline
    it named, or the mark it set still standing. An older follow-up stored late moves
    the deadline back and keeps the marks (cases.owe_since_earlier: no second alert), so
    a breach alert held by a channel outage, judged by its deadline alone, was withdrawn
    and the team never heard of the breach. A new deadline (a team change, an answer
    and a new follow-up) clears the marks, and its own alerts set them anew, later.
    A warning is stale once the breach is marked: the breach alert for its deadline is
    queued, and a warning held by the same outage came after it, "due in 15 min" about
    an answer already overdue."""
    if case is None:
        return False
    kind, due = about
    if kind == "warning" and case.sla_breached_at is not None:
        return False
    mark = case.sla_breached_at if kind == "breached" else case.sla_warned_at
    return bool(case.sla_due_at == due or mark == row.created_at)


def _alert_deadline(row: ActionRow) -> tuple[str, datetime] | None:
    """The kind (warning, breached) and deadline of an SLA alert's notification (its key,
    notifications.enqueue); None for any other action."""
    if row.kind != ActionKind.NOTIFY.value or row.case_id is None:
        return None
    for kind in ("warning", "breached"):
        # notifications.notify_key: "notify:<alert key>:<channel>".
        start = "notify:" + _alert_key(kind, row.case_id, "")
        end = f":{row.channel}"
        key = row.idempotency_key
        if key.startswith(start) and key.endswith(end) and len(key) > len(start) + len(end):
            try:
                return kind, datetime.fromisoformat(key[len(start) : -len(end)])
            except ValueError:
                return None
    return None
