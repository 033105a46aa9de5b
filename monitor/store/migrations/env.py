"""Alembic environment: the engine is handed in by monitor.store.db."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection, Engine

from monitor.store.db import hold_lock
from monitor.store.models import Base

# Any fixed number: PostgreSQL advisory locks are named by a bigint.
MIGRATION_LOCK = 7_264_021_005


@contextmanager
def foreign_keys_deferred(connection: Connection) -> Iterator[None]:
    """SQLite: a batch migration drops and recreates a table (0005's downgrade drops
    cases); with foreign keys on, DROP TABLE of a table other rows refer to failed. Off
    while migrating (the pragma is a no-op inside a transaction, so before it), then
    checked as a whole before the commit, and back on for the pooled connection."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        # After a failure the transaction is still open, and the pragma would be a no-op:
        # the pooled connection would go on without foreign keys.
        if connection.in_transaction():
            connection.rollback()
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def begin_sqlite(connection: Connection) -> None:
    """SQLite: one transaction for the whole migration, taken for writing at once.
    pysqlite opens none before DDL, so each CREATE or ALTER committed on its own and a
    migration failing half way (locked, killed, a clashing table) left half a schema
    that every later `db upgrade` failed on; and two `db upgrade` at once both read the
    old revision. IMMEDIATE: the second waits (busy timeout) for the first to finish."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def require_consistent(connection: Connection) -> None:
    """What the foreign keys would have refused, refused before the commit."""
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").first()
        if broken is not None:
            raise RuntimeError(f"migration left a row of {broken[0]} without its {broken[2]}")


engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `inchannel db upgrade`")

with engine.connect() as connection, foreign_keys_deferred(connection):
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        # Two workers' `db upgrade` at once both read the old revision and ran the same
        # DDL: one failed with "column already exists". The one that waits for the lock
        # then reads the new revision and has nothing left to do.
        begin_sqlite(connection)
        hold_lock(connection, MIGRATION_LOCK)
        context.run_migrations()
        require_consistent(connection)
    connection.commit()
