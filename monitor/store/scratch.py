"""Throw-away PostgreSQL databases for tests and benchmarks."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

LOCAL_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCRATCH_NAME = re.compile(r"[a-z0-9_]+_[0-9a-f]{12}")


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
    admin_url: str = LOCAL_ADMIN_URL,
    prefix: str = "inchannel_scratch",
    *,
    copy_of: str | None = None,
) -> Iterator[str]:
    """Create a database next to ``admin_url``'s, yield its URL, drop it after. It is
    empty, or a copy of ``copy_of``, a URL this function yielded, which nobody may be
    connected to (PostgreSQL copies a database only while it is idle).

    The names are generated here (letters, digits, underscores), never taken from input,
    so quoting them into the DDL is safe.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    template = ""
    if copy_of is not None:
        source = copy_of.rsplit("/", 1)[1]
        if not SCRATCH_NAME.fullmatch(source):
            raise ValueError(f"not a scratch database: {source[:80]!r}")
        template = f' TEMPLATE "{source}"'
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
