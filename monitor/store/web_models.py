"""Tables of the dashboard: people, their sessions, and the sentiment corrections they make.

They share ``Base`` with the daemon's tables so that one Alembic history covers both
(migration 0002).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.models import ActionRow, Base, BigId, Case, Message, UTCDateTime


class WebUser(Base):
    __tablename__ = "web_users"
    __table_args__ = (UniqueConstraint("name"), UniqueConstraint("api_token_hash"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))  # agent | lead | admin
    teams: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(256))
    # SHA-256 of the API token: a token is random and long, so a slow hash buys nothing.
    api_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Unused since 0010 (web_sign_in_failures counts per client address); kept so that
    # a downgrade to older code finds them.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WebSignInFailure(Base):
    """One wrong password (or an unknown name: ``user_id`` NULL) from a client address,
    kept for the lockout window. Counted per (account, address), per address and per
    account, so a stranger's guesses lock only the stranger's address out of an account."""

    __tablename__ = "web_sign_in_failures"
    __table_args__ = (
        Index("ix_web_sign_in_failures_user", "user_id", "at"),
        Index("ix_web_sign_in_failures_address", "address", "at"),
        Index("ix_web_sign_in_failures_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("web_users.id", ondelete="CASCADE"), nullable=True
    )
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored, so
    a copy of the database cannot be replayed as a login."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SentimentFeedback(Base):
    """A person's correction of a message's sentiment label, for tuning the lexicon overlay."""

    __tablename__ = "sentiment_feedback"
    __table_args__ = (Index("ix_sentiment_feedback_message", "message_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    scored_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Float as migration 0002 made it: SQLAlchemy 2.1 maps a bare ``float`` to Double,
    # which autogenerate then reports as a change to write on SQLite.
    scored_compound: Mapped[float | None] = mapped_column(Float, nullable=True)
    corrected_label: Mapped[str] = mapped_column(String(16))
    # The text as scored, so the feedback survives even if the message is later purged.
    text: Mapped[str] = mapped_column(Text)
    user: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


# Indexes the dashboard needs on the daemon's tables (measured in bench/web.py).
# The outbox of one case (case page) and the first reply per case (reports).
Index("ix_actions_case", ActionRow.case_id, ActionRow.id)
# Reports window over cases and over inbound volume.
Index("ix_cases_opened", Case.opened_at)
Index("ix_messages_created", Message.created_at)
# Queue filtered by team: the SLA order without sorting the whole team, and the per-state
# counts from the index alone (175 ms -> a few ms at 100,000 cases on SQLite).
Index("ix_cases_team_sla", Case.team, Case.sla_due_at)
Index("ix_cases_team_state", Case.team, Case.state)
