"""Customer posts the brand has answered natively: a person replying on X or Reddit
itself, as the brand's account, and the post coming back to us as inbound of kind "own".

A bot reply to such a post is stale: the customer has their answer, and the bot's
apology or promise arrives after it. Processing gives such a message no reply of its
own and dispatch withdraws a reply still waiting for one (docs/rules.md, Guards).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import thread_cap
from monitor.domain import CaseState, Direction, MessageKind
from monitor.store.models import ActionRow, Message, may_be_owed
from monitor.store.queries import one_of

# (platform, conversation id, external id) of a customer's post.
Post = tuple[str, str, str]
K = TypeVar("K", bound=Hashable)


def answered_natively(session: Session, posts: Iterable[Post]) -> set[tuple[str, str]]:
    """(platform, external id) of those of ``posts`` a brand's own post answers, stored
    (decided or not: one answering a post not decided yet waits outside the claim). One
    query for them all, over the threads' index."""
    wanted = {(platform, external_id) for platform, _, external_id in posts}
    if not wanted:
        return set()
    threads = {(platform, conversation) for platform, conversation, _ in posts}
    query = select(Message.platform, Message.conversation_id, Message.in_reply_to).where(
        one_of(session, Message.platform, {platform for platform, _ in threads}),
        one_of(session, Message.conversation_id, {conversation for _, conversation in threads}),
        Message.direction == Direction.INBOUND.value,
        Message.kind == MessageKind.OWN.value,
        one_of(session, Message.in_reply_to, {external_id for _, external_id in wanted}),
    )
    return {
        (platform, reply_to)
        for platform, conversation, reply_to in session.execute(query)
        if reply_to is not None
        and (platform, conversation) in threads
        and (platform, reply_to) in wanted
    }


WITHDRAWN = "the brand answered the post on the platform before the bot's reply went out"


def withdraw_answered(session: Session, rows: Sequence[ActionRow], *, now: datetime) -> set[int]:
    """Withdraw the claimed bot replies whose post the brand has answered natively since
    they were queued (the brand's post stored after the customer's was decided, or before
    the next batch took it); their ids. Replies whose earlier attempt may have been
    posted are looked for, not judged (``thread_cap.judged``), as are a person's."""
    replies = [row for row in rows if thread_cap.judged(row)]
    posts = [(row.platform, row.conversation_id, row.target_external_id) for row in replies]
    answered = answered_natively(session, posts)
    stale = [row for row in replies if (row.platform, row.target_external_id) in answered]
    owed = _written_since(session, stale)
    for row in stale:
        row.attempts -= 1  # the claim counted an attempt that is not made
        thread_cap.withdraw_reply(session, row, reason=WITHDRAWN, actor="bot", now=now)
        if row.id in owed:
            thread_cap.unanswered(session, row, now)  # a later message is still owed
        else:
            _waits_on_customer(session, row, now)
    return {row.id for row in stale}


def _written_since(session: Session, rows: Sequence[ActionRow]) -> set[int]:
    """The ids of those of the withdrawn replies ``rows`` whose customer wrote in the
    case after the post the reply answered: the brand's answer to the earlier post
    leaves that one owed."""
    if not rows:
        return set()
    posts = select(Message.id, Message.created_at)
    written = dict(session.execute(posts.where(Message.id.in_({r.message_id for r in rows}))).all())
    answered = {
        row.id: (row.case_id, written[row.message_id])
        for row in rows
        if row.case_id is not None and row.message_id in written
    }
    return written_after(session, answered)


def written_after(session: Session, answered: Mapping[K, tuple[int, datetime]]) -> set[K]:
    """Those of ``answered`` (each: a case, and when the customer's post the brand
    answered was written) whose customer wrote in the case after that post, a message
    the rules did not ignore (``may_be_owed``): the later message is still owed its
    answer. Dispatch withdrawing replies and processing linking the brand's posts
    judge it so; one query for them all."""
    return set(first_written_after(session, answered))


def first_written_after(
    session: Session, answered: Mapping[K, tuple[int, datetime]]
) -> dict[K, datetime]:
    """``written_after``, each with when the first of those later messages was written:
    the answer owed to it is owed since then. One query; it reads only the messages
    written after the earliest post answered, a few in a live thread."""
    case_ids = {case_id for case_id, _ in answered.values()}
    if not case_ids:
        return {}
    since = min(at for _, at in answered.values())
    query = select(Message.case_id, Message.created_at).where(
        Message.case_id.in_(case_ids), may_be_owed(), Message.created_at > since
    )
    written: dict[int | None, list[datetime]] = defaultdict(list)
    for case_id, at in session.execute(query):
        written[case_id].append(at)
    first = {
        key: min((later for later in written[case_id] if later > at), default=None)
        for key, (case_id, at) in answered.items()
    }
    return {key: at for key, at in first.items() if at is not None}


def _waits_on_customer(session: Session, row: ActionRow, now: datetime) -> None:
    """The case the withdrawn reply had made auto_replied waits on the customer: the
    brand answered them, as a person's reply from the dashboard leaves it once posted.
    Left `new`, it sat in the queue as if nobody had. A case a rule escalated (or a
    person took up) meanwhile keeps its state (thread_cap.from_auto_replied)."""
    reason = "the brand answered on the platform"
    thread_cap.from_auto_replied(session, row, CaseState.WAITING_CUSTOMER, now, reason=reason)
