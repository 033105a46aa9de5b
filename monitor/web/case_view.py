"""Everything the case page shows, read in one go."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from monitor import cases, casework, casework_listing, casework_replies
from monitor.domain import ActionStatus
from monitor.runtime import Runtime
from monitor.store.models import Case, Message
from monitor.store.web_models import SentimentFeedback
from monitor.web.shown_counts import customer_message_count, replies_marker
from monitor.web.users import User

THREAD_LIMIT = 500
# The deepest chain of parents a source stores as context (Reddit's context_depth).
MAX_PARENT_LEVELS = 8


def load_case(rt: Runtime, ref: str, user: User) -> dict[str, Any]:
    """casework_listing's detail plus the whole thread as the customer sees it (other people's
    posts and the parents included), the drafts, and the sentiment corrections. The
    customer's history holds only what ``user`` may see of other cases."""
    # Counted before anything shown is read (the outbox, the thread): a reply or message
    # landing in between is then shown but not counted, and the form refuses once more
    # than needed. Counted after, it was counted unseen, and the check let through the
    # very answer it is there to stop.
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        replies = replies_marker(session, case.id)  # sent back by the reply and spam forms
        written = customer_message_count(session, case.id)  # by reply, approve and resolve
    detail = casework_listing.case_detail(rt, ref, user)
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        thread = _thread(session, case)
        assignees = casework.assignees(session, case.team)
        # Shown instead of the reply box: the refusal came only on submit, after typing.
        reply_refused = casework_replies.reply_refusal(rt, session, case)
        # Corrections of this case's messages only: another customer's post in the thread
        # may be of a case the user may not open, and its correction names who made it.
        ids = [m.id for m in thread if m.case_id == case.id]
        feedback = {
            f.message_id: f
            for f in session.scalars(
                select(SentimentFeedback)
                .where(SentimentFeedback.message_id.in_(ids))
                .order_by(SentimentFeedback.id)
            )
        }
    drafts = [a for a in detail["actions"] if a.status == ActionStatus.DRAFT.value]
    decisions = [(m, m.decision) for m in detail["messages"] if m.decision]
    return {
        **detail,
        "ref": detail["case"].ref,
        "case_id": case.id,
        "sla_due_at": cases.deadline_owed(case),
        "thread": thread,
        "feedback": feedback,
        "drafts": drafts,
        "decisions": decisions,
        "platform": case.platform,
        "assignees": assignees,
        "closed_as_spam": cases.closed_as_spam(case),
        "replies": replies,
        "messages_shown": written,
        "reply_refused": reply_refused,
    }


def _thread(session: Any, case: Case) -> list[Message]:
    """The thread's first THREAD_LIMIT posts, and always the case's own posts and the
    posts they answer: in a busy thread (a brand post gone viral, a megathread) the
    first posts alone left a later customer's case showing none of their words."""
    in_thread = (Message.platform == case.platform) & (
        Message.conversation_id == case.conversation_id
    )
    found = {
        m.id: m
        for m in session.scalars(
            select(Message)
            .where(in_thread)
            .order_by(Message.created_at, Message.id)
            .limit(THREAD_LIMIT)
        )
    }
    mine = list(session.scalars(select(Message).where(Message.case_id == case.id)))
    found.update((m.id, m) for m in mine)
    parents = {m.in_reply_to for m in mine if m.in_reply_to}
    for _ in range(MAX_PARENT_LEVELS):
        known = {m.external_id for m in found.values()}
        wanted = sorted(parents - known)
        if not wanted:
            break
        fetched = list(
            session.scalars(select(Message).where(in_thread, Message.external_id.in_(wanted)))
        )
        found.update((m.id, m) for m in fetched)
        parents = {m.in_reply_to for m in fetched if m.in_reply_to}
    return sorted(found.values(), key=lambda m: (m.created_at, m.id))
