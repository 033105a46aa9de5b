"""Queries that differ between SQLite and PostgreSQL, kept in one place."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    all_,
    and_,
    any_,
    bindparam,
    func,
    inspect,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import (
    QueryableAttribute,
    Session,
    configure_mappers,
    make_transient_to_detached,
)
from sqlalchemy.sql.dml import ReturningInsert

from monitor.domain import ActionStatus
from monitor.store.models import ActionRow, Base, Event, SourceState, UTCDateTime

# Any SELECT, whatever its row type.
SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])
ModelT = TypeVar("ModelT", bound=Base)
ValueT = TypeVar("ValueT")
# A mapped attribute (Message.id) or a column expression.
Column = ColumnElement[ValueT] | QueryableAttribute[ValueT]


def one_of(
    session: Session, column: Column[ValueT], values: Iterable[ValueT]
) -> ColumnElement[bool]:
    """``column IN values``, for a list of any length (a batch's ids, authors, threads).

    On PostgreSQL ``column = ANY(:values)``: one array parameter, so the statement's
    text is the same however many values. An IN list is one parameter a value: past
    50 of them psycopg converts the statement's placeholders again on every execution
    (it caches only short statements), which cost a tenth of a worker's CPU, and
    PostgreSQL parses a new statement for every length. SQLite keeps the IN list.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(values), postgresql.ARRAY(column.type)))
    return column.in_(list(values))


def none_of(
    session: Session, column: Column[ValueT], values: Iterable[ValueT]
) -> ColumnElement[bool]:
    """``column NOT IN values``; on PostgreSQL ``column != ALL(:values)`` (see one_of)."""
    if session.get_bind().dialect.name == "postgresql":
        return column != all_(literal(list(values), postgresql.ARRAY(column.type)))
    return column.not_in(list(values))


def insert_ignoring_duplicates(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows were new."""
    key = [column.name for column in cast(Table, model.__table__).primary_key]
    return len(_insert_new(session, model, rows, key))


def source_state(session: Session, name: str) -> SourceState:
    """The state row ``name`` (a source, or ``@rules``/``@alerts``), created if missing.

    Workers starting together all find it missing: a plain INSERT from each would fail
    all but one with a unique violation, where ON CONFLICT DO NOTHING lets them all on.
    """
    state = session.get(SourceState, name)
    if state is not None:
        return state  # the usual case, and a read: on SQLite an INSERT takes the write lock
    insert_state_row(session, name)
    state = session.get(SourceState, name)
    assert state is not None  # inserted above, or by the worker whose insert won
    return state


def locked_source_state(session: Session, name: str) -> SourceState:
    """The state row ``name``, created if missing, locked until the transaction ends,
    for a read-modify-write of its details. The INSERT comes first: on SQLite it takes
    the write lock, so the read below cannot go stale; on PostgreSQL FOR UPDATE waits
    for a worker writing the row and then reads what it committed."""
    insert_state_row(session, name)
    state = session.get(SourceState, name, with_for_update=True)
    assert state is not None  # inserted above, or there already
    return state


def insert_state_row(session: Session, name: str) -> None:
    """Create the state row ``name`` unless it exists (ON CONFLICT DO NOTHING)."""
    row = {"name": name, "consecutive_failures": 0, "items_total": 0, "details": {}}
    insert_ignoring_duplicates(session, SourceState, [row])


def insert_returning_keys(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], key: Sequence[str]
) -> set[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT DO NOTHING; return the ``key`` values of the rows inserted.

    A natural key, not the id: batched RETURNING rows need not come back in parameter
    order, and the caller wants to know which rows were new, not which id went where.
    """
    return set(_insert_new(session, model, rows, key))


def insert_returning_objects(
    session: Session, model: type[ModelT], rows: Sequence[dict[str, Any]]
) -> list[ModelT]:
    """INSERT ... ON CONFLICT DO NOTHING; the rows that were new, as detached objects
    (``store.bulk``) built from what the INSERT returned (every column, defaults
    included), as if loaded and then detached: their changes wait for
    ``bulk.write_changes``.

    Reading them back after the insert cost a SELECT, and the IN lists that find rows
    by a natural key match more rows than were inserted. Built from Core rows: the ORM's
    INSERT ... RETURNING of the objects cost twice as much for a batch's new cases. In no
    given order.
    """
    if not rows:
        return []
    configure_mappers()  # as the first ORM query would: the objects are built by hand
    mapper = inspect(model)
    table = cast(Table, model.__table__)
    # The attribute of each returned column (they may be named apart).
    keys = [mapper.get_property_by_column(column).key for column in table.c]
    out: list[ModelT] = []
    for returned in _insert_new(session, model, rows, [column.name for column in table.c]):
        obj = cast(ModelT, mapper.class_manager.new_instance())
        obj.__dict__.update(zip(keys, returned, strict=True))
        make_transient_to_detached(obj)  # unchanged, with its identity: as if loaded
        out.append(obj)
    return out


def insert_new_ids(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]]
) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING; the ids of the rows that were new (``model``
    has a single integer primary key ``id``)."""
    return [int(new_id) for (new_id,) in _insert_new(session, model, rows, ["id"])]


def _insert_new(
    session: Session, model: type[Base], rows: Sequence[dict[str, Any]], columns: Sequence[str]
) -> list[tuple[Any, ...]]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING ``columns`` of the rows that were new.

    One statement with the rows as parameters, not the rows inlined as VALUES: the
    statement is compiled once and cached, and SQLAlchemy batches the parameters
    ("insertmanyvalues"). Inlining recompiled the whole INSERT for every page, which
    cost more than the insert itself. RETURNING counts reliably on both engines;
    rowcount of a batched insert does not. On PostgreSQL the rows go as one array a
    column instead (_unnest_insert).

    One statement per set of columns the rows name: an executemany takes its columns
    from its first row, and a column only later rows name would be dropped.
    """
    table = cast(Table, model.__table__)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    postgres = session.get_bind().dialect.name == "postgresql"
    out: list[tuple[Any, ...]] = []
    for names, group in groups.items():
        if postgres:
            statement = _unnest_insert(table, names, tuple(columns))
            params: Any = {name: [row[name] for row in group] for name in names}
        else:
            returned = [table.c[name] for name in columns]
            statement = sqlite.insert(table).on_conflict_do_nothing().returning(*returned)
            params = group
        out.extend(tuple(row) for row in session.connection().execute(statement, params))
    return out


@functools.cache
def _unnest_insert(
    table: Table, names: tuple[str, ...], returned: tuple[str, ...]
) -> ReturningInsert[*tuple[Any, ...]]:
    """INSERT INTO table (names) SELECT * FROM unnest(:name::type[], ...) ON CONFLICT
    DO NOTHING RETURNING ``returned``: one array parameter a column, however many rows.

    SQLAlchemy's "insertmanyvalues" sent VALUES (...), (...) with a parameter a value;
    psycopg converts the placeholders of a statement of over 50 parameters anew on
    every execution (it caches only short statements), about a second of a worker's
    CPU per 10,000 mentions. The arrays' bind processing still runs on each element
    (UTCDateTime, JSON; ``dimensions=1`` keeps a JSON list one element), and
    from_select fills in the Python-side defaults (Case.tags, Message.processed, ...)
    of the columns the rows do not name, as an executemany would.
    """
    arrays = [
        bindparam(name, type_=postgresql.ARRAY(table.c[name].type, dimensions=1)) for name in names
    ]
    source = func.unnest(*arrays).table_valued(*names).render_derived()
    statement = postgresql.insert(table).from_select(list(names), select(*source.c))
    return statement.on_conflict_do_nothing().returning(*(table.c[name] for name in returned))


def locked(session: Session, query: SelectT) -> SelectT:
    """On PostgreSQL lock the selected rows until the transaction ends (FOR NO KEY
    UPDATE: rows that reference them can still be inserted). Select them in id order,
    so two workers lock shared rows in the same order and wait instead of deadlocking.
    SQLite has one writer, so nothing to do there."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(key_share=True)
    return query


def skip_locked(session: Session, query: SelectT, *, key_share: bool = False) -> SelectT:
    """On PostgreSQL let concurrent workers claim disjoint rows; SQLite has one writer.
    ``key_share``: FOR NO KEY UPDATE, so rows referencing the claimed ones (events,
    actions) can still be inserted meanwhile."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(key_share=key_share, skip_locked=True)
    return query


def abandoned_claim(stale_before: datetime) -> ColumnElement[bool]:
    """A ``sending`` claim made before ``stale_before``: its worker died mid-send, and
    what it posted is unknown (workers.stale_claim_seconds)."""
    return (ActionRow.status == ActionStatus.SENDING.value) & (ActionRow.updated_at < stale_before)


def retry_of_action() -> ColumnElement[bool]:
    """An Event recording a person's retry of the ActionRow it is joined or correlated
    with (triage.retry_action). The case is matched too, so the lookup can use the
    events' case index; an operations alert's events have no case."""
    return and_(
        Event.kind == "retried",
        Event.detail["action"].as_integer() == ActionRow.id,
        (Event.case_id == ActionRow.case_id)
        | (Event.case_id.is_(None) & ActionRow.case_id.is_(None)),
    )


def attempts_began() -> ColumnElement[datetime]:
    """When an action's current run of attempts began (correlated with ActionRow): its
    last retry by a person (triage.retry_action, a ``retried`` event), else its creation.
    A notification is retried for dispatch.notify_retry_hours from then."""
    retried = (
        select(func.max(Event.at)).where(retry_of_action()).correlate(ActionRow).scalar_subquery()
    )
    return type_coerce(func.coalesce(retried, ActionRow.created_at), UTCDateTime)


def claim_due_actions(
    session: Session, *, now: datetime, limit: int, stale_before: datetime
) -> list[tuple[int, bool]]:
    """Atomically mark due actions as ``sending``; return (id, outcome_unknown) pairs.

    An action already in ``sending`` whose claim is older than ``stale_before`` belongs to
    a worker that died mid-send: its outcome is unknown and must be checked, not re-sent.
    """
    waiting = ActionRow.status.in_([ActionStatus.PENDING, ActionStatus.FAILED]) & (
        ActionRow.next_attempt_at <= now
    )
    abandoned = abandoned_claim(stale_before)
    query = select(ActionRow.id, ActionRow.status).where(waiting | abandoned)
    # Then by id: a batch's replies share one next_attempt_at, and PostgreSQL returns ties
    # in any order, so which reply went first (and which the thread cap withdrew) was
    # chance; by id it is the order they were decided in.
    query = query.order_by(ActionRow.next_attempt_at, ActionRow.id).limit(limit)
    candidates = session.execute(skip_locked(session, query)).all()
    fresh = [action_id for action_id, status in candidates if status != ActionStatus.SENDING]
    stale = [action_id for action_id, status in candidates if status == ActionStatus.SENDING]
    # The conditions are checked again in the UPDATE: that is the claim on SQLite, where
    # another process may have claimed a row between our SELECT and UPDATE (PostgreSQL
    # has the rows locked already). RETURNING says which rows we got.
    got = _claim(session, fresh, waiting, now) | _claim(session, stale, abandoned, now)
    # In due order, oldest first, as selected.
    return [(i, status == ActionStatus.SENDING) for i, status in candidates if i in got]


def _claim(session: Session, ids: list[int], condition: Any, now: datetime) -> set[int]:
    if not ids:
        return set()
    statement = (
        update(ActionRow)
        .where(one_of(session, ActionRow.id, ids), condition)
        .values(status=ActionStatus.SENDING, updated_at=now, attempts=ActionRow.attempts + 1)
        .returning(ActionRow.id)
        .execution_options(synchronize_session=False)
    )
    return set(session.execute(statement).scalars())
