"""SQLAlchemy 2.0 tables. Alembic migrations under migrations/ create them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from monitor.domain import Direction, MessageKind, ascii_digits, utc

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT ids on PostgreSQL; SQLite only auto-increments an "INTEGER PRIMARY KEY".
BigId = BigInteger().with_variant(Integer(), "sqlite")
# The largest id either database stores: a larger number names no row, and would fail
# as a query parameter (PostgreSQL: bigint out of range; SQLite: OverflowError).
MAX_ID = 2**63 - 1


def stored_id(raw: str) -> int | None:
    """The row id a form or query value names, or None if it names none: ASCII digits
    only (20 at most: past 4,300 int() refuses the text outright), within MAX_ID."""
    if not ascii_digits(raw) or len(raw) > 20:
        return None
    value = int(raw)
    return value if value <= MAX_ID else None


# Who did it, on an event or an outbox action: a person, a rule, or rules.
ACTOR_CHARS = 128


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are stored in UTC and always come back timezone-aware.

    SQLite keeps no time zone, so without this a value would come back naive and
    comparisons with an aware clock would raise.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)


class ErrorText(TypeDecorator[str]):
    """An error's message, as a platform or a library wrote it (it quotes their answer).

    PostgreSQL refuses a NUL in any text and neither driver encodes an unpaired
    surrogate (JSON's "\\ud800"): a failure quoting such an answer could not be
    recorded, so a failing source was never backed off and a refused reply stayed
    claimed. NULs are dropped and unpaired surrogates replaced, as for mention text.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Customer(Base):
    """One platform account; history accumulates here across cases."""

    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("platform", "platform_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    handle: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    followers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the account was created, where the platform says (X does): rules on
    # author.account_age read it. None: unknown, and such a rule never matches.
    account_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # For the per-author cooldown across all of this customer's threads.
    last_bot_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Accounts a human linked as one person (X + Reddit) share a person id.
    person_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ux_cases_thread", "platform", "conversation_id", "customer_id", unique=True),
        Index("ix_cases_state", "state", "priority"),
        Index("ix_cases_sla", "sla_due_at"),
        Index("ix_cases_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    conversation_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    state: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    team: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    first_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    latest_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    latest_compound: Mapped[float | None] = mapped_column(Float, nullable=True)
    bot_replies: Mapped[int] = mapped_column(Integer, default=0)
    last_bot_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The response clock of the team the case is escalated to: the deadline of the answer
    # the brand owes now (the first one, or the next one after a customer's follow-up),
    # and whether check_sla warned about it and alerted at its breach.
    sla_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sla_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When check_sla warns of sla_due_at, for a deadline too short for the team's warning
    # (a rule's sla_minutes): at half of it (Team.warning_for), counted on the team's
    # calendar when the clock starts, so the SQL filter compares it with now alone. Equal
    # to sla_due_at: no warning. NULL: the team's own warning, as for every other case.
    sla_warn_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The customer's first message since the brand's last reply, while it is unanswered:
    # the next response's clock counts from it, as the first response's from opened_at.
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The first response's deadline, kept for reports once sla_due_at moves on to a
    # follow-up's (set with first_response_at).
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The first-response deadline the brand had missed when the customer reopened the
    # case unanswered, or when it was handed to another team unanswered: either starts a
    # new clock, and without this the reports forgot the breach the team did make.
    missed_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @property
    def ref(self) -> str:
        return case_ref(self.id)


def case_ref(case_id: int) -> str:
    """Human-friendly reference: ids start at 1, references at C-1001."""
    return f"C-{1000 + case_id}"


class Message(Base):
    """Every post we ingested or made. UNIQUE(platform, external_id): never twice."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("platform", "external_id"),
        Index("ix_messages_pending", "processed", "id"),
        Index("ix_messages_case", "case_id", "created_at"),
        Index("ix_messages_conversation", "platform", "conversation_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(64), nullable=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    author_handle: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(512), nullable=True)
    conversation_id: Mapped[str] = mapped_column(String(64))
    in_reply_to: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lang: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reply_allowed: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # A mention stored first as thread context: when that copy was stored, and so shown
    # on its case's page (``ingested_at`` is when it became a mention). NULL otherwise.
    context_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    compound: Mapped[float | None] = mapped_column(Float, nullable=True)
    score_reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


def from_customer() -> ColumnElement[bool]:
    """A customer's message: inbound, and not the brand's own post, which a search or a
    thread brings in as inbound of kind "own" (another agent answering natively)."""
    return (Message.direction == Direction.INBOUND.value) & (Message.kind != MessageKind.OWN.value)


def may_be_owed() -> ColumnElement[bool]:
    """A customer's message that can be owed an answer, as case_transitions.owes_answer
    judged it when decided: not one the rules ignored (its decision says so), which
    counted as the customer writing again and kept a case owed, on a clock that breached.
    One not decided yet (no decision) counts: the callers that must not, say so."""
    ignored = func.coalesce(Message.decision["ignored"].as_boolean(), False)
    return from_customer() & ~ignored


class ActionRow(Base):
    """The outbox. A row exists before anything is sent (DESIGN rule 2)."""

    __tablename__ = "actions"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_actions_due", "status", "next_attempt_at"),
        Index("ix_actions_answer", "answer_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # None for operations alerts, which belong to no case.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(16))
    target_external_id: Mapped[str] = mapped_column(String(64))
    conversation_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    rule: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # Who queued it: a rule name, a user, or "system" (SLA, dead actions).
    actor: Mapped[str | None] = mapped_column(String(ACTOR_CHARS), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(64), nullable=True)  # notify actions
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(ErrorText, nullable=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    result_external_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The knowledge-base entry the reply's text came from (answers stats count them).
    answer_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Whether an attempt may have posted (a timeout, a dead worker's claim): the next one
    # looks in the thread first. False while every failure was a sure refusal (a rate
    # limit); NULL before the first failure, and on rows older than migration 0008.
    may_have_posted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)

    @property
    def markdown(self) -> bool:
        """Whether the text is the brand's markdown, posted to Reddit as written: a
        rule's or an answer's text, even edited at approval; a person's own reply has
        neither (one started from an answer keeps its answer id)."""
        return self.rule is not None or self.answer_id is not None


class Event(Base):
    """The audit trail: every state change, who made it, and when."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(ACTOR_CHARS))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class SourceState(Base):
    __tablename__ = "source_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(ErrorText, nullable=True)
    rate_limit_reset_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    items_total: Mapped[int] = mapped_column(BigInteger, default=0)
    # One worker polls a source at a time: whoever holds an unexpired lease.
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Adapter-specific state shown in status: rate-limit remaining, gaps, disabled parts.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Usage(Base):
    """Counters per UTC day, e.g. X API reads and writes against the budget."""

    __tablename__ = "usage"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    count: Mapped[int] = mapped_column(BigInteger, default=0)


# --- dashboard (issue 9): users, sessions, sentiment feedback and the queue's indexes ---
# Imported last so Alembic's metadata sees them; web_models needs Base from above.
from monitor.store import web_models  # noqa: E402, F401
