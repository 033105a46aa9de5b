"""The per-thread reply cap, kept exactly where replies are claimed for sending.

Processing counts a thread's bot replies before it decides, but two workers deciding at
once on two customers of one thread each count before the other's reply exists, and
the thread gets a reply past ``rules.max_replies_per_thread`` per such worker. Locking
threads while deciding cost three workers a fifth of their speed-up (see
``batch_claim.authors_free``). Claims for sending are few and short, so the cap is
checked again there: a dispatcher locks each thread it is about to reply in, counts the
bot replies sent or being sent, and withdraws the ones past the cap, as the rules would
have had they seen them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from monitor import cases
from monitor.domain import ActionKind, ActionStatus, CaseState, earlier_may_have_posted
from monitor.store.models import ActionRow, Case
from monitor.store.pending import add_event
from monitor.store.queries import none_of, one_of

Thread = tuple[str, str]  # platform, conversation id

# Any fixed number: the first key of every thread's advisory lock (PostgreSQL).
THREAD_LOCKS = 7_301

# A reply waiting for a retry after an attempt that may have posted (a timeout, a 5xx):
# ``failed``, or ``pending`` again (given back untried by a worker that stopped,
# dispatch._release, or retried by a person once dead). Its retry looks before it posts
# and is not judged again (_retried). A row older than migration 0008 (NULL) that
# failed may have posted; a failure that surely posted nothing (a rate limit) not.
MAY_BE_POSTED = (
    (ActionRow.status == ActionStatus.FAILED.value) & ActionRow.may_have_posted.is_not(False)
) | (
    (ActionRow.status == ActionStatus.PENDING.value)
    & (
        ActionRow.may_have_posted.is_(True)
        | (ActionRow.may_have_posted.is_(None) & ActionRow.last_error.is_not(None))
    )
)
# Sent or on their way: a claim recovered from a dead worker may have been posted, and
# so may a retry of one: it holds its place in the thread.
_OUT = ActionRow.status.in_([ActionStatus.SENT.value, ActionStatus.SENDING.value]) | MAY_BE_POSTED


def withdraw_over_cap(
    session: Session, rows: Iterable[ActionRow], *, cap: int, now: datetime
) -> set[int]:
    """Withdraw the claimed bot replies that would take their thread past ``cap``; their
    ids. ``rows`` are in claim order, and the first ones fit. Replies whose earlier
    attempt may have been posted are not ``rows``: they are looked for, not judged."""
    replies = [row for row in rows if judged(row)]
    if not replies:
        return set()
    threads = sorted({(row.platform, row.conversation_id) for row in replies})
    _lock(session, threads)
    out = _out(session, threads, judged=[row.id for row in replies])
    over: list[ActionRow] = []
    for row in replies:
        thread = (row.platform, row.conversation_id)
        if out[thread] >= cap:
            over.append(row)
        else:
            out[thread] += 1
    for row in over:
        _withdraw(session, row, out[(row.platform, row.conversation_id)], now)
    return {row.id for row in over}


def judged(row: ActionRow) -> bool:
    # A person's reply and an approved draft are theirs to send: the cap is the bot's.
    bots = row.kind == ActionKind.REPLY.value and row.case_id is not None and cases.bot_queued(row)
    return bots and not _retried(row)


def _retried(row: ActionRow) -> bool:
    """An earlier attempt was made, and may have been posted (a send that timed out):
    the dispatcher looks for it before sending (dispatch._may_have_posted). It was judged
    when first claimed; withdrawn now, a reply in the thread was recorded as never sent.
    The rule domain.Action.retry reads (earlier_may_have_posted)."""
    failed_before = row.last_error is not None
    return earlier_may_have_posted(
        row.may_have_posted, attempts=row.attempts, failed_before=failed_before
    )


def _lock(session: Session, threads: list[Thread]) -> None:
    """Hold each thread until the claim commits, so two dispatchers count one after the
    other (in one order: they wait, never deadlock). SQLite has one writer already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for platform, conversation in threads:
        # The two-key form: its key space is apart from the one-bigint locks of
        # migrations and the run mode (store.db.hold_lock).
        key = func.hashtext(f"{platform}:{conversation}")
        session.execute(select(func.pg_advisory_xact_lock(THREAD_LOCKS, key)))


def _out(session: Session, threads: list[Thread], *, judged: list[int]) -> Counter[Thread]:
    """The threads' bot replies sent, being sent or maybe sent, the ``judged`` ones
    left out."""
    query = (
        select(Case.platform, Case.conversation_id, func.count(ActionRow.id))
        .join(Case, ActionRow.case_id == Case.id)
        .where(
            one_of(session, Case.platform, {platform for platform, _ in threads}),
            one_of(session, Case.conversation_id, {conversation for _, conversation in threads}),
            ActionRow.kind == ActionKind.REPLY.value,
            cases.BOT_QUEUED,
            _OUT,
            none_of(session, ActionRow.id, judged),
        )
        .group_by(Case.platform, Case.conversation_id)
    )
    wanted = set(threads)
    out: Counter[Thread] = Counter()
    for platform, conversation, n in session.execute(query):
        if (platform, conversation) in wanted:
            out[(platform, conversation)] = int(n)
    return out


def _withdraw(session: Session, row: ActionRow, out: int, now: datetime) -> None:
    row.attempts -= 1  # the claim counted an attempt that is not made
    reason = f"already {out} bot replies in this thread (rules.max_replies_per_thread)"
    withdraw_reply(session, row, reason=reason, actor="bot", now=now)
    unanswered(session, row, now)


def withdraw_reply(
    session: Session, row: ActionRow, *, reason: str, actor: str, now: datetime
) -> None:
    """Reject a claimed reply that was never posted, with a ``reply_withdrawn`` event. A
    bot's reply was counted in its thread when queued: never posted, it gives its place
    back (as marking a case as spam does)."""
    row.status, row.updated_at = ActionStatus.REJECTED.value, now
    if cases.bot_queued(row):
        session.execute(
            update(Case)
            .where(Case.id == row.case_id, Case.bot_replies > 0)
            .values(bot_replies=Case.bot_replies - 1),
            execution_options={"synchronize_session": False},
        )
    detail = {"action": row.id, "reason": reason}
    add_event(
        session, case_id=row.case_id, kind="reply_withdrawn", actor=actor, detail=detail, at=now
    )


def unanswered(session: Session, row: ActionRow, now: datetime) -> None:
    """A case the bot answered with this reply is new again, as the rules leave a case
    whose reply the cap blocked: left "auto replied", the customer waited on a reply
    that never went, with nobody shown the case. (A case a rule escalated stays so.)"""
    from_auto_replied(session, row, CaseState.NEW, now, reason="reply withdrawn")


def from_auto_replied(
    session: Session, row: ActionRow, state: CaseState, now: datetime, *, reason: str
) -> None:
    """The case of the withdrawn reply ``row`` moves to ``state`` if the reply had made
    it auto_replied: a conditional UPDATE of the current row, so a case a rule escalated
    (or a person took up) meanwhile keeps its state."""
    old, new = CaseState.AUTO_REPLIED.value, state.value
    moved = session.execute(
        update(Case)
        .where(Case.id == row.case_id, Case.state == old)
        .values(state=new, updated_at=now)
        .returning(Case.id),
        execution_options={"synchronize_session": False},
    )
    for case_id in moved.scalars():
        cases.record_state(session, case_id, old, new, "bot", now, reason=reason)
