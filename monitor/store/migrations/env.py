"""Alembic environment: the engine is handed in by monitor.store.db."""

from __future__ import annotations

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


engine = context.config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `inchannel db upgrade`")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        one_at_a_time(connection)
        context.run_migrations()
    connection.commit()
