"""Triage a person does beyond replying: priority, team, tags, spam, sentiment corrections,
and retrying an action that died. Shared by the dashboard, its JSON API and the CLI.

Like monitor.casework, every operation is one transaction and leaves an audit event;
each one that changes the case holds its row lock (casework.lock_case).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, not_, or_, select, update
from sqlalchemy.orm import Session

from monitor import cases, thread_cap
from monitor.casework import CaseworkError, lock_case
from monitor.domain import (
    TAG,
    TAG_RULE,
    ActionKind,
    ActionStatus,
    CaseState,
    Direction,
    Label,
    MessageKind,
    Priority,
)
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import MAX_ID, ActionRow, Case, Event, Message
from monitor.store.queries import abandoned_claim, retry_of_action
from monitor.store.web_models import SentimentFeedback

MAX_TAGS = 20
SPAM_TAG = cases.SPAM_TAG
CORRECTABLE = (Label.POSITIVE.value, Label.NEUTRAL.value, Label.NEGATIVE.value)
PRIORITIES = tuple(p.value for p in Priority)


def set_priority(rt: Runtime, ref: str, priority: str, *, user: str) -> None:
    if priority not in PRIORITIES:
        raise CaseworkError(f"unknown priority {priority[:20]!r} ({', '.join(PRIORITIES)})")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        if case.priority == priority:
            return  # a form sent twice, or two people at once: no event claiming a change
        old, case.priority, case.updated_at = case.priority, priority, now
        cases.record(session, case, "priority", user, now, old=old, new=priority)


def set_team(rt: Runtime, ref: str, team: str, *, user: str) -> None:
    """Hand the case to another team; an answer still owed (the first, or a follow-up's)
    takes that team's SLA clock. A resolved case owes nothing: its clock starts when the
    customer reopens it (threads.ThreadIndex.reopen)."""
    config = rt.settings.team(team)
    if config is None:
        known = ", ".join(t.name for t in rt.settings.teams)
        raise CaseworkError(f"unknown team {team[:40]!r} (teams: {known})")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        if case.team == team:
            # Two people moving the case at once, or a form sent twice: restarting the
            # clock cleared the warning mark (care warned twice about one deadline) and
            # dropped a rule's tighter target; nothing changes, so nothing is recorded.
            return
        old, case.team, case.updated_at = case.team, team, now
        gone = cases.unassign_if_shut_out(session, case)
        detail = {} if gone is None else {"unassigned": gone}
        # A deadline the old team missed is kept as missed: left as it was, the reports
        # credited its breach to the case's team, now the new one.
        cases.keep_missed_deadline(case, now)
        owed = cases.response_owed_since(case)
        if owed is not None and case.state != CaseState.RESOLVED.value:
            # The new team has its own promise; clearing the marks lets check_sla warn
            # the new team rather than staying silent because the old one was warned.
            # Not for a closed case: a clock from its opening made the new team breach
            # an answer it never owed, kept as missed once the customer reopened it.
            cases.set_deadline(case, config, owed, config.first_response_minutes)
            case.sla_warned_at, case.sla_breached_at = None, None
        cases.record(session, case, "team", user, now, old=old, new=team, **detail)


def split_tags(*texts: str | None) -> tuple[str, ...]:
    """Tags as a person types them, in one box or several: separated by spaces or commas."""
    return tuple(t for text in texts for t in (text or "").replace(",", " ").split())


def normalize_tag(tag: str) -> str:
    clean = tag.strip().lower()
    if not TAG.match(clean):
        raise CaseworkError(f"bad tag {tag[:40]!r}: {TAG_RULE}")
    return clean


def tag(
    rt: Runtime, ref: str, *, user: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
) -> list[str]:
    """Add and remove tags; returns the case's tags afterwards."""
    adding = [normalize_tag(t) for t in add]
    removing = {normalize_tag(t) for t in remove}
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        # Compared lower-cased: older versions stored rule tags as written ("VIP"), and
        # what a person types is lower-cased, so such a tag could not be removed.
        new = [t for t in case.tags if t.lower() not in removing]
        held = {t.lower() for t in new}
        new += [t for t in dict.fromkeys(adding) if t not in held]
        # Only growth is refused: a case may hold more than the limit (``spam`` is
        # always added, by mark_spam and by the rules, processing._add_tags; and the
        # rules' tags were unbounded before), and such a case must still lose a tag.
        if len(new) > MAX_TAGS and len(new) > len(case.tags):
            raise CaseworkError(f"a case takes at most {MAX_TAGS} tags")
        if new != case.tags:
            cases.record(session, case, "tags", user, now, old=list(case.tags), new=new)
            case.tags, case.updated_at = new, now
        return new


def mark_spam(rt: Runtime, ref: str, *, user: str) -> None:
    """Close the case as spam. Its drafts, and the bot's replies still waiting to go out
    (pending, failed and due for a retry, or claimed by a dispatcher: ``sending``), are
    rejected so nothing more is posted to the spammer. Only a reply whose request is
    under way at this very moment cannot be stopped. A dead worker's claim, or a failed
    send that may have been posted (a timeout), is left to the dispatcher, which looks
    for it and never sends it."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        already = case.state == CaseState.RESOLVED.value and SPAM_TAG in case.tags
        # A dispatcher claims a whole batch as `sending` and posts it one by one, for
        # minutes when the platform is slow; it checks its claims again every second,
        # so a claimed reply withdrawn here is not posted (dispatch.Withdrawn).
        drafts = _withdraw(session, case, [ActionStatus.DRAFT.value], now)
        live = _withdrawable(rt, now)
        bots = _withdraw(session, case, _QUEUED, now, cases.BOT_QUEUED, live)
        people = _withdraw(session, case, _QUEUED, now, live)  # the rest: a person's
        # The bot's replies were counted when queued (the thread's cap counts every
        # customer's case in it); these were never posted, and left counted they took
        # the thread's replies from the other customers in it.
        if already and not drafts + bots + people:
            # A form sent twice, two people at once: no second "spam" event claiming a
            # change. (One queued since, by a person's retry say, is still withdrawn.)
            raise CaseworkError(f"{case.ref} is marked as spam already; nothing was changed")
        case.bot_replies = max(0, case.bot_replies - bots)
        if case.bot_replies == 0:
            case.last_bot_reply_at = None
        if SPAM_TAG not in case.tags:
            case.tags = [*case.tags, SPAM_TAG]
        cases.record(
            session,
            case,
            "spam",
            user,
            now,
            replies_withdrawn=drafts + bots + people,
        )
        cases.transition(session, case, CaseState.RESOLVED, user, now, reason="spam")


# Queued replies not posted yet; the rules' own are counted in the case's bot_replies.
_QUEUED = [ActionStatus.PENDING.value, ActionStatus.FAILED.value, ActionStatus.SENDING.value]


def _withdrawable(rt: Runtime, now: datetime) -> ColumnElement[bool]:
    """Not a reply an earlier attempt may have posted: a dead worker's claim, or a send
    waiting for its retry (failed, or pending again) that was not a sure refusal (a
    timeout, a 5xx; NULL, older than migration 0008: thread_cap.MAY_BE_POSTED).
    Withdrawn, a reply in the thread was recorded as never sent and taken off its
    thread's count. The dispatcher that claims it looks for it in the thread and, the
    case being spam, records it as sent or withdraws it; never sends."""
    stale_before = now - timedelta(seconds=rt.settings.workers.stale_claim_seconds)
    return not_(or_(abandoned_claim(stale_before), thread_cap.MAY_BE_POSTED))


def _withdraw(
    session: Session,
    case: Case,
    statuses: list[str],
    now: datetime,
    *also: ColumnElement[bool],
) -> int:
    """Reject the case's replies in ``statuses`` (and ``also``); how many. One conditional
    UPDATE: a dispatcher recording an outcome meanwhile is not overwritten by a stale read."""
    withdrawn = session.execute(
        update(ActionRow)
        .where(
            ActionRow.case_id == case.id,
            ActionRow.kind == ActionKind.REPLY.value,
            ActionRow.status.in_(statuses),
            *also,
        )
        .values(status=ActionStatus.REJECTED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(withdrawn, "rowcount", 0))


def correct_sentiment(rt: Runtime, ref: str, message_id: int, label: str, *, user: str) -> int:
    """Store a person's label for one customer message as feedback for the lexicon overlay."""
    if label not in CORRECTABLE:
        raise CaseworkError(f"label must be one of {', '.join(CORRECTABLE)}")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        # Locked, so a double click's two requests read each other's correction.
        case = lock_case(session, ref)
        message = session.get(Message, message_id) if message_id <= MAX_ID else None
        if message is None or message.case_id != case.id:
            raise CaseworkError(f"message {message_id} is not part of {case.ref}")
        if message.direction != Direction.INBOUND.value or message.kind == MessageKind.OWN.value:
            raise CaseworkError("only customer messages carry a sentiment to correct")
        latest = session.scalars(
            select(SentimentFeedback)
            .where(SentimentFeedback.message_id == message.id)
            .order_by(SentimentFeedback.id.desc())
            .limit(1)
        ).first()
        if latest is not None and (latest.corrected_label, latest.user) == (label, user):
            # A form resent (a double click, a retry after a timeout): no second row
            # and no second event claiming a change. A colleague's agreement is recorded.
            return latest.id
        feedback = SentimentFeedback(
            message_id=message.id,
            case_id=case.id,
            scored_label=message.label,
            scored_compound=message.compound,
            corrected_label=label,
            text=message.text,
            user=user,
            at=now,
        )
        session.add(feedback)
        session.flush()
        detail = {"message": message.id, "old": message.label, "new": label}
        cases.record(session, case, "sentiment_feedback", user, now, **detail)
        return feedback.id


class AlreadyRetried(CaseworkError):
    """The action was retried and is on its way (or went out): what a retry asks for."""

    def __init__(self, action_id: int, case: Case | None, actor: str, at: datetime) -> None:
        super().__init__(
            f"action {action_id} was retried already by {actor} at "
            f"{at.strftime('%Y-%m-%d %H:%M UTC')}; nothing was changed"
        )
        self.action_id = action_id
        # The ref, not the row: the refusal rolls the transaction back, which expires it.
        self.ref = case.ref if case is not None else None


# After a retry an action is sent, or still going to be (dispatch retries a failed one).
RETRIED = (
    ActionStatus.PENDING.value,
    ActionStatus.SENDING.value,
    ActionStatus.FAILED.value,
    ActionStatus.SENT.value,
)


def _refuse_retried_already(session: Session, action: ActionRow, case: Case | None) -> None:
    """Raise AlreadyRetried if a person's retry is why ``action`` is no longer dead: a
    script resending its retry after a timeout was told "pending, not dead" and took
    the retry for refused. One that never died, or was withdrawn since, is not this."""
    if action.status not in RETRIED:
        return
    last = session.scalars(
        select(Event)
        .where(ActionRow.id == action.id, retry_of_action())
        .order_by(Event.id.desc())
        .limit(1)
    ).first()
    if last is not None:
        raise AlreadyRetried(action.id, case, last.actor, last.at)


def retry_action(rt: Runtime, action_id: int, *, user: str) -> Case | None:
    """Give a dead action a fresh set of attempts, e.g. after the platform problem is fixed.

    Returns the action's case, or None for an operations alert (a notification that
    belongs to no case); its retry is audited without a case, like user management."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        action = session.get(ActionRow, action_id) if action_id <= MAX_ID else None
        if action is None:
            raise CaseworkError(f"no action {action_id}")
        case = session.get(Case, action.case_id) if action.case_id is not None else None
        if action.status != ActionStatus.DEAD.value:
            _refuse_retried_already(session, action, case)
            raise CaseworkError(f"action {action_id} is {action.status}, not dead")
        if action.case_id is not None and case is None:
            raise CaseworkError(f"action {action_id} belongs to a case that no longer exists")
        if (
            case is not None
            and action.kind == ActionKind.REPLY.value
            and cases.closed_as_spam(case)
        ):
            # Spam withdraws the replies still to go out; a dead one retried from the
            # outbox (after an outage, say) would have answered the spammer all the same.
            raise CaseworkError(
                f"{case.ref} was closed as spam: remove its spam tag to retry its replies"
            )
        action.status, action.attempts = ActionStatus.PENDING.value, 0
        action.next_attempt_at = action.updated_at = now
        cases.record(session, case, "retried", user, now, action=action.id)
        return case
