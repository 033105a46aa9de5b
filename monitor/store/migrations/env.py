"""Alembic environment: the engine is handed in by monitor.store.db."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import context
from sqlalchemy import Connection, Engine, text

from monitor.store.models import Base

# Any fixed number: PostgreSQL advisory locks are named by a bigint.
MIGRATION_LOCK = 7_264_021_005


def one_at_a_time(connection: Connection) -> None:
    """Wait for a `db upgrade` another worker is running on this PostgreSQL database.
    Both read the old revision and ran the same DDL: one failed with "column already
    exists". Held until the commit, so the waiting one then reads the new revision and
    has nothing left to do. SQLite takes one writer at a time anyway."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})


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
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")


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
        one_at_a_time(connection)
        context.run_migrations()
        require_consistent(connection)
    connection.commit()
