"""`inchannel db copy`: SQLite → PostgreSQL with every row, and the daemon keeps going."""

from __future__ import annotations

import shlex
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, select, text

from monitor.ingest import release_leases
from monitor.pipeline import run_cycle
from monitor.store.copy import CopyError, copy_database
from monitor.store.db import head_revision, make_engine
from monitor.store.models import ActionRow, Base, Case, Message
from monitor.store.scratch import scratch_postgres
from tests.conftest import PG_ADMIN_URL, PG_OK, mention

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_target() -> Iterator[str]:
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_copy") as url:
        yield url


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }
    engine.dispose()
    return out


def test_copy_sqlite_to_postgresql(tmp_path: Path, pg_target: str) -> None:
    from monitor.clock import FakeClock
    from monitor.runtime import build_runtime
    from monitor.store.db import upgrade
    from tests.conftest import settings_for, write_jsonl

    rows = [mention(i, "@acme the site is down") for i in range(6)]
    sqlite_url = f"sqlite:///{tmp_path / 'small.db'}"
    rt = build_runtime(
        settings_for(tmp_path, sqlite_url, write_jsonl(tmp_path / "f.jsonl", rows)),
        clock=FakeClock(),
    )
    upgrade(rt.engine)
    run_cycle(rt)
    release_leases(rt)  # the daemon was stopped cleanly before the copy
    before = counts(sqlite_url)
    target = make_engine(pg_target)
    copied = copy_database(rt.engine, target)
    assert copied == before
    assert counts(pg_target) == before
    # The copy is usable: new rows get fresh ids after the copied ones.
    more = [mention(i, "@acme the site is down") for i in range(6, 9)]
    pg_rt = build_runtime(
        settings_for(tmp_path, pg_target, write_jsonl(tmp_path / "g.jsonl", rows + more)),
        clock=FakeClock(),
    )
    run_cycle(pg_rt)
    with pg_rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 9
        assert session.scalar(select(func.count()).select_from(ActionRow)) == 9
        assert session.scalar(select(func.count()).select_from(Message)) == before["messages"] + 6
    pg_rt.engine.dispose()
    with pytest.raises(CopyError, match="the target database is not empty"):
        copy_database(rt.engine, target)
    target.dispose()
    rt.engine.dispose()


def test_copy_refuses_an_unmigrated_source(tmp_path: Path, pg_target: str) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()  # there, without a schema
    source, target = make_engine(f"sqlite:///{tmp_path / 'empty.db'}"), make_engine(pg_target)
    with pytest.raises(CopyError, match=r"^source: the database sqlite:///.* has no schema; run"):
        copy_database(source, target)
    source.dispose()
    target.dispose()


def test_copy_takes_the_dashboard_tables_and_names_a_row_that_does_not_fit(
    tmp_path: Path, pg_target: str
) -> None:
    """copy_database alone (no CLI imports) knows every table; a value SQLite kept but
    PostgreSQL refuses names its table, and nothing is half-copied."""
    from monitor.store.db import upgrade

    assert {"web_users", "web_sessions", "sentiment_feedback"} <= set(Base.metadata.tables)
    source = make_engine(f"sqlite:///{tmp_path / 'long.db'}")
    upgrade(source)
    with source.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (case_id, kind, actor, at, detail) "
                "VALUES (NULL, 'note', :actor, '2026-12-01 10:00:00', '{}')"
            ),
            {"actor": "a" * 129},
        )
    target = make_engine(pg_target)
    with pytest.raises(
        CopyError,
        match=r"^table events, row id 1, column actor: value too long .*nothing was copied",
    ):
        copy_database(source, target)
    assert counts(pg_target)["events"] == 0
    source.dispose()
    target.dispose()


def revision_of(url: str) -> str | None:
    from monitor.store.db import current_revision

    engine = make_engine(url)
    revision = current_revision(engine)
    engine.dispose()
    return revision


@pytest.fixture
def migrated_source(tmp_path: Path) -> Iterator[Engine]:
    from monitor.store.db import upgrade

    source = make_engine(f"sqlite:///{tmp_path / 'source.db'}")
    upgrade(source)
    yield source
    source.dispose()


def test_copy_refuses_a_target_a_newer_release_migrated(
    migrated_source: Engine, pg_target: str
) -> None:
    """Alembic's own "Can't locate revision" was a traceback."""
    from monitor.store.db import upgrade

    target = make_engine(pg_target)
    upgrade(target)
    with target.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    expected = (
        "the target database is at revision 0099, which this inchannel "
        f"({head_revision()}) does not know (a newer release migrated it): copy into an "
        "empty database"
    )
    with pytest.raises(CopyError) as refused:
        copy_database(migrated_source, target)
    assert str(refused.value) == expected
    target.dispose()


def test_a_refused_target_is_left_at_its_own_revision(
    migrated_source: Engine, pg_target: str
) -> None:
    """A database an older release still runs on must not be migrated under it, only to
    be refused for holding rows."""
    from monitor.store.db import upgrade

    target = make_engine(pg_target)
    upgrade(target, "0003")
    with target.begin() as conn:
        conn.execute(
            text("INSERT INTO usage (key, day, count) VALUES ('x_reads', '2026-11-20', 5)")
        )
    with pytest.raises(CopyError, match=r"^the target database is not empty \(table usage has"):
        copy_database(migrated_source, target)
    assert revision_of(pg_target) == "0003"
    target.dispose()


def test_copy_refuses_a_database_of_another_application(
    migrated_source: Engine, pg_target: str
) -> None:
    """Tables without inchannel's schema revision were "relation already exists" from
    inside the migration, or gained inchannel's tables beside them."""
    target = make_engine(pg_target)
    with target.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id integer)"))
        conn.execute(text("CREATE TABLE customers (id integer)"))
    with pytest.raises(CopyError) as refused:
        copy_database(migrated_source, target)
    assert str(refused.value) == (
        "the target database is not empty (it has tables but no inchannel schema: "
        "customers, orders): copy into an empty database"
    )
    assert counts_tables(pg_target) == {"customers", "orders"}
    target.dispose()


def counts_tables(url: str) -> set[str]:
    from sqlalchemy import inspect

    engine = make_engine(url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_copy_names_a_source_a_newer_release_migrated(
    migrated_source: Engine, pg_target: str
) -> None:
    """Not "run db upgrade": this release's upgrade cannot help."""
    with migrated_source.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(CopyError, match=r"^source: the database sqlite:///.* at revision 0099, "):
        copy_database(migrated_source, make_engine(pg_target))
    assert revision_of(pg_target) is None


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_rows_written_during_the_copy_do_not_break_it(
    direction: str, pg_target: str, tmp_path: Path
) -> None:
    """Each table was read as it was when its turn came: an outbox row added after the
    messages were copied named a message the copy did not have (a foreign-key failure),
    or a row could be copied without the rows it belongs with. All tables are read as
    of one moment."""
    from monitor.store.db import upgrade

    sqlite_url = f"sqlite:///{tmp_path / 'other.db'}"
    source_url, target_url = (sqlite_url, pg_target)
    if direction == "postgresql-to-sqlite":
        source_url, target_url = target_url, source_url
    source, target = make_engine(source_url), make_engine(target_url)
    upgrade(source)
    with source.begin() as conn:
        conn.execute(text(MESSAGE), {"id": 1, "at": AT})
    before = counts(source_url)
    writer = make_engine(source_url)  # the dashboard, left running

    def meanwhile(table: str, _copied: int) -> None:
        if table == "messages":
            with writer.begin() as conn:
                conn.execute(text(MESSAGE), {"id": 2, "at": AT})
                conn.execute(text(ACTION), {"message": 2, "at": AT})

    assert copy_database(source, target, progress=meanwhile) == before
    assert counts(target_url) == before
    for engine in (writer, source, target):
        engine.dispose()


MESSAGE = (
    "INSERT INTO messages (id, platform, external_id, direction, kind, author_handle, text,"
    " conversation_id, reply_allowed, created_at, ingested_at, processed) VALUES (:id, 'x',"
    " :id, 'inbound', 'mention', 'jane', 'hi', '1', true, :at, :at, true)"
)
ACTION = (
    "INSERT INTO actions (message_id, kind, platform, target_external_id, conversation_id,"
    " text, status, attempts, next_attempt_at, idempotency_key, created_at, updated_at)"
    " VALUES (:message, 'reply', 'x', '2', '1', 'hello', 'pending', 0, :at, 'reply:2', :at,"
    " :at)"
)
AT = "2026-11-20 10:00:00.000000"


def documented_move() -> list[list[str]]:
    """The inchannel commands of docs/operations.md's "Moving from SQLite to PostgreSQL",
    each cut at its first shell operator (`&&`) or comment."""
    from tests.conftest import REPO

    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("## Moving from SQLite to PostgreSQL", 1)[1].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0]
    commands = [shlex.split(line.split("&&")[0].split("#")[0]) for line in block.splitlines()]
    return [words[1:] for words in commands if words[:1] == ["inchannel"]]


def test_the_documented_move_starts_the_workers_however_long_it_took(
    tmp_path: Path, pg_target: str
) -> None:
    """The check before `systemctl start` was `inchannel status`, which exits 1 once the
    stopped daemon's health checks are 5 minutes old: a move that took longer (or was
    finished after a coffee) never started the workers."""
    from datetime import UTC, datetime, timedelta

    from click.testing import CliRunner

    from monitor.cli import main
    from monitor.clock import FakeClock
    from monitor.runtime import build_runtime
    from monitor.settings import load_settings
    from monitor.store.db import upgrade
    from tests.conftest import demo_copy

    config = demo_copy(tmp_path)
    stopped = datetime.now(UTC) - timedelta(minutes=10)  # the daemon stopped 10 min ago
    rt = build_runtime(load_settings(config), clock=FakeClock(stopped))
    upgrade(rt.engine)
    run_cycle(rt)
    release_leases(rt)
    rt.engine.dispose()
    copy, check = documented_move()[:2]
    assert copy[:3] == ["db", "copy", "--to"]
    assert copy[3].startswith("postgresql://")
    runner = CliRunner()
    copied = runner.invoke(main, [*copy[:3], pg_target, "--config", str(config)])
    assert copied.exit_code == 0, copied.output
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"sqlite:///{tmp_path}/inchannel.db", pg_target), "utf-8")
    checked = runner.invoke(main, [*check, "--config", str(config)])
    assert (checked.exit_code, checked.output) == (
        0,
        f"database: {head_revision()}; this version: {head_revision()}\n",
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def any_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_copy") as url:
        yield url


def test_copy_names_another_applications_alembic_database_as_such(
    migrated_source: Engine, any_target: str
) -> None:
    """Many applications use Alembic: their revision was reported as one "a newer release"
    of inchannel made, sending the operator to look for a release that does not exist."""
    target = make_engine(any_target)
    with target.begin() as conn:
        conn.execute(text("CREATE TABLE orders (id integer)"))
        conn.execute(text("CREATE TABLE alembic_version (version_num varchar(32))"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('3f2a9c1d7b44')"))
    with pytest.raises(CopyError) as refused:
        copy_database(migrated_source, target)
    assert str(refused.value) == (
        "the target database is not empty (it has tables but no inchannel schema: orders; "
        "its alembic_version 3f2a9c1d7b44 is another application's): copy into an empty "
        "database"
    )
    assert counts_tables(any_target) == {"orders", "alembic_version"}
    target.dispose()


@pytest.mark.parametrize("direction", ["sqlite-to-postgresql", "postgresql-to-sqlite"])
def test_an_undecided_message_keeps_a_null_decision(
    direction: str, pg_target: str, tmp_path: Path
) -> None:
    """SQLAlchemy's JSON type writes Python None as the JSON text 'null': a message with
    no decision arrived as decision = 'null', and `decision IS NULL` (an operator's
    query for what is still to decide) no longer found it in the copy."""
    from monitor.store.db import upgrade

    sqlite_url = f"sqlite:///{tmp_path / 'undecided.db'}"
    source_url, target_url = (sqlite_url, pg_target)
    if direction == "postgresql-to-sqlite":
        source_url, target_url = target_url, source_url
    source, target = make_engine(source_url), make_engine(target_url)
    upgrade(source)
    with source.begin() as conn:
        conn.execute(text(MESSAGE), {"id": 1, "at": AT})
    copy_database(source, target)
    undecided = "SELECT count(*) FROM messages WHERE decision IS NULL"
    with target.connect() as conn:
        assert conn.execute(text(undecided)).scalar_one() == 1
    source.dispose()
    target.dispose()


def test_a_target_password_from_the_environment_is_url_encoded_and_not_shown(
    migrated_source: Engine, tmp_path: Path, pg_target: str
) -> None:
    """`--to` reads ${NAME} as database.url does: the password stays out of `ps` and the
    shell's history, and @ : / # in it are encoded (trust auth ignores it here)."""
    from click.testing import CliRunner

    from monitor.cli import main

    config = tmp_path / "inchannel.yaml"
    (tmp_path / "rules").mkdir()
    config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: '{migrated_source.url}'}}\n")
    scheme, rest = pg_target.split("://", 1)
    user, where = rest.split("@", 1)
    target = f"{scheme}://{user}:${{INCHANNEL_COPY_PW}}@{where}"
    password = "s3cr@t:/#pw"
    passwords: list[object] = []

    def connecting(_d: object, _r: object, _a: object, params: dict[str, object]) -> None:
        passwords.append(params.get("password"))

    event.listen(Engine, "do_connect", connecting)
    try:
        result = CliRunner().invoke(
            main,
            ["db", "copy", "--config", str(config), "--to", target],
            env={"INCHANNEL_COPY_PW": password},
        )
    finally:
        event.remove(Engine, "do_connect", connecting)
    assert result.exit_code == 0, result.output
    assert password in passwords
    assert "s3cr" not in result.output
    assert revision_of(pg_target) == head_revision()


def test_the_upgrade_advice_for_an_unmigrated_source_names_the_config(tmp_path: Path) -> None:
    """Run as written, `inchannel db upgrade` without the copy's --config migrated
    ./config/inchannel.yaml's database (or could not read it), and the copy was refused
    again."""
    from click.testing import CliRunner

    from monitor.cli import main
    from tests.conftest import demo_copy

    config = demo_copy(tmp_path)
    sqlite3.connect(tmp_path / "inchannel.db").close()  # there, without a schema
    target = tmp_path / "target.db"
    result = CliRunner().invoke(
        main, ["db", "copy", "--to", f"sqlite:///{target}", "--config", str(config)]
    )
    assert result.exit_code == 1, result.output
    assert result.output == (
        f"error: source: the database sqlite:///{tmp_path}/inchannel.db has no schema; "
        f"run `inchannel db upgrade --config {config}` first\n"
    )
    assert not target.exists()


def documented_setup() -> list[list[str]]:
    """The createuser/createdb commands of "Moving from SQLite to PostgreSQL"."""
    from tests.conftest import REPO

    text = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    block = text.split("## Moving from SQLite to PostgreSQL", 1)[1].split("```sh\n", 1)[1]
    commands = [shlex.split(line.split("#")[0]) for line in block.split("```", 1)[0].splitlines()]
    return [words for words in commands if words[:1] in (["createuser"], ["createdb"])]


def test_the_documented_database_takes_the_copy_as_the_user_in_the_url(
    migrated_source: Engine, tmp_path: Path
) -> None:
    """The guide's `createdb inchannel`, run as the postgres superuser, made a database
    its `inchannel` user could not create tables in (PostgreSQL 15 gives only the owner
    CREATE on `public`): the copy failed with `permission denied for schema public`."""
    import shutil
    import subprocess
    import uuid

    from click.testing import CliRunner
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from monitor.cli import main

    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    if shutil.which("createdb") is None or shutil.which("createuser") is None:
        pytest.skip("createdb/createuser are not installed")
    admin = make_url(PG_ADMIN_URL)
    name = f"inchannel_guide_{uuid.uuid4().hex[:12]}"  # the role and the database
    connect = ["-h", str(admin.host), "-p", str(admin.port or 5432), "-U", str(admin.username)]
    config = tmp_path / "inchannel.yaml"
    (tmp_path / "rules").mkdir()
    config.write_text(f"brand: {{name: Acme}}\ndatabase: {{url: '{migrated_source.url}'}}\n")
    target = f"postgresql://{name}@{admin.host}:{admin.port or 5432}/{name}"
    cleanup = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        for words in documented_setup():
            # --pwprompt asks on the terminal; the test server trusts local connections.
            words = [name if w == "inchannel" else w for w in words if w != "--pwprompt"]
            subprocess.run([*words, *connect], check=True, capture_output=True)
        result = CliRunner().invoke(main, ["db", "copy", "--config", str(config), "--to", target])
        assert result.exit_code == 0, result.output
    finally:
        with cleanup.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        cleanup.dispose()


def test_a_target_that_cannot_be_used_is_named_as_the_target(demo: Path, tmp_path: Path) -> None:
    """`error: the database cannot be used: unable to open database file` was all the
    copy said of a --to it could not open, the words every other command uses of the
    configured database: the operator looked for a fault in the source, which was fine."""
    from click.testing import CliRunner

    from monitor.cli import main

    folder = tmp_path / "moved"
    folder.mkdir()  # a folder where the target file should be
    result = CliRunner().invoke(
        main, ["db", "copy", "--config", str(demo), "--to", f"sqlite:///{folder}"]
    )
    assert (result.exit_code, result.output) == (
        1,
        f"error: target: the database sqlite:///{folder} cannot be used: unable to open "
        "database file\n",
    )


def test_copy_names_its_target_as_written_with_the_password_masked(
    demo: Path, pg_target: str
) -> None:
    """`copied into postgresql+psycopg://…`: the driver name make_engine switches to,
    which no config or doc writes. The password (from ${NAME}) is never printed."""
    from click.testing import CliRunner
    from sqlalchemy.engine import make_url

    from monitor.cli import main

    # The test server trusts local connections: the password is shown, not checked.
    target = make_url(pg_target).set(drivername="postgresql", password="s3cret-pw")
    written = target.render_as_string(hide_password=False).replace("s3cret-pw", "${PW}")
    result = CliRunner(env={"PW": "s3cret-pw"}).invoke(
        main, ["db", "copy", "--config", str(demo), "--to", written]
    )
    assert result.exit_code == 0, result.output
    masked = written.replace("${PW}", "***")
    assert masked.startswith("postgresql://postgres:***@")
    assert result.output.endswith(f"copied into {masked}\n")
    assert "s3cret-pw" not in result.output


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("postgresql://care:pw@db.example/inchannel", "postgresql://care:***@db.example/inchannel"),
        ("postgresql+psycopg://care:pw@db/x", "postgresql+psycopg://care:***@db/x"),
        (
            "postgresql://care@db/x?password=pw&sslmode=require",
            "postgresql://care@db/x?password=***&sslmode=require",
        ),
        ("sqlite:////var/lib/inchannel.db", "sqlite:////var/lib/inchannel.db"),
    ],
)
def test_shown_url_is_the_url_as_written_with_the_password_masked(written: str, shown: str) -> None:
    from monitor.store.db import shown_url

    engine = make_engine(written)  # not connected: nothing here needs a server
    assert shown_url(engine) == shown
    engine.dispose()


def test_an_unreachable_target_is_named_as_written_with_the_password_masked(
    demo: Path,
) -> None:
    from click.testing import CliRunner

    from monitor.cli import main

    # Port 9 (discard) refuses the connection at once; no server needed.
    written = "postgresql://inchannel:${PW}@127.0.0.1:9/inchannel"
    result = CliRunner(env={"PW": "s3cret-pw"}).invoke(
        main, ["db", "copy", "--config", str(demo), "--to", written]
    )
    assert result.exit_code == 1
    assert result.output.startswith(
        "error: target: the database postgresql://inchannel:***@127.0.0.1:9/inchannel "
        "cannot be used: "
    ), result.output
    assert "s3cret-pw" not in result.output


def test_copy_refuses_a_postgresql_database_that_cannot_store_every_text(
    migrated_source: Engine,
) -> None:
    """A database created in another encoding (`createdb` on a cluster set up with a
    LATIN1 locale) was migrated, then the copy died with a UnicodeEncodeError traceback
    at the first emoji; copied without one, the daemon failed on the next."""
    import uuid

    from sqlalchemy import create_engine

    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with migrated_source.begin() as conn:
        conn.execute(text(MESSAGE.replace("'hi'", "'thanks 🙏'")), {"id": 1, "at": AT})
    name = f"inchannel_latin1_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text(
                f"CREATE DATABASE \"{name}\" ENCODING 'LATIN1' TEMPLATE template0 "
                "LC_COLLATE 'C' LC_CTYPE 'C'"
            )
        )
    target = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        with pytest.raises(CopyError) as refused:
            copy_database(migrated_source, target)
        assert str(refused.value) == (
            "the target database's encoding is LATIN1, which cannot store every customer's "
            "text (emoji, most scripts): create it with `createdb --encoding UTF8 "
            "--template template0`"
        )
        assert revision_of(str(target.url.render_as_string(hide_password=False))) is None
    finally:
        target.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_text_postgresql_refuses_names_its_row_and_column(
    migrated_source: Engine, pg_target: str
) -> None:
    """A NUL an older release stored in SQLite failed the copy with "fix or shorten that
    row" and no row named: among thousands of messages, the operator could not find it.
    The row is named by its id and the column by name, never by the customer's text."""
    with migrated_source.begin() as conn:
        conn.execute(text(MESSAGE.replace("'hi'", ":text")), {"id": 1, "at": AT, "text": "ok"})
        conn.execute(text(MESSAGE.replace("'hi'", ":text")), {"id": 2, "at": AT, "text": "a\x00b"})
    target = make_engine(pg_target)
    with pytest.raises(CopyError) as refused:
        copy_database(migrated_source, target)
    assert str(refused.value).startswith(
        "table messages, row id 2, column text: PostgreSQL text fields cannot contain NUL"
    )
    assert "nothing was copied" in str(refused.value)
    assert counts(pg_target)["messages"] == 0
    target.dispose()


def test_copy_refuses_a_source_a_worker_still_polls(tmp_path: Path, pg_target: str) -> None:
    """Only a SQLite source has a worker lock: from PostgreSQL, a copy taken while the
    workers ran said "copied" and left out all they wrote afterwards. A source lease
    that has not expired is a worker polling (or one killed less than a lease ago)."""

    from monitor.clock import FakeClock
    from monitor.runtime import build_runtime
    from monitor.store.db import upgrade
    from tests.conftest import settings_for, write_jsonl

    clock = FakeClock()
    feed = write_jsonl(tmp_path / "f.jsonl", [mention(1, "@acme the site is down")])
    rt = build_runtime(settings_for(tmp_path, pg_target, feed), clock=clock)
    upgrade(rt.engine)
    run_cycle(rt)  # the worker is still running: its lease on "feed" is held
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    target = make_engine(target_url)
    with pytest.raises(CopyError) as refused:
        copy_database(rt.engine, target, clock=clock)
    assert str(refused.value).startswith(
        f"source: a worker ({rt.worker_id}) holds source feed until 2026-11-20 09:0"
    )
    assert "stop every inchannel run" in str(refused.value)
    assert not (tmp_path / "target.db").exists()  # the target was not touched
    clock.advance(seconds=rt.settings.workers.lease_seconds + 1)  # it was killed: expired
    assert copy_database(rt.engine, target, clock=clock) == counts(pg_target)
    target.dispose()
    rt.engine.dispose()


def test_a_row_the_target_refuses_while_copying_is_named_as_the_targets(
    migrated_source: Engine, tmp_path: Path
) -> None:
    """Only the target's checks and migration named the target: a row it refused while
    the rows were copied (a reference to a case the source no longer has, which SQLite
    kept with its foreign keys off) said "the database cannot be used", the words every
    command uses of the configured database, here the source."""
    database = migrated_source.url.database
    assert database is not None
    with sqlite3.connect(database) as raw:  # foreign keys are off in a bare connection
        raw.execute(
            "INSERT INTO events (case_id, kind, actor, at, detail) "
            "VALUES (99, 'note', 'ana', '2026-12-01 10:00:00', '{}')"
        )
    target_url = f"sqlite:///{tmp_path / 'target.db'}"
    target = make_engine(target_url)
    with pytest.raises(CopyError) as refused:
        copy_database(migrated_source, target)
    assert str(refused.value) == (
        f"target: the database {target_url} cannot be used: FOREIGN KEY constraint failed "
        "(copying table events; nothing was copied)"
    )
    assert counts(target_url)["events"] == 0
    target.dispose()


def test_a_copy_is_not_started_until_a_worker_runs_on_it(tmp_path: Path, any_target: str) -> None:
    """The copy carries the old database's heartbeat: `inchannel status` on the new one
    read healthy for up to 5 minutes with no worker running there at all (a unit that
    could not read its password). The heartbeat itself stays: the first check on the
    new database records the move as a down period, which the spike baseline needs."""
    from datetime import timedelta

    from monitor.alerting import Downtime, recorded_downtime
    from monitor.clock import FakeClock
    from monitor.health_alerts import check_health
    from monitor.runtime import build_runtime
    from monitor.status import COPIED_NOT_STARTED, collect
    from monitor.store.db import upgrade
    from tests.conftest import settings_for, write_jsonl

    feed = write_jsonl(tmp_path / "f.jsonl", [mention(1, "@acme the site is down")])
    rt = build_runtime(
        settings_for(tmp_path, f"sqlite:///{tmp_path / 'old.db'}", feed), clock=FakeClock()
    )
    upgrade(rt.engine)
    run_cycle(rt)
    release_leases(rt)
    stopped = rt.clock.now()
    target = make_engine(any_target)
    copy_database(rt.engine, target, clock=rt.clock)
    target.dispose()
    rt.engine.dispose()
    clock = FakeClock()
    moved = build_runtime(settings_for(tmp_path, any_target, feed), clock=clock)
    for minutes in (1, 6):  # before and after the old checks are 5 minutes old
        clock.set(stopped + timedelta(minutes=minutes))
        status = collect(moved)
        assert (status.healthy, status.problems) == (False, [COPIED_NOT_STARTED])
    check_health(moved)  # a worker started on the new database
    assert collect(moved).healthy
    with moved.sessions() as session:
        assert recorded_downtime(session) == [Downtime(stopped, moved.clock.now())]
    moved.engine.dispose()
