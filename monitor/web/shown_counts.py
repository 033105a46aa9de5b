"""The counts a case page shows and its forms send back: the case's replies (``replies``,
a place in replies_queued) and its customer's messages (``messages``). The checks in
monitor.web.since_shown compare them with the case as it is now."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from monitor import casework_drafts
from monitor.domain import ActionKind, ActionStatus
from monitor.store.models import ActionRow, Event, Message, from_customer

# A reply that will be, or was, posted: not a draft, not turned down, not a backfill's
# record of what the bot would have done.
ANSWERS = tuple(
    s.value
    for s in (
        ActionStatus.PENDING,
        ActionStatus.SENDING,
        ActionStatus.SENT,
        ActionStatus.FAILED,
        ActionStatus.DEAD,
    )
)


def _answers(case_id: int) -> Select[ActionRow]:
    return (
        select(ActionRow)
        .where(ActionRow.case_id == case_id, ActionRow.kind == ActionKind.REPLY.value)
        .where(ActionRow.status.in_(ANSWERS))
        .order_by(ActionRow.id)
    )


def answers_of(session: Session, case_id: int) -> list[ActionRow]:
    """The case's replies to its customer, oldest first."""
    return list(session.scalars(_answers(case_id)))


def answer_count(session: Session, case_id: int) -> int:
    """How many replies the case has (queued, sent, failed or dead)."""
    return _count(session, _answers(case_id))


def replies_queued(session: Session, case_id: int) -> list[ActionRow]:
    """The case's replies in the order they were queued: each reply action where it was
    written, whatever its status now, and a draft once more where it was approved (it
    became an answer then). The list only ever grows at its end, so its length is a
    place that stays put: the case page's forms send it back as ``replies``. (A count of
    the live replies did not: one withdrawn by the spam mark or the thread cap left the
    count, and a colleague's answer after it brought the count back to what the page
    showed, so the check let a second answer through.) An action may appear twice."""
    actions = list(session.scalars(casework_drafts.reply_actions(case_id)))
    approvals = session.scalars(
        select(Event).where(Event.case_id == case_id, Event.kind == "approved").order_by(Event.id)
    )
    place = {a.id: n for n, a in enumerate(actions, start=1)}
    # after[k]: the drafts approved when the case had k reply actions.
    after: dict[int, list[ActionRow]] = {}
    for approval in approvals:
        detail = approval.detail or {}
        action = detail.get("action")
        if action not in place:
            continue
        # An approval recorded before replies_before was: right after its draft. The
        # place is fixed either way, which is all the marker needs.
        before = detail.get("replies_before")
        k = before if isinstance(before, int) and not isinstance(before, bool) else place[action]
        after.setdefault(min(max(k, place[action]), len(actions)), []).append(
            actions[place[action] - 1]
        )
    queued: list[ActionRow] = []
    for k, action in enumerate(actions):
        queued.extend(after.get(k, ()))
        queued.append(action)
    queued.extend(after.get(len(actions), ()))
    return queued


def replies_marker(session: Session, case_id: int) -> int:
    """The case page's ``replies``: its place in replies_queued."""
    return len(replies_queued(session, case_id))


def _count(session: Session, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int(session.scalar(counted) or 0)


def customer_messages(case_id: int) -> Select[Message]:
    return (
        select(Message)
        .where(Message.case_id == case_id, from_customer())
        .order_by(Message.created_at, Message.id)
    )


def customer_message_count(session: Session, case_id: int) -> int:
    """How many of the customer's messages the case has: the case page's reply, approve
    and resolve forms send it back as ``messages``."""
    return _count(session, customer_messages(case_id))
