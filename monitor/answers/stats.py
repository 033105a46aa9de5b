"""How each knowledge-base entry does: how often it answered, and how often the
customer came back in the same thread within 24 h (a "did not resolve" signal)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from monitor.domain import ActionStatus, Direction
from monitor.store.models import ActionRow, Case, Event, Message

CAME_BACK_WINDOW = timedelta(hours=24)
_QUEUED = (ActionStatus.PENDING.value, ActionStatus.SENDING.value, ActionStatus.FAILED.value)
# What the stats count. Not ``suppressed`` (history a backfill imported: what the bot
# would have done, never sent) nor ``dead``: no column counts them, and an entry with
# only such answers was listed with nothing but zeros.
_COUNTED = (
    ActionStatus.SENT.value,
    *_QUEUED,
    ActionStatus.DRAFT.value,
    ActionStatus.REJECTED.value,
)


@dataclass(frozen=True, slots=True)
class EntryStats:
    entry: str
    sent: int = 0  # posted in a thread (by the bot, or approved by a person)
    queued: int = 0  # in the outbox, not sent yet
    drafts: int = 0  # proposed, waiting for a person
    rejected: int = 0  # proposed, turned down by a person
    came_back: int = 0  # sent, and the customer wrote again in the thread within 24 h

    @property
    def came_back_rate(self) -> float | None:
        return self.came_back / self.sent if self.sent else None


@dataclass(frozen=True, slots=True)
class _Sent:
    platform: str
    conversation_id: str
    customer_id: int
    at: datetime
    question_id: int | None  # the message answered: never counts as coming back


def entry_stats(session: Session, *, since: datetime | None = None) -> list[EntryStats]:
    """Per entry, most used first; entries never used are not listed."""
    counts, sent = _answers(session, since)
    returns = _came_back(session, [s for items in sent.values() for s in items], since)
    stats = [
        EntryStats(
            entry,
            sent=c["sent"],
            queued=c["queued"],
            drafts=c["drafts"],
            rejected=c["rejected"],
            came_back=sum(1 for s in sent[entry] if s in returns),
        )
        for entry, c in counts.items()
    ]
    return sorted(stats, key=lambda s: (-(s.sent + s.queued), s.entry))


def _answers(
    session: Session, since: datetime | None
) -> tuple[dict[str, dict[str, int]], dict[str, list[_Sent]]]:
    """Counts per entry and status bucket, and the sent answers of each entry."""
    query = (
        select(ActionRow.answer_id, ActionRow.status, ActionRow.platform,
               ActionRow.conversation_id, ActionRow.updated_at, Case.customer_id,
               ActionRow.message_id)
        .join(Case, Case.id == ActionRow.case_id)
        .where(ActionRow.answer_id.is_not(None), ActionRow.status.in_(_COUNTED),
               (ActionRow.status != ActionStatus.REJECTED.value) | _turned_down())
    )  # fmt: skip
    if since is not None:
        query = query.where(ActionRow.created_at >= since)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sent: dict[str, list[_Sent]] = defaultdict(list)
    for (
        answer_id,
        status,
        platform,
        conversation,
        updated_at,
        customer_id,
        question,
    ) in session.execute(query):
        entry = str(answer_id)  # not None: filtered in the query
        counts[entry][_bucket(status)] += 1
        if status == ActionStatus.SENT.value:
            sent[entry].append(_Sent(platform, conversation, customer_id, updated_at, question))
    return counts, sent


def _turned_down() -> ColumnElement[bool]:
    """A person rejected the draft. Replies withdrawn unsent (the case marked as spam,
    the thread's cap) are ``rejected`` too, but nobody judged the entry's text; nor did
    a person whose reply started from the draft's own entry (``entry_used``)."""
    return exists().where(
        Event.case_id == ActionRow.case_id,
        Event.kind == "rejected",
        Event.detail["action"].as_integer() == ActionRow.id,
        Event.detail["entry_used"].as_boolean().is_not(True),
    )


def _bucket(status: str) -> str:
    if status == ActionStatus.SENT.value:
        return "sent"
    if status in _QUEUED:
        return "queued"
    return "drafts" if status == ActionStatus.DRAFT.value else "rejected"


def _came_back(session: Session, answers: list[_Sent], since: datetime | None) -> set[_Sent]:
    """The sent answers after which the same customer wrote in the same thread within
    CAME_BACK_WINDOW. One query for all the threads involved: the threads are joined in
    the database, not listed: a list of every answered thread outgrew the 65,535 values
    PostgreSQL binds in one statement."""
    if not answers:
        return set()
    answered = select(ActionRow.platform, ActionRow.conversation_id).where(
        ActionRow.answer_id.is_not(None), ActionRow.status == ActionStatus.SENT.value
    )
    if since is not None:
        answered = answered.where(ActionRow.created_at >= since)
    threads = answered.distinct().subquery()
    query = (
        select(Message.platform, Message.conversation_id, Message.customer_id,
               Message.created_at, Message.id)
        .join(threads, (threads.c.platform == Message.platform)
              & (threads.c.conversation_id == Message.conversation_id))
        .where(Message.direction == Direction.INBOUND.value)
    )  # fmt: skip
    later: dict[tuple[str, str, int | None], list[tuple[datetime, int]]] = defaultdict(list)
    for platform, conversation, customer_id, created_at, message_id in session.execute(query):
        later[(platform, conversation, customer_id)].append((created_at, message_id))
    return {
        a
        for a in answers
        if any(
            a.at < at <= a.at + CAME_BACK_WINDOW and message_id != a.question_id
            for at, message_id in later[(a.platform, a.conversation_id, a.customer_id)]
        )
    }
