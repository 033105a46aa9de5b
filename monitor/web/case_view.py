"""Everything the case page shows, read in one go."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from monitor import casework
from monitor.domain import ActionStatus
from monitor.runtime import Runtime
from monitor.store.models import Case, Message
from monitor.store.web_models import SentimentFeedback
from monitor.web.users import User

THREAD_LIMIT = 500


def load_case(rt: Runtime, ref: str, user: User) -> dict[str, Any]:
    """casework's detail plus the whole thread as the customer sees it (other people's
    posts and the parents included), the drafts, and the sentiment corrections. The
    customer's history holds only what ``user`` may see of other cases."""
    detail = casework.case_detail(rt, ref, user)
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        thread = _thread(session, case)
        assignees = casework.assignees(session, case.team)
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
        "sla_due_at": case.sla_due_at,
        "thread": thread,
        "feedback": feedback,
        "drafts": drafts,
        "decisions": decisions,
        "platform": case.platform,
        "assignees": assignees,
    }


def _thread(session: Any, case: Case) -> list[Message]:
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.platform == case.platform,
                Message.conversation_id == case.conversation_id,
            )
            .order_by(Message.created_at, Message.id)
            .limit(THREAD_LIMIT)
        )
    )
