"""Copy every row from one database to another (SQLite → PostgreSQL when a brand grows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Table, func, insert, select
from sqlalchemy.exc import DataError

from monitor.store.db import current_revision, head_revision, upgrade
from monitor.store.models import Base

CHUNK = 2_000


class CopyError(RuntimeError):
    pass


def copy_database(
    source: Engine, target: Engine, *, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Migrate ``target``, then copy each table in foreign-key order; return row counts.

    The target must be empty: copying into a live database would mix two histories.
    Stop the daemon first, so the source does not change during the copy.
    """
    if current_revision(source) != head_revision():
        raise CopyError("the source database is not migrated to this version: run db upgrade")
    upgrade(target)
    tables = Base.metadata.sorted_tables
    with target.connect() as conn:
        for table in tables:
            if conn.execute(select(func.count()).select_from(table)).scalar_one():
                raise CopyError(f"the target database is not empty (table {table.name} has rows)")
    counts: dict[str, int] = {}
    with source.connect() as read, target.begin() as write:
        for table in tables:
            copied = 0
            result = read.execution_options(yield_per=CHUNK).execute(select(table))
            for chunk in result.mappings().partitions(CHUNK):
                _write(write, table, [dict(row) for row in chunk])
                copied += len(chunk)
                if progress is not None:
                    progress(table.name, copied)
            counts[table.name] = copied
        if write.dialect.name == "postgresql":
            _reset_sequences(write, tables)
    return counts


def _write(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    try:
        conn.execute(insert(table), rows)
    except DataError as exc:
        # SQLite keeps a value longer than its column; PostgreSQL refuses it. Name the
        # table, not the value: it may be a customer's text.
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "a value does not fit"
        raise CopyError(
            f"table {table.name}: {reason}; nothing was copied (fix or shorten that row in "
            "the source, then copy again)"
        ) from None


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Rows were inserted with their ids; move each id sequence past the largest one."""
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not False and column.type.python_type is int:
                # pg_get_serial_sequence is NULL for a column without a sequence, and
                # setval(NULL, ...) is a no-op.
                largest = select(func.max(column)).scalar_subquery()
                sequence = func.pg_get_serial_sequence(table.name, column.name)
                conn.execute(select(func.setval(sequence, func.coalesce(largest, 0) + 1, False)))
