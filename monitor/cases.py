"""Cases: grouping messages into conversations, state changes, SLA clocks, the audit trail.

Every change to a case goes through these functions, so each one leaves an event with
its actor (a rule name, a user, or "system") and time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from monitor import case_transitions, notifications
from monitor.calendar import BusinessCalendar
from monitor.case_transitions import after_draft
from monitor.domain import SPAM_TAG as SPAM_TAG  # "Mark as spam"'s tag, for cases.SPAM_TAG
from monitor.domain import ActionKind, ActionStatus, CaseState, Escalation
from monitor.settings import Settings, Team
from monitor.store.models import ActionRow, Case, Customer, Message
from monitor.store.pending import add_event, add_row

# States in which a case still needs someone (bot or human) to act.
OPEN_STATES = frozenset(
    s.value for s in CaseState if s not in (CaseState.RESOLVED, CaseState.WAITING_CUSTOMER)
)


# An answer is owed (response_owed_since, in SQL): the first, or a follow-up's.
ANSWER_OWED = or_(Case.first_response_at.is_(None), Case.follow_up_at.is_not(None))
# The cases deadline_owed gives a deadline: sla_due_at outlives its answer, so sorted on
# alone, a case the bot had acknowledged in time sat above cases still owed any answer.
DEADLINE_OWED = and_(
    Case.sla_due_at.is_not(None), Case.state != CaseState.RESOLVED.value, ANSWER_OWED
)

# Priority breaks ties between cases due at the same moment (and orders those without an
# SLA): the queue on the dashboard and `cases list` sort alike.
PRIORITY_ORDER = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
UNKNOWN_PRIORITY_RANK = 4
PRIORITY_RANK = sql_case(PRIORITY_ORDER, value=Case.priority, else_=UNKNOWN_PRIORITY_RANK)


def _rank(priority: str) -> int:
    return PRIORITY_ORDER.get(priority, UNKNOWN_PRIORITY_RANK)


def closed_as_spam(case: Case) -> bool:
    """Closed by "Mark as spam": the spammer writing again neither reopens the case nor
    gets an answer (case_transitions, shared with the dry run)."""
    return case_transitions.closed_as_spam(CaseState(case.state), case.tags)


def response_owed_since(case: Case) -> datetime | None:
    """Since when the brand owes the customer an answer: from the case's opening until
    the first response, then from the customer's first follow-up the brand has not
    answered (None: nothing is owed)."""
    if case.first_response_at is None:
        return case.opened_at
    return case.follow_up_at


def deadline_owed(case: Case) -> datetime | None:
    """The SLA deadline of the answer owed now, for showing: None once nothing is owed.
    sla_due_at outlives its answer (reports read an answered case's first deadline) and
    a closed case's; shown, they read "overdue" in red once they had passed."""
    if case.state == CaseState.RESOLVED.value or response_owed_since(case) is None:
        return None
    return case.sla_due_at


def keep_missed_deadline(case: Case, now: datetime) -> None:
    """Before a reopening or a team change clears the first-response deadline for a new
    clock: a case unanswered past it (closed after it, or still waiting now) keeps the
    breach the team did make, for the reports. The first breach stands over later ones."""
    if case.first_response_at is not None or case.sla_due_at is None:
        return
    if case.missed_due_at is None and (case.resolved_at or now) > case.sla_due_at:
        case.missed_due_at = case.sla_due_at


def drop_clock(case: Case, now: datetime) -> None:
    """Clear the deadline of the answer owed and its marks, for a new clock: a breach
    the team did make is kept first. Call it while a closed case is still resolved:
    keep_missed_deadline reads resolved_at."""
    keep_missed_deadline(case, now)
    case.sla_due_at = case.sla_warn_from = case.sla_warned_at = case.sla_breached_at = None


def restart_closed_clock(settings: Settings, case: Case, now: datetime) -> None:
    """A resolved case a person answers: the answer owed when it was closed is the
    team's from now, as when the customer reopens it (threads). Its old deadline,
    passed while the case sat closed, made check_sla call the reply overdue before it
    went out, and the reports counted it late. Call while the case is still resolved."""
    if case.state != CaseState.RESOLVED.value or response_owed_since(case) is None:
        return
    drop_clock(case, now)
    _start_clock(settings, case, now)


def owe_answer(case: Case, since: datetime) -> None:
    """The customer wrote again after the brand's last reply: an answer is owed, since
    they wrote. The previous response's deadline and its marks are done with: left in
    place, check_sla took a deadline long past for this answer's and alerted at once."""
    case.follow_up_at = _not_before_opening(case, since)
    case.sla_due_at = case.sla_warn_from = case.sla_warned_at = case.sla_breached_at = None


def _not_before_opening(case: Case, since: datetime) -> datetime:
    """``since``, never before the case opened, as its first response is counted
    (_first_response): a lagging poll that opened the case after she wrote twice left
    the follow-up owed from before the opening and the first response it follows, due
    early and overdue against the team's own answer. One written after the post the
    first response answered and before that answer (it crossed it) stays owed from
    when it was written."""
    return max(since, case.opened_at)


def owe_follow_up(settings: Settings, case: Case, since: datetime) -> None:
    """A follow-up written at ``since`` is owed its own answer, on the team's clock from
    then: after a reply (ours, or the brand's on the platform) answered what came before."""
    owe_answer(case, since)
    start_follow_up_clock(settings, case)


def owe_since_earlier(settings: Settings, case: Case, since: datetime) -> None:
    """An answer owed already is owed since ``since``, earlier: a follow-up stored after
    a newer one. The deadline moves back as much, in the team's business time, so a
    rule's tighter target stays; its warning and breach marks stand (no second alert)."""
    since = _not_before_opening(case, since)
    old, case.follow_up_at = case.follow_up_at, since
    team = settings.team(case.team or "")
    if old is None or case.sla_due_at is None or team is None:
        return
    calendar = team.calendar()
    case.sla_due_at = _moved_back(calendar, case.sla_due_at, old, since)
    if case.sla_warn_from is not None:  # the rule's deadline keeps its own warning
        case.sla_warn_from = _moved_back(calendar, case.sla_warn_from, old, since)


def _moved_back(
    calendar: BusinessCalendar, moment: datetime, old: datetime, since: datetime
) -> datetime:
    """``moment`` as far in business time after ``since`` as it was after ``old``."""
    return calendar.add_minutes(since, calendar.minutes_between(old, moment))


def start_follow_up_clock(settings: Settings, case: Case) -> None:
    """The team's deadline for an unanswered follow-up that has none yet. A case no team
    holds has no clock, as for the first response, until it is escalated."""
    _start_clock(settings, case, case.follow_up_at)


def start_owed_clock(settings: Settings, case: Case) -> None:
    """The team's deadline for an answer owed that has none yet: a follow-up's, or the
    first response of a team's case closed unanswered and reopened by the customer
    (the reopening cleared the old deadline; with only follow-ups clocked here, the
    reopened case waited on its team with no deadline unless a rule escalated again)."""
    _start_clock(settings, case, response_owed_since(case))


def answered_on_platform(case: Case, posted: datetime, now: datetime, covers: datetime) -> bool:
    """A brand's post answering the case's customer, made on the platform itself (a
    person replying on X as the brand), stored at ``now``: the brand's response, as a
    reply posted through inchannel is. Uncounted, an escalated case answered so kept its
    clock, breached, and the reports called it unanswered. Returns whether it answered
    what was owed: the first response, or a follow-up written by ``covers`` (when the
    post it answers was written: one written after that is not what it answers).

    Counted from when it was posted, never before the case opened (one posted before a
    lagging poll brought the customer's message in took no time of the brand's).

    A resolved case owes nothing, but an answer posted before a person closed it (a
    search that lags brought it in after) is still its first response: uncounted, the
    reports called the case unanswered, breached if closed after its deadline."""
    if case.state == CaseState.RESOLVED.value:
        closed = case.resolved_at
        if case.first_response_at is None and closed is not None and posted <= closed:
            _first_response(case, posted, now)
        return False  # owes nothing now: it stays closed
    if case.first_response_at is None:
        _first_response(case, posted, now)
        return True
    if case.follow_up_at is not None and case.follow_up_at <= covers:
        case.follow_up_at = None  # sla_due_at stays, as after dispatch's answer
        return True
    return False


def _first_response(case: Case, posted: datetime, now: datetime) -> None:
    case.first_response_at = max(min(posted, now), case.opened_at)
    case.first_response_due_at = case.sla_due_at  # the reports' first deadline


def _start_clock(settings: Settings, case: Case, owed_since: datetime | None) -> None:
    team = settings.team(case.team or "")
    if team is None or owed_since is None or case.sla_due_at is not None:
        return
    set_deadline(case, team, owed_since, team.first_response_minutes)


def set_deadline(case: Case, team: Team, start: datetime, minutes: int) -> None:
    """Start the case's clock: due ``minutes`` of the team's business time after
    ``start``. A deadline no longer than the team's warning (a rule's sla_minutes) gets
    its own, half of it (Team.warning_for): with the team's, check_sla warned as the
    case was escalated. Stored as an instant, so check_sla's SQL compares it with now."""
    calendar = team.calendar()
    case.sla_due_at = calendar.add_minutes(start, minutes)
    warning = team.warning_for(minutes)
    # None: the team's own warning fits (or is 0: none), and check_sla reads the team's.
    own = warning != team.warning_minutes
    case.sla_warn_from = calendar.add_minutes(start, minutes - warning) if own else None


def unassign_if_shut_out(session: Session, case: Case) -> str | None:
    """The case moved to another team: an agent of the old team who cannot open the new
    team's cases is unassigned, or the case waits on someone who cannot work it. Returns
    who was unassigned."""
    from monitor.casework import can_open  # casework builds on this module

    if case.assignee is None:
        return None
    # A processing batch writes its cases in bulk at the end: nothing is flushed here.
    with session.no_autoflush:
        allowed = can_open(session, case.assignee, case.team)
    if allowed:
        return None
    gone, case.assignee = case.assignee, None
    return gone


def record(
    session: Session, case: Case | None, kind: str, actor: str, now: datetime, **detail: Any
) -> None:
    add_event(
        session, case_id=case.id if case else None, kind=kind, actor=actor, detail=detail, at=now
    )


def record_state(
    session: Session,
    case_id: int,
    old: str,
    new: str,
    actor: str,
    now: datetime,
    **detail: Any,
) -> None:
    """The audit event of a state change; also for one made by a conditional UPDATE."""
    detail = {"old": old, "new": new, **detail}
    add_event(session, case_id=case_id, kind="state", actor=actor, detail=detail, at=now)


def set_priority(
    session: Session,
    case: Case,
    priority: str,
    actor: str,
    now: datetime,
    *,
    may_lower: bool = False,
) -> None:
    """A rule's priority for the case, recorded as a person's is: a case made high by a
    follow-up changed neither team nor state, so nothing said which rule did it.

    It only raises the priority unless ``may_lower`` (the message opening the case: no
    one has chosen its priority yet). A follow-up's rule lowering it undid the priority
    an earlier escalation or a person had given the case, with the answer still owed."""
    if case.priority == priority:
        return
    if not may_lower and _rank(priority) >= _rank(case.priority):
        return
    record(session, case, "priority", actor, now, old=case.priority, new=priority)
    case.priority = priority


def transition(
    session: Session, case: Case, state: CaseState, actor: str, now: datetime, **detail: Any
) -> None:
    if case.state == state.value:
        return
    record_state(session, case.id, case.state, state.value, actor, now, **detail)
    case.state = state.value
    case.updated_at = now
    # Out of resolved (a person's reply, approval or team change), the case is open again:
    # left set, the reports counted its old resolution time.
    case.resolved_at = now if state is CaseState.RESOLVED else None


def escalate(
    session: Session,
    settings: Settings,
    case: Case,
    escalation: Escalation,
    now: datetime,
    *,
    message: Message | None = None,
    title: str | None = None,
) -> None:
    """Hand the case to a team: state, SLA deadline, and a notification per channel,
    headed ``title`` if given, else "escalated: " and the reason."""
    old_team = case.team
    moved = old_team != escalation.team
    if moved and (old_team is not None or case.state == CaseState.AWAITING_HUMAN.value):
        # A hand-over leaves its own event, as a person's does: the state event names
        # only the team it went to, and a case already waiting for a team changes no
        # state, so it changed team with no trace (history, reports, "changed by").
        record(session, case, "team", escalation.rule, now, old=old_team, new=escalation.team)
    case.team = escalation.team
    set_priority(session, case, escalation.priority.value, escalation.rule, now)
    gone = unassign_if_shut_out(session, case) if moved else None
    if gone is not None:
        old, new = {"assignee": gone}, {"assignee": None}
        record(session, case, "assigned", escalation.rule, now, old=old, new=new)
    # Only dispatch escalates a resolved case (a bot reply that died after a person
    # closed it): the customer's own message reopens a case before the rules escalate.
    reopened = case.state == CaseState.RESOLVED.value
    owed = response_owed_since(case)
    if (moved or reopened) and owed is not None:
        # The new team has its own promise, as on a person's team change: the old
        # team's deadline and marks, left in place, alerted the new team at the old
        # deadline and never warned it when the old team had been warned already.
        # Before the transition: it clears resolved_at, which tells a breach made
        # before the close from a deadline that passed while the case sat closed.
        drop_clock(case, now)
    transition(
        session,
        case,
        CaseState.AWAITING_HUMAN,
        escalation.rule,
        now,
        team=escalation.team,
        sla_minutes=escalation.sla_minutes,
    )
    team = settings.team(escalation.team)
    if team is not None and owed is not None and case.sla_due_at is None:
        # A rule may set a tighter target than the team's (an outage, a VIP). A closed
        # case brought back is the team's from now, as when the customer reopens it:
        # counted from when the answer became owed, it was overdue at once.
        minutes = escalation.sla_minutes or team.first_response_minutes
        set_deadline(case, team, now if reopened else owed, minutes)
    channels = notifications.channels_for(settings, escalation.team, escalation.channels)
    if channels:
        customer = session.get(Customer, case.customer_id)
        headline = title or f"escalated: {escalation.reason or escalation.rule}"
        text = notifications.case_summary(settings, case, customer, message, headline)
        key = f"escalation:{case.id}:{message.external_id if message else now.isoformat()}"
        notifications.enqueue(
            session,
            case=case,
            text=text,
            key=key,
            actor=escalation.rule,
            now=now,
            channels=channels,
        )


# A reply the rules queued (actor and rule are the rule's name) was counted in its case's
# bot_replies when queued (threads.ThreadIndex.replied). A person's reply (no rule) and
# an approved draft (actor: the person) were not.
BOT_QUEUED: ColumnElement[bool] = and_(
    ActionRow.rule.is_not(None), ActionRow.actor == ActionRow.rule
)


def bot_queued(row: ActionRow) -> bool:
    return row.rule is not None and row.actor == row.rule


def queue_reply(
    session: Session,
    case: Case,
    message: Message,
    text: str,
    *,
    actor: str,
    rule: str | None,
    now: datetime,
    draft: bool = False,
    key: str | None = None,
    answer_id: str | None = None,
) -> str:
    """Put a reply in the outbox (or, as a draft, in front of a human first).

    Returns its idempotency key; the row is written with the session's next statement
    (store.pending), together with the batch's other replies.
    """
    key = key or f"reply:{case.id}:{rule or actor}:{message.external_id}"
    row = {
        "case_id": case.id,
        "message_id": message.id,
        "kind": ActionKind.REPLY.value,
        "platform": message.platform,
        "target_external_id": message.external_id,
        "conversation_id": message.conversation_id,
        "text": text,
        "rule": rule,
        "actor": actor,
        "status": (ActionStatus.DRAFT if draft else ActionStatus.PENDING).value,
        "attempts": 0,
        "next_attempt_at": now,
        "idempotency_key": key,
        "created_at": now,
        "updated_at": now,
        "answer_id": answer_id,
    }
    add_row(session, ActionRow, row)
    # A case escalated to a team stays awaiting_human (after_draft, shared with the dry
    # run): moved to awaiting_approval, it left the team's queue.
    if draft:
        transition(session, case, after_draft(CaseState(case.state)), actor, now, draft=text)
    return key
