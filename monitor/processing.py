"""Step function ``process_pending``: score, attach to a case, decide, fill the outbox."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor import case_transitions, cases, triage
from monitor.batch_claim import Claim, answers_waiting, authors_free, claim, in_order
from monitor.batch_retry import isolate
from monitor.domain import (
    Author,
    CaseState,
    Decision,
    Escalation,
    Label,
    Mention,
    MessageKind,
    PlannedReply,
    Platform,
    Priority,
    Score,
)
from monitor.jobstate import describe
from monitor.native_answers import answered_natively
from monitor.reply_turns import StoredTurns
from monitor.rules.engine import Context
from monitor.runtime import Runtime
from monitor.store.bulk import detach, write_changes
from monitor.store.db import transaction, with_retries
from monitor.store.models import ACTOR_CHARS, Case, Customer, Message
from monitor.store.queries import skip_locked
from monitor.threads import Link, ThreadIndex, ThreadKey
from monitor.undecided import UNDECIDED

log = logging.getLogger("inchannel.process")


def process_pending(rt: Runtime) -> bool:
    """Process one batch of new inbound messages. Returns True when more are waiting."""
    started = time.perf_counter()
    limit, now = rt.settings.processing.batch_size, rt.clock.now()
    try:
        claim = _run_claim(rt, limit, now, [])
    except OperationalError:
        raise  # the database locked or away: no message is to blame
    except Exception as exc:
        # One message the batch cannot decide failed it whole, at every run, and held
        # up every message stored after it: find it and leave it out for a while.
        try_one = functools.partial(_run_claim, rt, 1, now)
        hand_over = functools.partial(_hand_over, rt, now=now)
        isolate(rt, limit, now, try_one=try_one, hand_over=hand_over)
        # None failed alone: the batch's error is still a bug to see, not to drop.
        log.warning("a batch failed, its messages then decided one by one: %s", describe(exc))
        return True
    if claim.processed:
        duration = (time.perf_counter() - started) * 1000
        log.info("processed=%d duration_ms=%.1f", claim.processed, duration)
    return claim.more


def _run_claim(rt: Runtime, limit: int, now: datetime, taken: list[int]) -> Claim:
    # Workers processing at once can deadlock on a shared case (PostgreSQL then rolls
    # one batch back): that batch simply runs again.
    claim = with_retries(functools.partial(_claim_and_process, rt, limit, now, taken))
    for decision in claim.decisions:  # after the commit: a retried batch is counted once
        rt.metrics.decided(decision)
    return claim


def _hand_over(rt: Runtime, message_id: int, reason: str, *, now: datetime) -> list[Decision]:
    """Attach the message to its case as processing does, without the scorer and the
    rules (one of them may be what fails on it), and escalate the case to its team."""
    with transaction(rt.sessions) as session:
        query = select(Message).where(Message.id == message_id, Message.processed.is_(False))
        claimed = list(session.scalars(skip_locked(session, query)))
        # Another worker deciding its author: tried again, and handed over, at its next failure.
        batch = authors_free(session, claimed)
        return process_batch(rt, session, batch, now, undecided=reason)


def _claim_and_process(rt: Runtime, limit: int, now: datetime, taken: list[int]) -> Claim:
    """``taken``: the ids of the messages decided, filled before deciding."""
    with transaction(rt.sessions) as session:
        claimed = claim(session, rt, now, limit + 1)
        batch = in_order(session, claimed[:limit])
        taken[:] = [m.id for m in batch]
        free = set(taken)
        held = [m.id for m in claimed[:limit] if m.id not in free]
        decisions = process_batch(rt, session, batch, now)
        # The brand's posts left waiting for a post another worker holds are not done:
        # they wait for the next run, like a held author's messages.
        decided = [m for m in batch if m.processed]
        more = len(claimed) > limit or answers_waiting(session, decided)
    ruled = sum(1 for decision in decisions if not _guarded(decision))
    return Claim(len(decided), more and bool(decided), decisions, held, ruled)


def _assign(
    session: Session, index: ThreadIndex, case: Case, decision: Decision, now: datetime
) -> None:
    """A rule's ``assign``, checked as a person's is: a typo or a colleague of another
    team left the case with a name nobody works, which the team then took for handled."""
    assignee = decision.assignee
    assert assignee is not None
    problem = index.assignee_problem(assignee, case.team)
    actor = rules_actor(decision.matched)
    if problem is None:
        if case.assignee != assignee:
            # Recorded as a person's assignment is: unrecorded, the case page showed a
            # case nobody had given her, and "assigned by" named whoever assigned it last.
            old, new = {"assignee": case.assignee}, {"assignee": assignee}
            cases.record(session, case, "assigned", actor, now, old=old, new=new)
            case.assignee = assignee
        return
    log.warning("case %s: the rules' assign was not applied: %s", case.ref, problem)
    cases.record(session, case, "assign_skipped", actor, now, assignee=assignee, reason=problem)


def rules_actor(matched: Sequence[str]) -> str:
    """The rules that matched, as an audit event's actor: as many names as fit the
    column, then how many more. Rule names run to 100 characters and a message may
    match many; joined whole they overflowed it, which PostgreSQL refuses, and the
    batch failed at every run. The event's detail keeps the whole list."""
    for kept in range(len(matched), 0, -1):
        more = len(matched) - kept
        actor = ",".join([*matched[:kept], *([f"+{more} more"] if more else [])])
        if len(actor) <= ACTOR_CHARS:
            return actor
    return "guard"


def process_batch(
    rt: Runtime,
    session: Session,
    batch: list[Message],
    now: datetime,
    *,
    backfill: bool = False,
    undecided: str | None = None,
) -> list[Decision]:
    """Decide ``batch`` in ``session``; return the decisions, for the metrics once the
    transaction has committed. With ``undecided`` (why the messages could not be
    decided) neither the scorer nor the rules run: their cases go to a team."""
    # Pass 1 scores and finds each message's case; the new cases are inserted with one
    # statement; pass 2 decides, in order, so each decision sees the ones before. The
    # messages and cases are detached while they change, and their changes are written
    # at the end with one UPDATE per set of changed columns (store.bulk); the events
    # and outbox rows go with one INSERT per table (store.pending).
    if not batch:
        # A claim that found nothing, or only authors another worker holds: reading the
        # customers and cases of no message cost two statements a run, and idle workers
        # claim several times a second.
        return []
    at: Callable[[Message], datetime] = (
        functools.partial(_backfill_moment, now=now) if backfill else lambda _: now
    )
    detach(session, batch)
    with session.no_autoflush:
        index = ThreadIndex(session, batch, rt.settings, backfilling=backfill)
        prepared = [
            _prepare(rt, session, index, message, at(message), undecided) for message in batch
        ]
        decided = [item for item in prepared if item is not None]
        # Read before the batch records anything: its events go in one INSERT at the end.
        # Not for a backfill: its chunks are no conversation caught up at once, and what
        # the bot would have said to each message as written is its record.
        stale = {} if backfill else _stale_in_batch(session, decided)
        index.open_new(at)
        turns = StoredTurns(session, rt.reply_turns)
        settled = Stale(stale, newest=_newest_ids(decided))
        decisions = [
            _decide(rt, session, index, turns, item, at(item[0]), undecided, settled)
            for item in decided
        ]
        index.settle_ignored(now)
    write_changes(session, [*batch, *index.cases])
    return decisions


def _backfill_moment(message: Message, *, now: datetime) -> datetime:
    """A backfilled message is decided as of its own time (never later than now): the
    age guard, business hours and cooldowns then judge it as the live daemon would have.
    The batch must be in creation order for the cooldowns to hold."""
    return min(message.created_at, now)


Prepared = tuple[Message, Customer, Mention, Score, ThreadKey]

ANSWERED_BY_BRAND = "guard: the brand's own post answers it: no bot reply"
SUPERSEDED = "guard: a later message of the customer in this batch: the bot answers that one"
CARRIED = "the reply the rules gave the customer's earlier message in this batch, sent to this one"


@dataclass(slots=True)
class Stale:
    """The batch's stale messages (``_stale_in_batch``: id -> why no reply of their own),
    and the replies the rules gave superseded ones, by customer and thread: the newest
    message takes one when the rules give it none ("my order is late" then "hello??")."""

    why: dict[int, str] = field(default_factory=dict)
    carried: dict[ThreadKey, PlannedReply] = field(default_factory=dict)
    # The newest message of each customer and thread in the batch, by id.
    newest: frozenset[int] = frozenset()
    # The newest messages whose bot reply the brand's own answer took the place of.
    brand_answered: set[int] = field(default_factory=set)

    def settle(self, message: Message, key: ThreadKey, decision: Decision) -> Decision:
        """``decision`` without a stale reply, or with the one carried to the newest."""
        why = self.why.get(message.id)
        if why is not None:
            if decision.reply is None:
                return decision
            if why == SUPERSEDED:
                self.carried[key] = decision.reply
            elif message.id in self.newest and not decision.reply.draft:
                self.brand_answered.add(message.id)
            return replace(decision, reply=None, notes=(*decision.notes, why))
        carried = self.carried.pop(key, None)
        guarded = any(note.startswith("guard:") for note in decision.notes)
        if carried is None or decision.reply is not None or decision.ignored or guarded:
            return decision
        return replace(decision, reply=carried, notes=(*decision.notes, CARRIED))


def _stale_in_batch(session: Session, decided: list[Prepared]) -> dict[int, str]:
    """The customer messages of the batch a bot reply of their own would answer too late,
    and why: one the brand's own post answers (a person answered it on the platform:
    that post is stored, waiting outside the claim for it), and one its author followed
    with a later message in the same case. Decided in order, the first of them took the
    bot's reply and the author cooldown silenced the rest: the bot apologised for a late
    order after the brand's own answer and after "it arrived, thank you!". The rules
    still decide them (their tags and escalations stand); only their reply is dropped,
    and the newest message gets the rules' reply. One query for the batch."""
    posts = [(m.platform, m.conversation_id, m.external_id) for m, *_ in decided]
    answered = answered_natively(session, posts)
    newest = _newest(decided)
    stale: dict[int, str] = {}
    for message, *_, key in decided:
        if (message.platform, message.external_id) in answered:
            stale[message.id] = ANSWERED_BY_BRAND
        elif message.created_at < newest[key]:
            stale[message.id] = SUPERSEDED
    return stale


def _newest(decided: list[Prepared]) -> dict[ThreadKey, datetime]:
    """When each customer of the batch last wrote in each thread."""
    newest: dict[ThreadKey, datetime] = {}
    for message, *_, key in decided:
        if key not in newest or message.created_at > newest[key]:
            newest[key] = message.created_at
    return newest


def _newest_ids(decided: list[Prepared]) -> frozenset[int]:
    newest = _newest(decided)
    return frozenset(m.id for m, *_, key in decided if m.created_at == newest[key])


def _prepare(
    rt: Runtime,
    session: Session,
    index: ThreadIndex,
    message: Message,
    now: datetime,
    undecided: str | None = None,
) -> Prepared | None:
    customer = index.customers.get(message.customer_id) if message.customer_id else None
    if message.kind == MessageKind.OWN.value or customer is None:
        # The brand's own post joins the thread's case (if any) but is never acted on.
        link = index.link_own(message)
        if link is Link.WAITS:
            return None  # left undecided, for a batch after the post it answers
        message.processed = True
        if link is Link.UNKNOWN:
            message.case_id = _latest_case_id(session, message)
            index.note_linked(message)
        return None
    message.processed = True
    mention = _mention(message, customer)
    score = NOT_SCORED if undecided else rt.scorer.score(mention.text, lang=mention.lang)
    message.label, message.compound, message.score_reason = (
        score.label.value,
        score.compound,
        score.reason,
    )
    return message, customer, mention, score, index.attach(message, customer, score, now)


# A message handed to a team undecided: the scorer may be what fails on it.
NOT_SCORED = Score(0.0, 0.0, 1.0, 0.0, Label.UNSCORED, reason="not decided")


def _decide(
    rt: Runtime,
    session: Session,
    index: ThreadIndex,
    turns: StoredTurns,
    item: Prepared,
    now: datetime,
    undecided: str | None = None,
    stale: Stale | None = None,
) -> Decision:
    """``stale``: the batch's messages a bot reply of their own would answer too late."""
    message, customer, mention, score, key = item
    case = index.case(key)
    message.case_id = case.id
    earlier_cases, escalated_before = index.history(customer.id, case)
    replies_in_thread, last_reply_in_thread = index.thread_replies(case)
    context = Context(
        now=now,
        case_ref=case.ref,
        bot_replies_in_thread=replies_in_thread,
        last_bot_reply_to_author_at=customer.last_bot_reply_at,
        source=message.source,
        # The state the customer wrote into: a case is reopened only once the rules have
        # decided (index.reopen), so the first message in a resolved or waiting case
        # sees that state, and the ones after it see the case open.
        case_state=CaseState(case.state),
        earlier_cases=earlier_cases,
        escalated_before=escalated_before,
        last_bot_reply_in_thread_at=last_reply_in_thread,
    )
    if cases.closed_as_spam(case):
        decision = CLOSED_AS_SPAM
    elif index.shown_when_closed(case, message):
        decision = SHOWN_WHEN_CLOSED_DECISION
    elif undecided is not None:
        decision = _to_team(rt, case, undecided)
    else:
        decision = rt.loaded_rules().decide(mention, score, context, turns=turns)
        if stale is not None:
            decision = stale.settle(message, key, decision)
    message.decision = _decision_json(decision)
    if not decision.ignored:
        index.reopen(case, now)
    owes = case_transitions.owes_answer(case.tags, decision)
    if owes:
        _note_follow_up(rt, index, case, message, now)
    _apply(rt, session, index, case, message, decision, message.decision, now)
    brand_answered = stale is not None and message.id in stale.brand_answered
    if brand_answered and _waits_on_customer(session, case, now):
        return decision  # answered: no clock for it (the bot's reply would have had none)
    answered = _bot_answers(decision)
    if owes and not answered:
        cases.start_owed_clock(rt.settings, case)
    if answered:
        customer.last_bot_reply_at = now
    return decision


def _waits_on_customer(session: Session, case: Case, now: datetime) -> bool:
    """A case the bot would have made auto_replied, had the brand not answered the
    message on the platform first, waits on the customer, as when dispatch withdraws
    a queued reply for that answer (native_answers). Left `new`, it sat in the queue as
    if nobody had answered. One a rule escalated or drafted for keeps its state."""
    if case.state != CaseState.NEW.value:
        return False
    reason = "the brand answered on the platform"
    cases.transition(session, case, CaseState.WAITING_CUSTOMER, "system", now, reason=reason)
    return True


def _to_team(rt: Runtime, case: Case, reason: str) -> Decision:
    """A message nothing could decide: its case's team (the first team for a new case, as
    for a dead reply) answers it. No automatic reply: nobody knows what it asks."""
    team = case.team or rt.settings.teams[0].name
    escalation = Escalation("system", team, Priority(case.priority), reason=reason)
    return Decision(escalation=escalation, notes=(reason,))


SHOWN_WHEN_CLOSED = "guard: shown in the case's thread when it was resolved or answered by a person"
# The decisions processing makes itself, the rules not asked (one instance each, so
# _guarded tells them by identity, and ruled() by their first note once stored).
CLOSED_AS_SPAM = case_transitions.CLOSED_AS_SPAM  # the dry run's too
SHOWN_WHEN_CLOSED_DECISION = Decision(ignored=True, notes=(SHOWN_WHEN_CLOSED,))
# The one list both read: two lists could drift, a guard added to one only then counting
# as the rules' decision in the other (batch_retry and status disagreeing on whether the
# rules work).
GUARDS: tuple[Decision, ...] = (CLOSED_AS_SPAM, SHOWN_WHEN_CLOSED_DECISION)


def _guarded(decision: Decision) -> bool:
    """Whether processing decided it without asking the rules (a guard of its own)."""
    return any(decision is guard for guard in GUARDS)


def ruled() -> ColumnElement[bool]:
    """A message whose stored decision the rules made, as _guarded tells it before the
    commit: not one processed with none (no customer), nor a guard's of processing, nor
    a hand-over or close of a message nothing could decide (monitor.undecided). The
    first note tells those apart; the rules' own guards note other words."""
    guards = [guard.notes[0] for guard in GUARDS]
    first_note = func.coalesce(Message.decision[("notes", 0)].as_string(), "")
    return (
        Message.decision.is_not(None)
        & first_note.not_in(guards)
        & ~first_note.startswith(UNDECIDED, autoescape=True)
    )


def _note_follow_up(
    rt: Runtime, index: ThreadIndex, case: Case, message: Message, now: datetime
) -> None:
    """A message owed an answer: the answer owed since it, if it is the customer's first
    (or earliest) unanswered follow-up.

    Before the decision is applied: an escalation in it then counts the deadline from
    the follow-up, with its rule's target. The customer has waited since they wrote (a
    slow poll is no reason to give the team more time), though never from a moment
    after it arrived (a platform clock ahead of ours)."""
    since = min(message.created_at, now)
    if index.earlier_follow_up(case, message):
        cases.owe_since_earlier(rt.settings, case, since)
    elif index.follow_up(case, message):
        cases.owe_answer(case, since)


def _bot_answers(decision: Decision) -> bool:
    """The bot's reply goes to the outbox on its own (a draft waits for a person). Its
    post clears a follow-up's clock; until then the follow-up has none, so a check_sla
    between processing and dispatch does not warn about what the bot is answering. A
    reply that cannot be posted hands the case to its team, with the clock counted from
    the follow-up (cases.escalate)."""
    return decision.reply is not None and not decision.reply.draft


def _mention(message: Message, customer: Customer | None) -> Mention:
    author = Author(
        id=customer.platform_user_id if customer else "",
        handle=message.author_handle,
        display_name=customer.display_name if customer else "",
        followers=customer.followers if customer else None,
        verified=customer.verified if customer else False,
        account_created_at=customer.account_created_at if customer else None,
    )
    return Mention(
        platform=Platform(message.platform),
        external_id=message.external_id,
        author=author,
        text=message.text,
        created_at=message.created_at,
        conversation_id=message.conversation_id,
        in_reply_to=message.in_reply_to,
        url=message.url,
        lang=message.lang,
        reply_allowed=message.reply_allowed,
        kind=MessageKind(message.kind),
    )


def _latest_case_id(session: Session, message: Message) -> int | None:
    query = (
        select(Case.id)
        .where(Case.platform == message.platform, Case.conversation_id == message.conversation_id)
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def _apply(
    rt: Runtime,
    session: Session,
    index: ThreadIndex,
    case: Case,
    message: Message,
    decision: Decision,
    summary: dict[str, Any],
    now: datetime,
) -> None:
    if decision.matched or decision.notes:
        actor = rules_actor(decision.matched)
        cases.record(session, case, "decided", actor, now, **summary)
    # An ignore rule's tags too (docs/rules.md): they make its cases findable, and
    # `tag: [spam]` on the case it closes makes it closed as spam (cases.closed_as_spam).
    _add_tags(session, case, decision, now)
    if decision.ignored:
        if index.opens(message) and not index.backfilling:
            _close_as_ignored(session, case, decision, now)
        return
    escalation = decision.escalation
    # Only the message opening the case may lower its priority (cases.set_priority).
    opens = index.opens(message)
    if decision.priority is not None:
        # set_priority wins over the escalation's, so it is set first and the escalation
        # carries it: the audit trail has one change, by the rules that set it (not the
        # escalation's and then its undoing), and the team's alert names the priority
        # the case has.
        actor = rules_actor(decision.matched)
        cases.set_priority(session, case, decision.priority.value, actor, now, may_lower=opens)
        if escalation is not None:
            escalation = replace(escalation, priority=decision.priority)
    elif escalation is not None and opens:
        # escalate only raises: an escalation at low still sets the case it opens low.
        priority = escalation.priority.value
        cases.set_priority(session, case, priority, escalation.rule, now, may_lower=True)
    if escalation is not None:
        cases.escalate(session, rt.settings, case, escalation, now, message=message)
    if decision.assignee is not None:
        _assign(session, index, case, decision, now)
    reply = decision.reply
    if reply is None:
        return
    cases.queue_reply(
        session,
        case,
        message,
        reply.text,
        actor=reply.rule,
        rule=reply.rule,
        now=now,
        draft=reply.draft,
        answer_id=reply.answer,
    )
    if reply.draft:
        return
    # Counted when queued, not when sent, so the per-thread cap holds even while the
    # first reply is still in the outbox.
    index.replied(case, now)
    # Only a case nobody has taken up is the bot's (case_transitions, shared with the
    # dry run): an escalated case keeps its state when the customer's later "thank
    # you!" gets the praise rule's reply.
    state = case_transitions.after_bot_reply(CaseState(case.state))
    cases.transition(session, case, state, reply.rule, now)


def _close_as_ignored(session: Session, case: Case, decision: Decision, now: datetime) -> None:
    """A case opened by a message the rules ignore (a retweet, giveaway spam, a
    blocklisted author) owes nothing: left `new`, it sat in the team's queue with
    nothing to do. Resolved at once, by the rule, it is out of the queue, found with the
    state filter, and the customer's next message the rules do not ignore reopens it
    (ThreadIndex.reopen). Only the opening message closes it: an ignored message in a
    case already open leaves that case as it is. A backfill resolves its cases itself."""
    actor = rules_actor(decision.matched)
    by = f"rule {actor}" if decision.matched else (decision.notes or ("a guard",))[0]
    reason = f"ignored by {by}"
    cases.transition(session, case, CaseState.RESOLVED, actor, now, reason=reason)


def _add_tags(session: Session, case: Case, decision: Decision, now: datetime) -> None:
    """The rules' tags, up to the limit a person's tagging keeps (triage.MAX_TAGS), in
    the rules' order. Unbounded, a case took every tag of every rule, and a person could
    then add none. The tags left out are logged and recorded (``tags_dropped``). The
    spam tag is always added, as "Mark as spam" adds it: it decides how the case is
    handled (the message was judged owing no answer by it)."""
    held = {t.lower() for t in case.tags}
    new = [t for t in decision.tags if t not in held]
    spam = [t for t in new if t == cases.SPAM_TAG]
    rest = [t for t in new if t != cases.SPAM_TAG]
    room = max(triage.MAX_TAGS - len(case.tags) - len(spam), 0)
    kept, dropped = [*spam, *rest[:room]], rest[room:]
    if kept:
        case.tags = sorted([*case.tags, *kept])
    if dropped:
        log.warning("case %s: %d rule tags over the limit not added", case.ref, len(dropped))
        actor = rules_actor(decision.matched)
        cases.record(
            session, case, "tags_dropped", actor, now, dropped=dropped, limit=triage.MAX_TAGS
        )


def _decision_json(decision: Decision) -> dict[str, Any]:
    """The decision as JSON-ready data, empty fields left out.

    dataclasses.asdict deep-copies every value and cost as much as the rules themselves.
    """
    out = {name: _plain(getattr(decision, name)) for name in _field_names(Decision)}
    return {key: value for key, value in out.items() if value not in (None, [], False)}


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _field_names(type(value))}
    return value
