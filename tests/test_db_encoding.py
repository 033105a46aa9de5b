"""A PostgreSQL database not in UTF8 is refused by every command, before any work."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from monitor.cli import main
from monitor.store.copy import copy_database
from monitor.store.db import current_revision, head_revision, make_engine, upgrade
from monitor.store.models import Message
from tests.conftest import PG_ADMIN_URL, PG_OK, demo_copy

pytestmark = pytest.mark.postgres

INSERT = (
    "INSERT INTO messages (id, platform, external_id, direction, kind, author_handle, text,"
    " conversation_id, reply_allowed, created_at, ingested_at, processed) VALUES (1, 'x',"
    " '1', 'inbound', 'mention', 'jane', 'café crème', '1', true, :at, :at, true)"
)
AT = "2026-11-20 10:00:00.000000"


@pytest.fixture
def pg_in() -> Iterator[Callable[[str], str]]:
    """Creates databases in a given encoding (as `createdb` does on a cluster set up with
    that locale); drops them afterwards."""
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    names: list[str] = []

    def create(encoding: str) -> str:
        name = f"inchannel_{encoding.lower()}_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(
                text(
                    f"CREATE DATABASE \"{name}\" ENCODING '{encoding}' TEMPLATE template0 "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"
                )
            )
        names.append(name)
        # As users write it: messages showed make_engine's postgresql+psycopg:// instead.
        written = make_url(PG_ADMIN_URL).set(drivername="postgresql", database=name)
        return written.render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def config_on(tmp_path: Path, url: str) -> Path:
    path = demo_copy(tmp_path)
    configured = path.read_text(encoding="utf-8").replace(f"sqlite:///{tmp_path}/inchannel.db", url)
    path.write_text(configured, encoding="utf-8")
    return path


def shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def refusal(url: str, encoding: str, *, has_data: bool) -> str:
    move = (
        " under a new name and copy this one into it with `inchannel db copy --to URL`"
        if has_data
        else ""
    )
    return (
        f"error: the database {shown(url)}: its encoding is {encoding}, which cannot store "
        "every customer's text (emoji, most scripts): create it with `createdb --encoding "
        f"UTF8 --template template0`{move}\n"
    )


def revision_of(url: str) -> str | None:
    engine = make_engine(url)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def test_upgrade_and_run_refuse_a_database_not_in_utf8(
    tmp_path: Path, pg_in: Callable[[str], str]
) -> None:
    """`db upgrade` migrated a LATIN1 database and the daemon ran on it, until the first
    mention with an emoji failed with a UnicodeEncodeError."""
    url = pg_in("LATIN1")
    config = str(config_on(tmp_path, url))
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", config])
    assert (result.exit_code, result.output) == (1, refusal(url, "LATIN1", has_data=False))
    assert revision_of(url) is None
    # One an earlier release migrated: the daemon refuses it before any work.
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    for command in (["run", "--once"], ["db", "upgrade"], ["status"]):
        result = CliRunner().invoke(main, [*command, "--config", config])
        assert (result.exit_code, result.output) == (1, refusal(url, "LATIN1", has_data=True))
    # `db current` said the schema was up to date, exit 0, of a database `run` refuses.
    result = CliRunner().invoke(main, ["db", "current", "--config", config])
    assert (result.exit_code, result.output) == (
        1,
        f"database: {head_revision()}; this version: {head_revision()}\n"
        + refusal(url, "LATIN1", has_data=True),
    )
    # Going back to the release it ran on is not refused.
    result = CliRunner().invoke(main, ["db", "downgrade", "0001", "--config", config])
    assert (result.exit_code, result.output) == (
        0,
        f"database at revision 0001 (was {head_revision()})\n",
    )


def test_every_command_refuses_a_sql_ascii_database(
    tmp_path: Path, pg_in: Callable[[str], str]
) -> None:
    """A cluster initialised under the C locale makes SQL_ASCII databases: psycopg returns
    their text as bytes, and every command ended in a TypeError traceback from
    SQLAlchemy's first connection."""
    url = pg_in("SQL_ASCII")
    config = str(config_on(tmp_path, url))
    for command in (["db", "upgrade"], ["run", "--once"], ["status"]):
        result = CliRunner().invoke(main, [*command, "--config", config])
        assert (result.exit_code, result.output) == (
            1,
            refusal(url, "SQL_ASCII", has_data=False),
        )
    result = CliRunner().invoke(main, ["db", "current", "--config", config])
    assert result.exit_code == 1
    assert result.output.startswith("database: no schema; this version: ")


def test_copy_moves_a_database_not_in_utf8(tmp_path: Path, pg_in: Callable[[str], str]) -> None:
    """The refusal's advice: its rows copy into a database that can store every text."""
    url = pg_in("LATIN1")
    source = make_engine(url)
    upgrade(source)
    with source.begin() as conn:
        conn.execute(text(INSERT), {"at": AT})
    target = make_engine(f"sqlite:///{tmp_path / 'moved.db'}")
    try:
        assert copy_database(source, target)["messages"] == 1
        with target.connect() as conn:
            assert conn.execute(select(Message.text)).scalar_one() == "café crème"
            assert conn.execute(select(func.count()).select_from(Message)).scalar_one() == 1
    finally:
        source.dispose()
        target.dispose()
