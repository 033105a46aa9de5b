"""Rows written in batches: one INSERT per table per flush, not one per row.

A processing batch of 200 mentions leaves ~400 audit events and ~50 outbox rows. As ORM
objects each one was its own INSERT ... RETURNING on SQLite (SQLAlchemy cannot match
batched RETURNING rows to objects there, so it falls back to one statement per row),
which cost more than scoring the mentions. Nothing needs these rows' ids in the
transaction that adds them, so they are kept as plain rows on the session and written
with one executemany per table when the session flushes, commits or runs any ORM
statement (so a query in the same transaction sees them); a rollback drops them with
the rest of the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from monitor.store.models import Base, Event
from monitor.store.queries import insert_ignoring_duplicates

_PENDING = "inchannel.pending_rows"
# (model, ignore duplicates, the row's keys) -> rows. One executemany takes its columns
# from the first row and would silently drop keys only later rows have.
Pending = dict[tuple[type[Base], bool, tuple[str, ...]], list[dict[str, Any]]]


def add_row(
    session: Session, model: type[Base], row: dict[str, Any], *, ignore_duplicates: bool = False
) -> None:
    """Insert ``row`` into ``model``'s table with the session's next write.

    ``ignore_duplicates``: a row whose unique key exists is skipped (ON CONFLICT DO
    NOTHING), as for idempotency keys; otherwise a duplicate fails the transaction.
    """
    pending: Pending = session.info.setdefault(_PENDING, {})
    pending.setdefault((model, ignore_duplicates, tuple(row)), []).append(row)


def add_event(
    session: Session,
    *,
    case_id: int | None,
    kind: str,
    actor: str,
    detail: dict[str, Any],
    at: datetime,
) -> None:
    row = {"case_id": case_id, "kind": kind, "actor": actor, "detail": detail, "at": at}
    add_row(session, Event, row)


def write_pending(session: Session) -> None:
    """Write the rows added so far. Call it before ``session.begin_nested()``: a flush
    with no changed objects does not write them, and a savepoint rollback drops them."""
    pending: Pending | None = session.info.pop(_PENDING, None)
    for (model, ignore_duplicates, _keys), rows in (pending or {}).items():
        if ignore_duplicates:
            insert_ignoring_duplicates(session, model, rows)
        else:
            session.connection().execute(insert(model), rows)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    write_pending(session)


def _before_commit(session: Session) -> None:
    write_pending(session)


def _before_statement(state: ORMExecuteState) -> None:
    # A query or UPDATE in the same transaction sees the rows added before it.
    if state.session.info.get(_PENDING):
        write_pending(state.session)


def _after_rollback(session: Session) -> None:
    # Also fires for a SAVEPOINT rollback, dropping rows added before it. Nothing in
    # inchannel uses begin_nested(); code that does must call write_pending() first.
    session.info.pop(_PENDING, None)


# On the Session class, so every session (the daemon's, the dashboard's, a test's)
# writes what it added.
event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "before_commit", _before_commit)
event.listen(Session, "do_orm_execute", _before_statement)
event.listen(Session, "after_rollback", _after_rollback)
