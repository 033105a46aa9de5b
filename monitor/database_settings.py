"""The ``database:`` section: which database, checked before anything connects to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

# psycopg 3 is the one PostgreSQL driver we ship; "postgresql" alone means it too.
DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg"})
EXPECTED = "sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME"


class Database(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = "sqlite:///var/inchannel.db"
    echo: bool = False
    # SQLite only: how long a write waits for another writer before the step fails.
    busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)

    @field_validator("url")
    @classmethod
    def _supported(cls, url: str) -> str:
        # The messages never repeat the URL: it may hold a password.
        parsed = parse_url(url)
        if parsed is None:
            raise ValueError(f"not a database URL; expected {EXPECTED}")
        if parsed.drivername not in DRIVERS:
            hint = " (postgresql://, not postgres://)" if parsed.drivername == "postgres" else ""
            raise ValueError(
                f"unsupported database {parsed.drivername!r}{hint}; expected {EXPECTED}"
            )
        if parsed.get_backend_name() == "sqlite" and _has_authority(parsed):
            # sqlite://var/x.db (two slashes) passed, and every command that opened the
            # database ended in the driver's traceback.
            raise ValueError(
                "a SQLite URL names a file, not a host: write sqlite:///PATH (three slashes "
                "before a relative path, four before an absolute one)"
            )
        if parsed.get_backend_name() == "sqlite" and parsed.database == "":
            # sqlite:///${DB_FILE} with the variable empty: a database in memory, which
            # check-config passed and `run` lost at exit (sqlite:// says so on purpose).
            raise ValueError(
                "names no file after sqlite:/// (is its environment variable empty?), and"
                " SQLite would keep the database in memory, lost when each command ends;"
                " write sqlite:///PATH"
            )
        if parsed.port is not None and not 1 <= parsed.port <= 65535:
            # Passed here, and every command failed only when it connected.
            raise ValueError(
                "the port must be 1-65535 (the URL is not shown, it may hold a password)"
            )
        if parsed.host is not None and "@" in parsed.host:
            # The password ended at its first @: what followed would be named as the host.
            raise ValueError("the host holds '@': write an @ in the user or password as %40")
        return url


def _has_authority(parsed: URL) -> bool:
    parts = (parsed.host, parsed.username, parsed.password, parsed.port)
    return any(part is not None for part in parts)


def parse_url(url: str) -> URL | None:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


def anchor_sqlite_path(data: Any, base_dir: Path) -> Any:
    """``data`` (the raw ``database:`` mapping) with a relative SQLite path made absolute
    against ``base_dir``, the config file's folder, like every other path in the file:
    a command run from another directory must not open (or create) another database."""
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return data
    parsed = parse_url(data["url"])
    if parsed is None or parsed.get_backend_name() != "sqlite":
        return data
    name = parsed.database
    if not name or name == ":memory:" or name.startswith("file:") or Path(name).is_absolute():
        return data
    absolute = parsed.set(database=str((base_dir / name).resolve()))
    return {**data, "url": absolute.render_as_string(hide_password=False)}
