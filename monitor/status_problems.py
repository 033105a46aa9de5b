"""The problems `inchannel status` reads from the outbox and the audit trail beside its
snapshot: notifications failing or dead, and messages processing closed without a case
or that fail together. Also how any problem quotes a stored error (``bounded_error``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, func, select, type_coerce
from sqlalchemy.orm import Session, aliased

from monitor import jobstate
from monitor.domain import ActionKind, ActionStatus
from monitor.notifications import inert_line
from monitor.processing import ruled
from monitor.store.models import ActionRow, Event, Message, UTCDateTime, from_customer
from monitor.store.queries import attempts_began
from monitor.undecided import AMONG, CLOSED_EVENT, SET_ASIDE_FOR, UNDECIDED_EVENT

# A problem quotes at most this much of a stored error, on one line, as a job's problem
# does: sources keep up to 2,000 characters (an API's whole response body), rules 4,000.
ERROR_CHARS = jobstate.ERROR_CHARS
# How long a message closed without a case stays a problem: a day's shifts see it.
CLOSED_REPORTED_FOR = timedelta(hours=24)
# Messages failing together count a try every SET_ASIDE_FOR while a worker tries them:
# none counted for twice that long, nobody does (the daemon stopped). Under cron, this
# long after the next `run --once` was due (workers.between_runs).
TOGETHER_RECENT = 2 * SET_ASIDE_FOR


def stored_problems(
    session: Session,
    late: timedelta | None,
    window: timedelta,
    between_runs: timedelta,
    now: datetime,
) -> list[str]:
    """This module's problems, in the order status lists them. ``late``: status's
    Limits.outbox_late (alerts.outbox_due_minutes plus cron's interval; None: off);
    ``window``: dispatch.notify_retry_hours; ``between_runs``: workers.between_runs."""
    problems = _failing_notifications(session, late, now)
    found = (
        _dead_notifications(session, window, now),
        _closed_without_case(session, now),
        _failing_together(session, TOGETHER_RECENT + between_runs, now),
    )
    return [*problems, *(problem for problem in found if problem is not None)]


# A notification whose last send failed and is backing off for its next attempt.
FAILING_NOTIFY = (ActionRow.kind == ActionKind.NOTIFY.value) & (
    ActionRow.status == ActionStatus.FAILED.value
)


def _failing_notifications(session: Session, after: timedelta | None, now: datetime) -> list[str]:
    """Per channel, notifications failing to send (not dead yet), once the oldest has
    waited ``after`` (Limits.outbox_late; None: off) since it was queued or a person
    retried it. Backing off, their next attempt is always ahead, so they are never
    overdue, and for dispatch.notify_retry_hours nothing else told: the alert about a
    broken channel goes through that channel. Under cron a notification refused once
    is retried only by the next `run --once`: one refusal is no channel that keeps
    refusing, so the limit grows by cron's interval as the outbox's does."""
    if after is None:
        return []
    oldest = type_coerce(func.min(attempts_began()), UTCDateTime)
    query = select(ActionRow.channel, func.count(), oldest).where(FAILING_NOTIFY)
    rows = session.execute(query.group_by(ActionRow.channel).order_by(ActionRow.channel)).all()
    return [
        _failing_channel(session, channel, count, since, now)
        for channel, count, since in rows
        if since is not None and now - since >= after
    ]


def _failing_channel(
    session: Session, channel: str | None, count: int, since: datetime, now: datetime
) -> str:
    """One channel's failing notifications as a problem, with the latest error: the
    notifier stores fixed words that name the channel, never its URL."""
    mine = FAILING_NOTIFY & (
        ActionRow.channel.is_(None) if channel is None else ActionRow.channel == channel
    )
    latest = ActionRow.updated_at.desc(), ActionRow.id.desc()
    last = session.scalars(select(ActionRow).where(mine).order_by(*latest).limit(1)).first()
    minutes = int((now - since).total_seconds() // 60)
    name = inert_line(repr(channel), ERROR_CHARS)
    error = f"(action {last.id}): {bounded_error(last.last_error)}" if last else "unknown"
    return (
        f"notifications to channel {name}: {count} failing, the oldest undelivered for "
        f"{minutes} min; the last error {error}"
    )


def _dead_notifications(session: Session, window: timedelta, now: datetime) -> str | None:
    """Notifications that died within ``window`` (dispatch.notify_retry_hours), as a
    problem: an escalation or alert nobody received, after its channel refused it for
    that long (or at once, permanently). A person's retry makes it pending again; one
    not retried is reported as long as it was retried, then left to the Health page."""
    dead = (
        (ActionRow.kind == ActionKind.NOTIFY.value)
        & (ActionRow.status == ActionStatus.DEAD.value)
        & (ActionRow.updated_at >= now - window)
    )
    count, last = _count_and_latest(session, ActionRow, dead, ActionRow.updated_at.desc())
    if not count or last is None:
        return None
    hours = window.total_seconds() / 3600
    minutes = max(0, int((now - last.updated_at).total_seconds() // 60))
    return (
        f"notifications: {count} dead in the last {hours:g} h, the last (action {last.id}) "
        f"{minutes} min ago: {bounded_error(last.last_error)}; "
        f"retry it: inchannel cases retry {last.id}"
    )


def _closed_without_case(session: Session, now: datetime) -> str | None:
    """Messages processing closed without a case (monitor.undecided) in the last
    CLOSED_REPORTED_FOR, as a problem: no case holds them, so no team's queue shows that
    customer, and only a log line and a metric said so. Only the id is named: the
    message's text is hostile."""
    closed = (
        Event.case_id.is_(None)
        & (Event.kind == CLOSED_EVENT)
        & (Event.at >= now - CLOSED_REPORTED_FOR)
    )
    count, last = _count_and_latest(session, Event, closed, Event.at.desc(), Event.id.desc())
    if not count or last is None:
        return None
    hours = CLOSED_REPORTED_FOR.total_seconds() / 3600
    minutes = max(0, int((now - last.at).total_seconds() // 60))
    plural = "message" if count == 1 else "messages"
    return (
        f"processing: {count} {plural} closed without a case in the last {hours:g} h, the "
        f"last (message id={_message_id(last)}) {minutes} min ago: no person will see "
        f"{'it' if count == 1 else 'them'}; answer {'it' if count == 1 else 'them'} on the "
        "platform"
    )


def _failing_together(session: Session, recent: timedelta, now: datetime) -> str | None:
    """Messages failing while none of their batch is decided (monitor.undecided), as a
    problem from their first such try: the rules or the scorer may fail every message,
    and these go to people only after about 25 minutes; the job's failure alone did not
    say that no message was decided. It ends when they are decided or handed over, when
    they fail by themselves (a message of their batch was decided), when a message stored
    after them is decided (a wave set aside), or ``recent`` (TOGETHER_RECENT plus cron's
    interval) after their last try (nobody tries them). Only the error's class is named."""
    tries = Event.case_id.is_(None) & (Event.kind == UNDECIDED_EVENT)
    message = Event.detail["message"].as_integer()
    alone, waiting = aliased(Event), select(Message.id).where(Message.processed.is_(False))
    alone_since = (
        select(alone.id)
        .where(
            alone.case_id.is_(None),
            alone.kind == UNDECIDED_EVENT,
            alone.detail["message"].as_integer() == message,
            alone.detail[AMONG].as_integer().is_(None),
            alone.at > Event.at,
        )
        .exists()
    )
    together = tries & Event.detail[AMONG].as_integer().is_not(None)
    together &= message.in_(waiting) & ~alone_since
    count, first, last, newest = session.execute(
        select(
            func.count(func.distinct(message)),
            func.min(Event.at),
            func.max(Event.at),
            func.max(message),
        ).where(together)
    ).one()
    if not count or first is None or last is None or now - last > recent:
        return None
    if _decided_after(session, newest):
        return None
    latest = session.scalars(
        select(Event).where(together).order_by(Event.at.desc(), Event.id.desc()).limit(1)
    ).first()
    error = latest.detail.get("error") if latest and isinstance(latest.detail, dict) else None
    minutes = max(0, int((now - first).total_seconds() // 60))
    plural = "message" if count == 1 else "messages"
    return (
        f"processing: every message tried has failed for {minutes} min ({count} {plural}): "
        f"{bounded_error(str(error or 'unknown'))}; the rules or the scorer may be broken"
    )


def _decided_after(session: Session, newest: int | None) -> bool:
    """Whether a customer's message stored after ``newest`` has been decided by the
    rules: the rules and the scorer work, and those failing are a wave set aside while
    the messages behind it are decided. Batches go in the order stored, so such a message
    was decided after they first failed. Reported then, status said every message tried
    had failed (exit 1) for the 25 minutes until the wave went to people. Only the rules'
    decision proves it: a spammer writing again in a case closed as spam is ignored
    without them, and ended the problem while the rules stayed broken."""
    if newest is None:
        return False
    query = select(Message.id).where(
        Message.processed.is_(True), from_customer(), ruled(), Message.id > newest
    )
    return session.scalar(query.limit(1)) is not None


def _message_id(event: Event) -> str:
    value = event.detail.get("message") if isinstance(event.detail, dict) else None
    return str(value) if isinstance(value, int) else "unknown"


def bounded_error(error: str | None) -> str:
    """A stored error as a problem quotes it: one line of at most ERROR_CHARS. The
    health check's output is read in a terminal, a monitoring agent's single-line
    check result, or a chat message (the alerts quote it too); the whole error stays
    in ``last_error``. An API's error body is not ours: inert, as mention text is."""
    return inert_line(error or "", ERROR_CHARS)


# The rows a problem counts and names the latest of.
Row = TypeVar("Row", ActionRow, Event)


def _count_and_latest(
    session: Session, model: type[Row], where: ColumnElement[bool], *latest_first: Any
) -> tuple[int, Row | None]:
    """How many ``model`` rows match ``where``, and the first of them in ``latest_first``
    order: the one a problem names."""
    count = session.scalar(select(func.count()).select_from(model).where(where))
    last = session.scalars(select(model).where(where).order_by(*latest_first).limit(1)).first()
    return int(count or 0), last
