"""The audit trail is written in batches: one INSERT per transaction, not per event.

A processing batch of 200 mentions leaves ~400 events. As ORM objects each one was its
own INSERT ... RETURNING on SQLite (it cannot match batched RETURNING rows to objects),
which cost more than scoring the mentions. Nothing reads an event back in the
transaction that wrote it, so events are kept as plain rows on the session and written
with one executemany when the session flushes or commits; a rollback drops them with
the rest of the transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from monitor.store.models import Event

_PENDING = "inchannel.pending_events"


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
    session.info.setdefault(_PENDING, []).append(row)


def write_pending_events(session: Session) -> None:
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.connection().execute(insert(Event), rows)


def _after_flush(session: Session, _context: UOWTransaction) -> None:
    write_pending_events(session)


def _before_commit(session: Session) -> None:
    write_pending_events(session)


def _before_select(state: ORMExecuteState) -> None:
    # A query in the same transaction sees the events recorded before it.
    if state.is_select and state.session.info.get(_PENDING):
        write_pending_events(state.session)


def _after_rollback(session: Session) -> None:
    # Also fires for a SAVEPOINT rollback, dropping events recorded before it. Nothing
    # in inchannel uses begin_nested(); code that does should flush() before it.
    session.info.pop(_PENDING, None)


# On the Session class, so every session (the daemon's, the dashboard's, a test's)
# writes what it recorded.
event.listen(Session, "after_flush", _after_flush)
event.listen(Session, "before_commit", _before_commit)
event.listen(Session, "do_orm_execute", _before_select)
event.listen(Session, "after_rollback", _after_rollback)
