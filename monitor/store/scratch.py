"""Throw-away PostgreSQL databases for tests and benchmarks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

LOCAL_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_reachable(admin_url: str = LOCAL_ADMIN_URL) -> bool:
    engine = create_engine(admin_url)
    try:
        with engine.connect():
            return True
    except Exception:
        return False
    finally:
        engine.dispose()


@contextmanager
def scratch_postgres(
    admin_url: str = LOCAL_ADMIN_URL, prefix: str = "inchannel_scratch"
) -> Iterator[str]:
    """Create an empty database next to ``admin_url``'s, yield its URL, drop it after.

    The name is generated here (letters, digits, underscores), never taken from input,
    so quoting it into the DDL is safe.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
