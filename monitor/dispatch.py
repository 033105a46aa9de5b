"""Step function ``dispatch_outbox``: send due actions, at most once each."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ScalarSelect, func, literal, select, update
from sqlalchemy.orm import Session

from monitor import cases, native_answers, notifications, reply_health, sla, thread_cap
from monitor.domain import (
    Action,
    ActionKind,
    ActionStatus,
    CaseState,
    Direction,
    Escalation,
    MessageKind,
    Platform,
    Priority,
)
from monitor.runtime import Runtime
from monitor.settings import Dispatch
from monitor.store.db import transaction, with_retries
from monitor.store.models import (
    ActionRow,
    Case,
    Message,
    UTCDateTime,
    case_ref,
    may_be_owed,
)
from monitor.store.pending import add_event
from monitor.store.queries import (
    attempts_began,
    claim_due_actions,
    insert_returning_keys,
    locked,
    one_of,
)
from responders.base import Responder, ResponderError, SendResult

log = logging.getLogger("inchannel.dispatch")

# Outcomes are written in groups of at most this many actions or this many seconds.
RECORD_EVERY = 50
RECORD_SECONDS = 2.0
# A claimed action withdrawn more than this long before its turn is not sent.
RECHECK_SECONDS = 1.0


def dispatch_outbox(rt: Runtime) -> bool:
    """Send one batch of due actions. Returns True when the batch was full (more may wait)."""
    now = rt.clock.now()
    limit = rt.settings.dispatch.batch_size
    stale_after = timedelta(seconds=rt.settings.workers.stale_claim_seconds)
    # A claim older than this belongs to a worker that died mid-send.
    claim = functools.partial(
        _claim_batch, rt, now=now, limit=limit, stale_before=now - stale_after
    )
    # Withdrawing a reply writes its case, which a worker processing the case may hold.
    claimed, batch, spam = with_retries(claim)
    started = time.perf_counter()
    outcomes = Outcomes(rt, claimed_at=now)
    withdrawn = Withdrawn(rt, claimed_at=now)
    # Past half the stale-claim time another worker may soon take our claims for a dead
    # worker's and post them: we stop sending well before that (slow sends, timeouts).
    send_until = now + stale_after / 2
    for position, (action, outcome_unknown) in enumerate(batch):
        if rt.stopping.is_set() or rt.clock.now() >= send_until:
            outcomes.record()
            _release([(a.id, unknown) for a, unknown in batch[position:]], rt, now)
            return not rt.stopping.is_set()
        if withdrawn.due():
            withdrawn.check([a.id for a, _ in batch[position:]])
        if action.id in withdrawn:
            log.info("action=%d withdrawn or taken over after it was claimed; not sent", action.id)
            continue
        sending_at = rt.clock.now()
        outcome = _attempt(rt, action, outcome_unknown, only_look=action.id in spam)
        outcomes.add(action, outcome, sending_at)
    outcomes.record()
    if batch:
        log.info(
            "dispatched=%d duration_ms=%.1f", len(batch), (time.perf_counter() - started) * 1000
        )
    return claimed == limit


def _claim_batch(
    rt: Runtime, *, now: datetime, limit: int, stale_before: datetime
) -> tuple[int, list[tuple[Action, bool]], set[int]]:
    """How many actions were claimed, the ones to attempt: (action, outcome unknown), and
    those only to look for (``_spam_leftovers``). Bot replies past their thread's cap are
    withdrawn in the same transaction."""
    with transaction(rt.sessions) as session:
        claimed = claim_due_actions(session, now=now, limit=limit, stale_before=stale_before)
        if not claimed:  # an idle outbox, most claims of idle workers: nothing to read
            return 0, [], set()
        ids = [action_id for action_id, _ in claimed]
        rows = {
            row.id: row
            for row in session.scalars(select(ActionRow).where(one_of(session, ActionRow.id, ids)))
        }
        unknown = {action_id for action_id, outcome_unknown in claimed if outcome_unknown}
        for action_id in unknown:  # a dead worker's attempt: it may have posted
            rows[action_id].may_have_posted = True
        stopping = _stops_its_workers(rt, session, [rows[i] for i in unknown], now)
        judged = [rows[action_id] for action_id in ids if action_id not in unknown]
        # Before the cap: a stale reply must not take a place in its thread.
        native = native_answers.withdraw_answered(session, judged, now=now)
        judged = [row for row in judged if row.id not in native]
        cap = rt.settings.rules.max_replies_per_thread
        over = thread_cap.withdraw_over_cap(session, judged, cap=cap, now=now)
        answered = sla.withdraw_answered(session, judged, now=now)
        left_out = native | over | answered | stopping
        batch = [(_action(rows[i]), i in unknown) for i in ids if i not in left_out]
        spam = _spam_leftovers(session, [(a, rows[a.id]) for a, _ in batch], unknown)
    for action_id in sorted(native):
        log.info("action=%d withdrawn: the brand answered its post natively", action_id)
    for action_id in sorted(over):
        log.info("action=%d withdrawn: its thread has its bot replies already", action_id)
    for action_id in sorted(answered):
        log.info("action=%d withdrawn: its case no longer owes the answer it warns of", action_id)
    for action_id in sorted(stopping):
        log.error("action=%d given up: its worker stopped while sending it, again", action_id)
    return len(claimed), batch, spam


# Claims recovered from a dead worker past dispatch.max_attempts before the action is
# given up: one kill (a deploy, the OOM killer) is not the action's doing, and the next
# attempt looks in the thread for what the dead worker may have posted.
CRASHES_TOLERATED = 3


def _stops_its_workers(
    rt: Runtime, session: Session, recovered: list[ActionRow], now: datetime
) -> set[int]:
    """The recovered claims to give up: each recovery counts an attempt, and one whose
    sending (or lookup) kills its worker every time (a crash in a client library, memory
    running out) was taken back every stale_claim_seconds for ever, past max_attempts,
    and never handed to a person. It is dead and handed over, as after max_attempts."""
    config = rt.settings.dispatch
    given_up = {row.id for row in recovered if _crashed_too_often(session, row, config, now)}
    for row in recovered:
        if row.id in given_up:
            text = "its worker stopped while sending it, each time; it may be in the thread"
            row.status, row.last_error, row.updated_at = ActionStatus.DEAD, text, now
            _hand_to_human(rt, session, row, ResponderError(text), now)
    return given_up


def _crashed_too_often(session: Session, row: ActionRow, config: Dispatch, now: datetime) -> bool:
    """A reply past max_attempts + CRASHES_TOLERATED. A notification is retried for
    notify_retry_hours, not max_attempts times (_gives_up): its attempts run past that
    limit while its channel is down, and one worker killed while sending it (a deploy)
    gave the escalation up unsent. It is given up once past its hours, as after a failure."""
    if row.kind == ActionKind.NOTIFY:
        return _gives_up(session, row, config, now)
    return row.attempts > config.max_attempts + CRASHES_TOLERATED


def _spam_leftovers(
    session: Session, batch: list[tuple[Action, ActionRow]], unknown: set[int]
) -> set[int]:
    """Replies of cases closed as spam whose earlier attempt may have been posted (a dead
    worker's claim, which triage.mark_spam leaves to us): looked for, never sent."""
    maybe = [
        (action.id, row.case_id)
        for action, row in batch
        if row.kind == ActionKind.REPLY
        and row.case_id is not None
        and _may_have_posted(action, action.id in unknown)
    ]
    if not maybe:
        return set()
    query = select(Case).where(Case.id.in_({case_id for _, case_id in maybe}))
    spam = {case.id for case in session.scalars(query) if cases.closed_as_spam(case)}
    return {action_id for action_id, case_id in maybe if case_id in spam}


class Withdrawn:
    """Claimed actions that are no longer ``sending``, or no longer our claim (another
    worker took it over: _still_ours), no longer ours to post.

    The batch is claimed at once and posted one by one, minutes in all on a slow
    platform; meanwhile a person may withdraw a reply (mark its case as spam), and it
    must not go out after that. The rest of the batch is checked once every
    RECHECK_SECONDS (one query), not before each post: that doubled the cost of
    dispatching on a fast platform.
    """

    def __init__(self, rt: Runtime, *, claimed_at: datetime) -> None:
        self._rt, self._claimed_at = rt, claimed_at
        self._checked = rt.clock.now()  # the claim itself
        self._ids: set[int] = set()

    def due(self) -> bool:
        return self._rt.clock.now() - self._checked >= timedelta(seconds=RECHECK_SECONDS)

    def check(self, ids: list[int]) -> None:
        self._checked = self._rt.clock.now()
        # A worker whose clock runs ahead of ours by more than half the stale-claim
        # time takes our claims over while we are still sending.
        ours = (ActionRow.status == ActionStatus.SENDING) & (
            ActionRow.updated_at == self._claimed_at
        )
        query = select(ActionRow.id).where(ActionRow.id.in_(ids), ~ours)
        with self._rt.sessions() as session:
            self._ids = set(session.scalars(query))

    def __contains__(self, action_id: int) -> bool:
        return action_id in self._ids


def _release(claims: list[tuple[int, bool]], rt: Runtime, now: datetime) -> None:
    """Give back claimed actions we did not try: (id, recovered), claimed at ``now``,
    due at once. A recovered claim goes back as `pending` with its may-have-posted mark
    (set by its claim), so the next attempt still looks for it in the thread first:
    kept `sending` under our fresh claim time, it waited workers.stale_claim_seconds
    more before anyone sent it. The attempt is given back too, or claims released
    untried added up to a reply "killing its worker" (_stops_its_workers) and it was
    given up unsent."""
    with transaction(rt.sessions) as session:
        for action_id, recovered in claims:
            row = session.get(ActionRow, action_id)
            if row is None or not _still_ours(row, now):
                continue
            row.status, row.next_attempt_at = ActionStatus.PENDING, now
            if recovered:
                row.may_have_posted = True
            row.attempts -= 1


def _still_ours(row: ActionRow, claimed_at: datetime) -> bool:
    """Whether the row is still our claim made at ``claimed_at``. A worker paused past
    the stale-claim time (SIGSTOP, a VM paused) finds its claims taken over by another
    worker, which may be posting them now: `sending` alone does not tell the two apart,
    the claim's time does (every claim writes it; nothing else writes a `sending` row)."""
    return row.status == ActionStatus.SENDING and row.updated_at == claimed_at


class NotPosted:
    """Looked for in the thread and not there: a spam case's leftover, withdrawn unsent."""


NOT_POSTED = NotPosted()
Outcome = tuple[SendResult, bool] | ResponderError | NotPosted  # (result, recovered), ...


def _attempt(
    rt: Runtime, action: Action, outcome_unknown: bool, *, only_look: bool = False
) -> Outcome:
    """Post ``action``, looking in the thread first when an earlier attempt may have
    posted. ``only_look``: a reply of a case closed as spam that may have been posted,
    recorded as sent if it is in the thread, else withdrawn (NOT_POSTED); never sent to
    the spammer. A failed lookup is retried (a retry of such a reply looks again)."""
    if action.kind is ActionKind.NOTIFY:
        responder: Responder | None = rt.notifier
    else:
        responder = rt.responders.get(action.platform) if action.platform else None
    try:
        if responder is None:
            if only_look:
                return NOT_POSTED
            raise ResponderError(f"no responder configured for {action.platform}", permanent=True)
        look = only_look or _may_have_posted(action, outcome_unknown)
        existing = responder.find_own_reply(action) if look else None
        if existing:
            return SendResult(existing), True
        return NOT_POSTED if only_look else (responder.send(action), False)
    except ResponderError as exc:
        return exc
    except Exception as exc:  # an unexpected bug in a responder: treat as temporary
        log.exception("action=%d responder crashed", action.id)
        return ResponderError(f"{type(exc).__name__}: {exc}")


def _may_have_posted(action: Action, outcome_unknown: bool) -> bool:
    """Whether an earlier attempt may have posted, so we must look before sending.

    Not only a claim recovered from a dead worker: when its lookup failed, the retry is
    just as unknown, and a send that timed out may have been accepted; so is the first
    attempt of a dead action a person retried after such a failure. Only failures that
    surely posted nothing (a rate limit, a 4xx refusal) spare the look, a billed read on
    X (``_note_failure``); when in doubt it looks (DESIGN rule 2). A notifier cannot look
    (it finds nothing): for alerts a rare duplicate is the accepted cost.
    """
    return outcome_unknown or action.retry


@dataclass(frozen=True, slots=True)
class Done:
    """An outcome to count and log once its group is committed."""

    kind: str
    status: str
    level: int
    line: str
    counted: bool = True
    reason: str | None = None  # a failed send's class: rate_limited, temporary, permanent

    def report(self, rt: Runtime) -> None:
        if self.counted:
            rt.metrics.action(self.kind, self.status)
        if self.reason is not None:
            rt.metrics.send_failed(self.kind, self.reason)
        log.log(self.level, self.line)


class Outcomes:
    """Send results waiting to be written, in one transaction per group.

    A commit per sent action cost more than the send itself on a fast platform. The
    group is written at least every RECORD_EVERY actions and RECORD_SECONDS, so a
    crash leaves at most one group in ``sending``; those are checked with
    find_own_reply on recovery, never re-sent blindly (DESIGN rule 2).
    """

    def __init__(self, rt: Runtime, *, claimed_at: datetime) -> None:
        self._rt, self._claimed_at = rt, claimed_at
        # With the moment each send began: our post is in the thread from then on.
        self._waiting: list[tuple[Action, Outcome, datetime]] = []
        self._since = time.monotonic()

    def add(self, action: Action, outcome: Outcome, sending_at: datetime) -> None:
        self._waiting.append((action, outcome, sending_at))
        if len(self._waiting) >= RECORD_EVERY or time.monotonic() - self._since > RECORD_SECONDS:
            self.record()

    def record(self) -> None:
        if not self._waiting:
            return
        # A deadlock with a worker processing the same case rolls the group back whole and
        # runs it again: counting or logging inside would do it twice, so it waits for
        # the commit.
        for done in with_retries(self._write):
            done.report(self._rt)
        self._waiting.clear()
        self._since = time.monotonic()

    def _write(self) -> list[Done]:
        now = self._rt.clock.now()
        done: list[Done] = []
        with transaction(self._rt.sessions) as session:
            ids = [action.id for action, _, _ in self._waiting]
            rows = {
                r.id: r
                for r in session.scalars(
                    select(ActionRow).where(one_of(session, ActionRow.id, ids))
                )
            }
            own_posts: list[dict[str, Any]] = []
            recounted: list[int | None] = []
            dead: list[tuple[ActionRow, ResponderError]] = []
            for action, outcome, sending_at in self._waiting:
                row = rows[action.id]
                if isinstance(outcome, ResponderError):
                    _note_failure(row, action, outcome)
                if isinstance(outcome, NotPosted):
                    done.append(_withdraw_unposted(session, row, now))
                elif isinstance(outcome, ResponderError) and not _still_ours(row, self._claimed_at):
                    # Withdrawn while it was being sent, and not posted: no retry, and
                    # no hand-over of a case a person has just closed. (Or another
                    # worker took the claim over, and recorded it or is posting it:
                    # that stands too.)
                    done.append(_not_retried(row, outcome))
                elif isinstance(outcome, ResponderError):
                    done.append(_record_error(self._rt, session, row, outcome, now))
                    if row.status == ActionStatus.DEAD:
                        dead.append((row, outcome))
                else:
                    if row.status == ActionStatus.REJECTED and cases.bot_queued(row):
                        recounted.append(row.case_id)
                    done.append(_record_sent(session, row, *outcome, now=now))
                    own_posts.extend(_own_posts(self._rt, row, outcome[0], sending_at, now))
            _store_own_posts(session, own_posts)
            _count_again(session, recounted, now)
            # Late, so the case rows it locks (PostgreSQL) are held only until the commit.
            began = min(at for _, _, at in self._waiting)
            answered = [post["case_id"] for post in own_posts]
            _answered(self._rt, session, answered, now, sending_from=began)
            _hand_over(self._rt, session, dead, now)
            # After every case lock (above): held only until the commit.
            reply_health.record(session, _sends(self._waiting), now)
        return done


def _hand_over(
    rt: Runtime, session: Session, dead: list[tuple[ActionRow, ResponderError]], now: datetime
) -> None:
    """The group's dead replies, after its answers (_answered): a reply posted in the
    same group to the same case answered the customer, and a dead bot reply then owes
    nothing (_owing_nothing). Handed over first, it pulled the case just answered back
    into its team's queue and told the team's channels. In case order, as the cases
    are locked elsewhere (queries.locked)."""
    for row, error in sorted(dead, key=lambda item: (item[0].case_id or 0, item[0].id)):
        _hand_to_human(rt, session, row, error, now)


def _sends(waiting: list[tuple[Action, Outcome, datetime]]) -> list[reply_health.Send]:
    """The replies' outcomes on their platforms, in the order sent (None: posted). A
    rate limit refuses no reply for good and has waits and alerts of its own; a spam
    case's leftover was only looked for."""
    return [
        (action.platform, outcome if isinstance(outcome, ResponderError) else None)
        for action, outcome, _ in waiting
        if action.kind is ActionKind.REPLY
        and action.platform is not None
        and not isinstance(outcome, NotPosted)
        and not (isinstance(outcome, ResponderError) and outcome.rate_limited)
    ]


def _action(row: ActionRow) -> Action:
    return Action(
        id=row.id,
        kind=ActionKind(row.kind),
        platform=Platform(row.platform) if row.platform else None,
        case_ref=case_ref(row.case_id) if row.case_id is not None else "",
        target_external_id=row.target_external_id,
        conversation_id=row.conversation_id,
        text=row.text,
        idempotency_key=row.idempotency_key,
        attempts=row.attempts,
        channel=row.channel,
        markdown=row.markdown,
        # Cleared when sent; kept by a person's retry of a dead action.
        failed_before=row.last_error is not None,
        may_have_posted=row.may_have_posted,
    )


def _note_failure(row: ActionRow, action: Action, error: ResponderError) -> None:
    """Whether the action may be in the thread now: it stays so once it may have been
    (a refusal after a lookup that found nothing settles nothing: X's search shows a
    new post only after a while), and becomes so when this attempt may have posted.
    As the row says it now, too: a worker whose request hung while another took its
    claim over (and timed out) must not clear what that one may have posted."""
    row.may_have_posted = row.may_have_posted is True or action.retry or not error.refused


def _record_sent(
    session: Session, row: ActionRow, result: SendResult, recovered: bool, *, now: datetime
) -> Done:
    """Mark the action sent, with an event on its case."""
    row.status, row.result_external_id = ActionStatus.SENT, result.external_id
    row.updated_at, row.last_error = now, None
    detail = {"action": row.id, "external_id": result.external_id, "recovered": recovered}
    actor = row.actor or row.rule or "bot"
    add_event(session, case_id=row.case_id, kind="sent", actor=actor, detail=detail, at=now)
    line = f"action={row.id} sent external_id={result.external_id} recovered={recovered}"
    return Done(row.kind, ActionStatus.SENT.value, logging.INFO, line)


def _own_posts(
    rt: Runtime, row: ActionRow, result: SendResult, sending_at: datetime, now: datetime
) -> list[dict[str, Any]]:
    """Our post as a message row to store, if the action was a reply on a case."""
    if row.kind != ActionKind.REPLY or row.case_id is None:
        return []
    return [_own_post(rt, row, result.external_id, sending_at, now)]


def _count_again(session: Session, case_ids: list[int | None], now: datetime) -> None:
    """Bot replies withdrawn ("spam") while their request was under way, and posted: the
    withdrawal took them off the thread's count (triage.mark_spam), but they are in the
    thread, so they count toward its max_replies_per_thread again."""
    quiet = {"synchronize_session": False}
    for case_id, n in Counter(i for i in case_ids if i is not None).items():
        session.execute(
            update(Case)
            .where(Case.id == case_id)
            .values(bot_replies=Case.bot_replies + n, last_bot_reply_at=now),
            execution_options=quiet,
        )


def _answered(
    rt: Runtime, session: Session, case_ids: list[int], now: datetime, *, sending_from: datetime
) -> None:
    """Our replies' cases: the first response (its deadline kept for reports), a
    follow-up answered (its clock stops), and a case a person had answered (replied) now
    waits on the customer, unless they wrote meanwhile. Conditional UPDATEs of the
    current rows, not writes from a copy read earlier: another worker may have escalated
    or resolved a case meanwhile, and its change must stand."""
    if not case_ids:
        return
    ids = sorted(set(case_ids))
    quiet = {"synchronize_session": False}
    session.execute(
        update(Case)
        .where(one_of(session, Case.id, ids))
        .values(updated_at=now, follow_up_at=_written_since(sending_from)),
        execution_options=quiet,
    )
    unanswered = one_of(session, Case.id, ids) & Case.first_response_at.is_(None)
    first = {"first_response_at": now, "first_response_due_at": Case.sla_due_at}
    session.execute(update(Case).where(unanswered).values(first), execution_options=quiet)
    old, new = CaseState.REPLIED.value, CaseState.WAITING_CUSTOMER.value
    # Not a case the customer wrote to meanwhile: it owes that message an answer, and
    # waiting on the customer it was out of the queue and of check_sla.
    waits = one_of(session, Case.id, ids) & (Case.state == old) & Case.follow_up_at.is_(None)
    moved = update(Case).where(waits).values(state=new)
    for case_id in session.scalars(moved.returning(Case.id), execution_options=quiet):
        cases.record_state(session, case_id, old, new, "system", now)
    _owed_again(rt, session, ids, sending_from, now)


def _written_since(sending_from: datetime) -> ScalarSelect[datetime]:
    """When the case's first customer message written and stored since our sends began
    was written, if it is decided already and the rules did not ignore it (it owes
    nothing: ``may_be_owed``); else NULL: our reply answers what came before. One
    written meanwhile may answer our reply, and processing, which ran before this
    write, saw the previous answer still owed and started no clock for it.
    Undecided ones are processing's to judge: it finds our post, dated when its send
    began, before them. Stored since, too: the message we replied to may carry a time
    ahead of ours (a platform clock ahead)."""
    return (
        select(func.min(Message.created_at))
        .where(
            Message.case_id == Case.id,
            may_be_owed(),
            Message.processed.is_(True),
            Message.created_at > literal(sending_from, UTCDateTime()),
            Message.ingested_at > literal(sending_from, UTCDateTime()),
        )
        .scalar_subquery()
    )


def _owed_again(
    rt: Runtime, session: Session, ids: list[int], sending_from: datetime, now: datetime
) -> None:
    """The answer owed to a message written while our reply was being posted: its own
    clock, from when it was written (rare: a window of about RECORD_SECONDS)."""
    later = Case.follow_up_at > literal(sending_from, UTCDateTime())
    query = (
        select(Case)
        .where(one_of(session, Case.id, ids), later)
        .execution_options(populate_existing=True)
    )
    for case in session.scalars(query):
        since = case.follow_up_at
        assert since is not None  # the query asked for one after sending_from
        if cases.SPAM_TAG in case.tags:
            case.follow_up_at = None
            continue
        cases.owe_follow_up(rt.settings, case, min(since, now))


def _own_post(
    rt: Runtime, row: ActionRow, external_id: str, sending_at: datetime, now: datetime
) -> dict[str, Any]:
    """Dated when its send began, not when the outcome is written (up to RECORD_SECONDS
    later): a customer message after it is a follow-up the reply did not answer."""
    handles = sorted(rt.own_handles(Platform(row.platform)))
    return {
        "platform": row.platform,
        "external_id": external_id,
        "direction": Direction.OUTBOUND.value,
        "kind": MessageKind.REPLY.value,
        "case_id": row.case_id,
        "author_handle": handles[0] if handles else rt.settings.brand.name,
        "text": row.text,
        "conversation_id": row.conversation_id,
        "in_reply_to": row.target_external_id,
        "reply_allowed": True,
        "created_at": sending_at,
        "ingested_at": now,
        "processed": True,
    }


def _store_own_posts(session: Session, posts: list[dict[str, Any]]) -> None:
    """Our posts as outbound messages of their cases, stored with the outcomes, so the
    poller never ingests them as new mentions. The poller may have stored one first
    (as thread context under a customer's answer): then that row becomes ours, instead
    of a duplicate-key error that would undo the whole group of outcomes."""
    key = ("platform", "external_id")
    new = insert_returning_keys(session, Message, posts, key)
    for post in posts:
        if (post["platform"], post["external_id"]) not in new:
            session.execute(
                update(Message)
                .where(
                    Message.platform == post["platform"],
                    Message.external_id == post["external_id"],
                )
                .values(direction=Direction.OUTBOUND.value, case_id=post["case_id"], processed=True)
                .execution_options(synchronize_session=False)
            )


def _record_error(
    rt: Runtime, session: Session, row: ActionRow, error: ResponderError, now: datetime
) -> Done:
    config = rt.settings.dispatch
    row.last_error, row.updated_at = str(error)[:2000], now
    if _waits_for_reset(error, now):
        # Given back, as a claim released untried is: the platform took nothing, and a
        # spent quota counted as failures handed sound replies to a person. Each wait
        # ends at a reset the platform (or the X budget) named, so the reply is not
        # held open-ended; one that waits long shows as its case's SLA alert.
        row.attempts = max(0, row.attempts - 1)
        _clock_while_held(rt, session, row)
    if error.permanent or _gives_up(session, row, config, now):
        row.status = ActionStatus.DEAD  # handed to a person once the group's answers count
    else:
        row.status = ActionStatus.FAILED
        row.next_attempt_at = _next_attempt(now, row.attempts, error, config)
    line = (
        f"action={row.id} failed permanent={error.permanent} "
        f"rate_limited={error.rate_limited} error={error}"
    )
    return Done(row.kind, str(row.status), logging.WARNING, line, reason=_reason(error))


def _reason(error: ResponderError) -> str:
    """The bounded label a failed send counts under (never the error's text)."""
    if error.rate_limited:
        return "rate_limited"
    return "permanent" if error.permanent else "temporary"


def _waits_for_reset(error: ResponderError, now: datetime) -> bool:
    """A rate limit with a known end: not an attempt that counts toward max_attempts.

    One without a reset time to come counts (none sent, or one already past on a skewed
    clock, which would retry at the backoff's pace for ever): nothing says it will end,
    and max_attempts is what bounds it. An X usage cap is not flagged at all."""
    return (
        error.rate_limited
        and not error.permanent
        and error.retry_after is not None
        and error.retry_after > now
    )


def _clock_while_held(rt: Runtime, session: Session, row: ActionRow) -> None:
    """A bot reply to a follow-up waits for a rate limit's reset: the follow-up takes its
    team's clock now. Processing started none (processing._bot_answers), counting on the
    reply going out at once or dying after max_attempts and handing the case over; a
    wait for resets has neither bound (the X write budget holds it until midnight), and
    without a clock the team heard nothing of the customer all that time."""
    if row.kind != ActionKind.REPLY or row.case_id is None:
        return
    # Read now and locked (PostgreSQL), as for a hand-over: a change made meanwhile stands.
    query = locked(session, select(Case).where(Case.id == row.case_id))
    case = session.scalars(query).one_or_none()
    if case is not None:
        cases.start_follow_up_clock(rt.settings, case)


def _gives_up(session: Session, row: ActionRow, config: Dispatch, now: datetime) -> bool:
    """A reply stops after max_attempts: a person answers instead, and soon. A
    notification has nobody to take over, and max_attempts (about 12 minutes with the
    defaults) lost escalations to a chat channel down for a quarter of an hour: it is
    retried until it is notify_retry_hours old, as ElastAlert keeps unsent alerts. A
    dead one a person retries gets as long again: timed from its creation, the first
    failure of the fresh attempts ended them."""
    if row.kind == ActionKind.NOTIFY:
        hours = timedelta(hours=config.notify_retry_hours)
        return now - row.created_at >= hours and now - _retried_at(session, row) >= hours
    return row.attempts >= config.max_attempts


def _retried_at(session: Session, row: ActionRow) -> datetime:
    """When a person last retried the dead action (triage.retry_action), else its creation."""
    return session.scalar(select(attempts_began()).where(ActionRow.id == row.id)) or row.created_at


def _withdraw_unposted(session: Session, row: ActionRow, now: datetime) -> Done:
    """A spam case's reply that is not in the thread: rejected, and a bot reply no longer
    counts toward the thread's cap (as triage.mark_spam withdraws the others)."""
    if row.status != ActionStatus.SENDING:
        line = f"action={row.id} not in the thread, and is {row.status} meanwhile"
        return Done(row.kind, str(row.status), logging.INFO, line, counted=False)
    reason = "not in the thread; the case was closed as spam"
    thread_cap.withdraw_reply(session, row, reason=reason, actor="system", now=now)
    line = f"action={row.id} not in the thread; withdrawn, its case was closed as spam"
    # No send was made: counted, it was an outcome="rejected" series the metrics table
    # does not list, which first appeared at 1 (invisible to rate()).
    return Done(row.kind, ActionStatus.REJECTED.value, logging.INFO, line, counted=False)


def _not_retried(row: ActionRow, error: ResponderError) -> Done:
    line = f"action={row.id} failed, and is {row.status} meanwhile; not retried: {error}"
    return Done(row.kind, str(row.status), logging.INFO, line, counted=False)


def _not_posted(row: ActionRow) -> str:
    """The escalation's words for a dead reply. One an attempt may have posted (a timeout,
    a 5xx, a quarantined thread the check could not read) is not known to be missing:
    "could not be posted" had the person answer under the bot's reply."""
    return "reply not confirmed as posted" if row.may_have_posted else "reply could not be posted"


def _owing_nothing(case: Case, row: ActionRow) -> bool:
    """A bot reply that died on a case a person answered (waiting on the customer) or
    closed with nothing owed: an extra reply (an acknowledgement the thread, locked or
    deleted meanwhile, refused). Handed over, it pulled the case back into the team's
    queue with no answer due, and told the team's channels. A person's own reply is
    their words, which the customer never got, and a case still owing an answer is
    owed it: both go back to the team."""
    return (
        case.state in _WITH_THE_CUSTOMER
        and cases.response_owed_since(case) is None
        and cases.bot_queued(row)
    )


# Out of the team's queue: answered and waiting on the customer, or closed.
_WITH_THE_CUSTOMER = frozenset({CaseState.RESOLVED.value, CaseState.WAITING_CUSTOMER.value})


def _hand_to_human(
    rt: Runtime, session: Session, row: ActionRow, error: ResponderError, now: datetime
) -> None:
    """A dead reply is a promise we could not keep: a person takes over, and is told,
    unless the case owes nothing (_owing_nothing: an extra bot reply on a case answered
    or closed); the failure is in the case's history either way."""
    case = None
    if row.case_id is not None:
        # Read now and locked (PostgreSQL), so a change another worker made stands.
        query = locked(session, select(Case).where(Case.id == row.case_id))
        case = session.scalars(query).one_or_none()
    reason = "permanent error" if error.permanent else f"gave up after {row.attempts} attempts"
    detail = {"action": row.id, "error": str(error)[:500], "reason": reason}
    cases.record(session, case, "send_failed", "system", now, **detail)
    if row.kind == ActionKind.NOTIFY or case is None:
        return  # the case itself is unaffected; the dead notification shows in the outbox
    if cases.closed_as_spam(case):
        return  # a reply only looked for (_attempt only_look), never to be posted: nothing owed
    if _owing_nothing(case, row):
        return  # the send_failed event and the dead action show on the case page; retryable
    # The platform's words, on the escalation's title line: no line of their own, no
    # "@everyone" (notifications.excerpt).
    words = f"{_not_posted(row)} ({reason}): {notifications.excerpt(str(error), 200)}"
    team = case.team or rt.settings.teams[0].name
    escalation = Escalation("system", team, Priority(case.priority), reason=words)
    # A case waiting for that team already is not handed over again: its channels,
    # told "escalated" when it was, got a second "escalated" for the same case. They
    # are told the reply died, in its own words.
    waiting = case.state == CaseState.AWAITING_HUMAN.value and case.team == team
    cases.escalate(session, rt.settings, case, escalation, now, title=words if waiting else None)


def _next_attempt(
    now: datetime, attempts: int, error: ResponderError, config: Dispatch
) -> datetime:
    """Exponential backoff with jitter, never before the platform's reset time."""
    delay = _backoff(config, attempts)
    moment = now + timedelta(seconds=random.uniform(delay / 2, delay))
    if error.retry_after is not None and error.retry_after > moment:
        return error.retry_after
    return moment


def _backoff(config: Dispatch, attempts: int) -> float:
    """The delay before attempt ``attempts + 1``: the base doubled per attempt, up to the
    cap. Doubled only until it reaches the cap: a notification is retried until it is
    notify_retry_hours old, a thousand attempts and more with a cap of a minute, and
    base * 2 ** (attempts - 1) no longer fit in a float (an OverflowError that undid
    the whole group of outcomes, at every retry)."""
    delay = config.backoff_base_seconds
    for _ in range(max(0, attempts - 1)):
        if delay >= config.backoff_cap_seconds:
            break
        delay *= 2
    return min(config.backoff_cap_seconds, delay)
