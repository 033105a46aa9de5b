"""Which stored messages a processing batch may take now, and what a batch took.

A batch takes inbound messages in the order stored, leaving out those set aside after
a failed batch (monitor.batch_retry), a brand's post waiting for the post it answers,
and (PostgreSQL) the authors another worker is deciding on. Kept apart from deciding
(monitor.processing) so the failed-batch handling can use it without importing that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CTE, ColumnElement, Select, func, select, union_all
from sqlalchemy.orm import Session, aliased

from monitor.domain import Decision, Direction, MessageKind
from monitor.runtime import Runtime
from monitor.store.models import Customer, Message, from_customer
from monitor.store.queries import none_of, one_of, skip_locked


@dataclass(frozen=True, slots=True)
class Claim:
    processed: int
    # More messages wait. Not when a batch found only authors another worker holds:
    # those wait for the next run, rather than this worker spinning on them.
    more: bool
    decisions: list[Decision]
    # The messages claimed but left for a later batch: their authors have an earlier
    # message another worker holds (batch_claim.in_order).
    held: list[int]
    # How many of the decisions the rules made (not a processing guard's): batch_retry
    # tells a failure of one message from rules or a scorer failing every message by it.
    ruled: int = 0


def claimable(rt: Runtime, now: datetime) -> list[ColumnElement[bool]]:
    """The messages a batch may claim now."""
    return [
        Message.processed.is_(False),
        Message.direction == Direction.INBOUND.value,
        ~_answers_an_undecided_post(),
        *_not_set_aside(rt, now),
    ]


def waiting(rt: Runtime, now: datetime) -> bool:
    """Whether a batch would claim a message now (one another worker holds counts)."""
    with rt.sessions() as session:
        query = select(Message.id).where(*claimable(rt, now)).limit(1)
        return session.scalar(query) is not None


def _not_set_aside(rt: Runtime, now: datetime) -> list[ColumnElement[bool]]:
    """Leave out the messages set aside (monitor.batch_retry) and, so a follow-up is never
    decided before the message it follows, their authors' other messages. A message
    whose time is up is tried again."""
    for message_id, until in list(rt.set_aside.items()):
        if until <= now:
            del rt.set_aside[message_id]
    if not rt.set_aside:
        return []
    aside = sorted(rt.set_aside)
    held = aliased(Message)
    authors = select(held.customer_id).where(held.id.in_(aside), held.customer_id.is_not(None))
    return [
        Message.id.not_in(aside),
        Message.customer_id.is_(None) | Message.customer_id.not_in(authors),
    ]


def _answers_an_undecided_post() -> ColumnElement[bool]:
    """A brand's post answering a post not decided yet (a lagging search brought the
    customer's post after the brand's answer to it; another worker holds it; the brand's
    own first post, itself waiting). It joins that post's case, so it waits for it
    outside the claim: claimed and left undecided, it would take a place in every batch,
    and in a batch of one the post it waits for would never be claimed. Answering a
    post of the same batch, it goes in the next one (the claim says there is more)."""
    answered = aliased(Message)
    return (Message.kind == MessageKind.OWN.value) & (
        select(answered.id)
        .where(
            answered.platform == Message.platform,
            answered.external_id == Message.in_reply_to,
            answered.processed.is_(False),
            answered.direction == Direction.INBOUND.value,
        )
        .exists()
    )


def claim(session: Session, rt: Runtime, now: datetime, limit: int) -> list[Message]:
    """Up to ``limit`` claimable messages in the order stored, their rows locked.

    On PostgreSQL their authors are locked in the same statement, and the messages of
    authors another worker holds skipped there (SKIP LOCKED on both tables), so the
    limit fills with free authors' messages. Claiming first and try-locking the authors
    after left a third to a half of every claim to a later batch with three workers,
    and each batch paid its fixed cost (its statements, its commit) for fewer messages.
    The messages behind another worker's must still wait: ``in_order``.
    """
    query = select(Message).where(*claimable(rt, now)).order_by(Message.id).limit(limit)
    if session.get_bind().dialect.name != "postgresql":
        return list(session.scalars(query))
    # The author's row is locked first (the order of OF): a held author's message is
    # then skipped unlocked. Locked first, it stayed locked to the end of the batch, and
    # the author's later messages waited behind it in every other worker's batch.
    authored = (
        query.join(Customer, Customer.id == Message.customer_id)
        .with_for_update(of=[Customer, Message], key_share=True, skip_locked=True)
        .cte("authored")
    )
    return list(session.scalars(_with_authorless(session, query, authored, limit)))


def _with_authorless(
    session: Session, query: Select[Message], authored: CTE, limit: int
) -> Select[Message]:
    """``authored`` and the claimable messages with no author, which its join leaves
    out (a row on the nullable side of an outer join cannot be locked): ingest stores
    none, but one would never be decided. Only those stored before the last of
    ``authored``, or anywhere when it is empty: looked for everywhere, each claim read
    every waiting message to find none. One stored after it is taken by a later claim
    (the bound moves on with the queue, and a claim finding no author looks everywhere);
    having no author, it follows up nothing that its order would matter to."""
    last = select(func.coalesce(func.max(authored.c.id), _NO_LAST)).scalar_subquery()
    authorless = query.where(Message.customer_id.is_(None), Message.id < last)
    # Each part in a subquery of its own: PostgreSQL refuses a locking clause in a UNION.
    authorless_part = select(skip_locked(session, authorless, key_share=True).subquery())
    both = aliased(Message, union_all(select(authored), authorless_part).subquery())
    return select(both).order_by(both.id).limit(limit)


# Past any message id (a BIGINT).
_NO_LAST = 2**63 - 1


def in_order(session: Session, messages: list[Message]) -> list[Message]:
    """``messages`` (claimed with ``claim``, their authors locked) but those of the
    authors with an earlier message another worker holds (``_behind_held_messages``).

    ``claim`` skips a held author's messages without locking them, but a worker handing
    a message over (processing._hand_over) locks it before trying its author, and keeps
    it locked to its commit when that author is busy.
    """
    if session.get_bind().dialect.name != "postgresql":
        return messages
    authors = {m.customer_id for m in messages if m.customer_id is not None}
    behind = _behind_held_messages(session, messages, authors)
    return [m for m in messages if m.customer_id is None or m.customer_id not in behind]


def answers_waiting(session: Session, decided: list[Message]) -> bool:
    """Whether a brand's post kept out of the claim waits on one of ``decided``: it can
    be decided now, in the next batch rather than the next run. Only undecided posts
    are read (the pending index)."""
    answered = {(m.platform, m.external_id) for m in decided}
    if not answered:
        return False
    query = select(Message.platform, Message.in_reply_to).where(
        Message.processed.is_(False),
        Message.direction == Direction.INBOUND.value,
        Message.kind == MessageKind.OWN.value,
        one_of(session, Message.in_reply_to, {external_id for _, external_id in answered}),
    )
    return any((platform, reply_to) in answered for platform, reply_to in session.execute(query))


def authors_free(session: Session, messages: list[Message]) -> list[Message]:
    """The messages whose authors no other worker is deciding on; their rows locked.

    Two workers deciding on one author at once would both read an empty cooldown and
    both reply. Waiting on the author's row made three workers barely faster than one
    (a busy brand's authors write in many threads, so most batches share some), and so
    did deciding again after a conflict. A worker leaves another's authors alone (SKIP
    LOCKED) and their messages to a later batch, still in order. SQLite has one worker.

    Threads are not locked: two workers deciding at the same moment on two customers in
    one thread can each count the thread's replies before the other's, and queue one
    reply past ``max_replies_per_thread`` each. A try-lock per thread closed that, but
    held back so much of every batch (a batch spans most busy threads) that three
    workers lost a fifth of their speed-up over one. The dispatcher keeps the cap
    instead (``thread_cap``): such a reply is withdrawn, never posted.
    """
    ids = sorted({m.customer_id for m in messages if m.customer_id is not None})
    if not ids or session.get_bind().dialect.name != "postgresql":
        return messages
    authors = select(Customer.id).where(one_of(session, Customer.id, ids)).order_by(Customer.id)
    free = set(session.scalars(skip_locked(session, authors, key_share=True)))
    return in_order(
        session, [m for m in messages if m.customer_id is None or m.customer_id in free]
    )


def _behind_held_messages(session: Session, messages: list[Message], authors: set[int]) -> set[int]:
    """The ``authors`` with an earlier message still undecided outside this batch.

    Our claim skipped it (SKIP LOCKED): another worker claimed it and left it, its
    author then busy elsewhere, and holds it until that worker's batch commits. The
    author is free now, but deciding their later messages first would answer a
    follow-up before the message it follows (and open the case on it).
    """
    if not authors:
        return set()
    mine = [m.id for m in messages]
    first: dict[int, int] = {}
    for message in messages:
        author = message.customer_id
        if author is not None and author in authors:
            first.setdefault(author, message.id)
    # A customer's messages only: the brand's own posts (their "author" the brand's
    # account) follow up nothing, and one waiting for the post it answers (outside the
    # claim, _answers_an_undecided_post) held back every later brand post, a batch of
    # them then deciding nothing and the messages behind waiting for the next run.
    query = select(Message.customer_id, Message.id).where(
        Message.processed.is_(False),
        from_customer(),
        one_of(session, Message.customer_id, sorted(first)),
        Message.id < max(first.values()),
        none_of(session, Message.id, mine),
    )
    return {
        author
        for author, held in session.execute(query)
        if author is not None and held < first[author]
    }
