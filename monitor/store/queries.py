"""Queries that differ between SQLite and PostgreSQL, kept in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.domain import ActionStatus
from monitor.store.models import ActionRow, Base

# Any SELECT, whatever its row type.
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = list(inspect(model).primary_key)
    # RETURNING counts reliably on both engines; rowcount of a multi-row insert does not.
    statement = insert(model).values(list(rows)).on_conflict_do_nothing().returning(*key)
    return len(session.execute(statement).all())


def skip_locked(session: Session, query: SelectT) -> SelectT:
    """On PostgreSQL let concurrent workers claim disjoint rows; SQLite has one writer."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def claim_due_actions(
    session: Session, *, now: datetime, limit: int, stale_before: datetime
) -> list[tuple[int, bool]]:
    """Atomically mark due actions as ``sending``; return (id, outcome_unknown) pairs.

    An action already in ``sending`` whose claim is older than ``stale_before`` belongs to
    a worker that died mid-send: its outcome is unknown and must be checked, not re-sent.
    """
    due = (
        (ActionRow.status.in_([ActionStatus.PENDING, ActionStatus.FAILED]))
        & (ActionRow.next_attempt_at <= now)
    ) | ((ActionRow.status == ActionStatus.SENDING) & (ActionRow.updated_at < stale_before))
    query = select(ActionRow.id, ActionRow.status)
    query = query.where(due).order_by(ActionRow.next_attempt_at).limit(limit)
    candidates = session.execute(skip_locked(session, query)).all()
    claimed: list[tuple[int, bool]] = []
    for action_id, status in candidates:
        # The conditional update is the claim on SQLite: if another process got there
        # first, the row no longer matches and rowcount is 0.
        result = session.execute(
            update(ActionRow)
            .where(ActionRow.id == action_id, ActionRow.status == status, due)
            .values(status=ActionStatus.SENDING, updated_at=now, attempts=ActionRow.attempts + 1)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append((action_id, status == ActionStatus.SENDING))
    return claimed


def insert_new_ids(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING; the ids of the rows that were new (``model``
    has a single integer primary key ``id``)."""
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(list(rows)).on_conflict_do_nothing().returning(model.id)  # type: ignore[attr-defined]
    return [int(row[0]) for row in session.execute(statement)]
