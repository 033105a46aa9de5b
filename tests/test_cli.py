"""The command line: db upgrade, run --once twice, refusing an unmigrated database."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import OperationalError

from monitor.cli import main
from monitor.store.db import head_revision
from monitor.store.single import COPY, DOWNGRADE, AnotherWorker, only_worker
from tests.conftest import REPO


@pytest.fixture
def demo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped demo config, copied so its relative paths point into tmp_path. Run
    from tmp_path too: a dry run records to var/recorded-posts.jsonl under the current
    directory, which was the checkout's own, and the demo then found 21 stale posts."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    text = (config / "inchannel.yaml").read_text(encoding="utf-8")
    text = text.replace("sqlite:///../var/inchannel.db", f"sqlite:///{tmp_path}/var/inchannel.db")
    (config / "inchannel.yaml").write_text(text, encoding="utf-8")
    return config / "inchannel.yaml"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_run_once_twice_ingests_once(demo_config: Path, tmp_path: Path) -> None:
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    code, _ = invoke("run", "--once", "--config", str(demo_config))
    assert code == 0
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    inbound = "SELECT count(*) FROM messages WHERE direction = 'inbound'"
    assert db.execute(inbound).fetchone() == (42,)
    recorded = (tmp_path / "var" / "recorded-posts.jsonl").read_text().splitlines()
    assert recorded
    assert all(json.loads(line)["text"] for line in recorded)
    # The demo answers the sample questions from the shipped knowledge base.
    answered = db.execute("SELECT answer_id FROM actions WHERE answer_id IS NOT NULL").fetchall()
    ids = {a for (a,) in answered}
    assert {"shipping-countries", "warranty-length"} <= ids
    # The hours question: the Christmas hours stand in for the usual ones in December.
    assert ids & {"store-hours", "store-hours-holidays"}
    posted = " ".join(json.loads(line)["text"] for line in recorded)
    assert "We ship to the UK, Ireland and every EU country" in posted
    code, _ = invoke("run", "--once", "--config", str(demo_config))
    assert code == 0
    assert db.execute(inbound).fetchone() == (42,)
    assert len((tmp_path / "var" / "recorded-posts.jsonl").read_text().splitlines()) == len(
        recorded
    )


def test_run_once_interrupted_mid_cycle_releases_its_leases(
    demo_config: Path, tmp_path: Path
) -> None:
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    interrupted: list[str] = []

    def ctrl_c_at_the_claim(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # Ctrl-C arrives as processing claims the polled messages: the sources have
        # been polled (their leases taken), the cycle is not over.
        if "WHERE messages.processed IS" in statement:
            interrupted.append(statement)
            raise KeyboardInterrupt

    event.listen(Engine, "before_cursor_execute", ctrl_c_at_the_claim)
    try:
        code, _ = invoke("run", "--once", "--config", str(demo_config))
    finally:
        event.remove(Engine, "before_cursor_execute", ctrl_c_at_the_claim)
    assert len(interrupted) == 1
    assert code == 130  # 128 + SIGINT, as a shell reports Ctrl-C
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    leases = db.execute("SELECT name, lease_owner FROM source_state").fetchall()
    assert leases
    assert all(owner is None for _, owner in leases)


def test_run_refuses_an_unmigrated_database(demo_config: Path, tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    sqlite3.connect(tmp_path / "var" / "inchannel.db").close()  # there, without a schema
    code, output = invoke("run", "--once", "--config", str(demo_config))
    assert code == 1
    assert f"has no schema; run `inchannel db upgrade --config {demo_config}` first" in output


def test_db_current_reports_revision(demo_config: Path, tmp_path: Path) -> None:
    # A SQLite file not there yet is not created by asking (only `db upgrade` creates
    # it): `status` then said "has no schema" of an empty file nobody had set up.
    code, output = invoke("db", "current", "--config", str(demo_config))
    assert code == 1
    assert "database: does not exist yet" in output
    code, output = invoke("db", "downgrade", "0001", "--config", str(demo_config))
    assert code == 1
    assert "does not exist yet: there is no revision to go back from" in output
    assert not (tmp_path / "var" / "inchannel.db").exists()
    (tmp_path / "var").mkdir(exist_ok=True)
    sqlite3.connect(tmp_path / "var" / "inchannel.db").close()  # there, without a schema
    code, output = invoke("db", "current", "--config", str(demo_config))
    assert code == 1
    assert "database: no schema" in output
    invoke("db", "upgrade", "--config", str(demo_config))
    code, output = invoke("db", "current", "--config", str(demo_config))
    assert code == 0
    assert f"database: {head_revision()}" in output


def test_schema_work_goes_on_while_the_rule_files_are_broken(demo_config: Path) -> None:
    """A bad rules commit must not block `db upgrade`, `db current` or `db copy`: the
    schema needs no rules, and `run` still refuses to start on them (exit 2)."""
    rules = demo_config.parent / "rules"
    (rules / "99-broken.yaml").write_text("name: broken\nmatch: {txet: refund}\n", "utf-8")
    code, output = invoke("db", "upgrade", "--config", str(demo_config))
    assert (code, output.strip()) == (0, f"database at revision {head_revision()}")
    code, output = invoke("db", "current", "--config", str(demo_config))
    assert code == 0, output
    target = demo_config.parent.parent / "copy.db"
    code, output = invoke("db", "copy", "--to", f"sqlite:///{target}", "--config", str(demo_config))
    assert code == 0, output
    code, output = invoke("run", "--once", "--config", str(demo_config))
    assert code == 2
    assert "99-broken.yaml" in output


@pytest.fixture
def sqlite_busy_timeouts() -> Iterator[dict[str, set[int]]]:
    """Every SQLite connection any engine opens meanwhile: its file and its busy
    timeout as SQLite reports it (after the engine's own set-up has run)."""
    seen: dict[str, set[int]] = {}

    def record(conn: Connection) -> None:
        if conn.dialect.name != "sqlite" or not conn.engine.url.database:
            return
        dbapi = conn.connection.dbapi_connection
        assert dbapi is not None
        (timeout,) = dbapi.execute("PRAGMA busy_timeout").fetchone()
        seen.setdefault(str(Path(conn.engine.url.database).resolve()), set()).add(timeout)

    event.listen(Engine, "engine_connect", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "engine_connect", record)


def test_schema_commands_wait_the_configured_busy_timeout(
    demo_config: Path, tmp_path: Path, sqlite_busy_timeouts: dict[str, set[int]]
) -> None:
    """`db upgrade`, `db current`, `db downgrade` and `db copy` (source and target) wait
    on a locked SQLite file as long as database.busy_timeout_ms says, as the daemon
    does, not SQLite's default 5 s."""
    text = demo_config.read_text(encoding="utf-8")
    url_line = f"  url: sqlite:///{tmp_path}/var/inchannel.db\n"
    assert url_line in text
    demo_config.write_text(text.replace(url_line, url_line + "  busy_timeout_ms: 1234\n"))
    target = tmp_path / "copy.db"
    for command in (
        ("db", "upgrade"),
        ("db", "current"),
        ("db", "copy", "--to", f"sqlite:///{target}"),
        ("db", "downgrade", previous_revision()),
    ):
        code, output = invoke(*command, "--config", str(demo_config))
        assert code == 0, output
    source = str((tmp_path / "var" / "inchannel.db").resolve())
    assert sqlite_busy_timeouts == {source: {1234}, str(target.resolve()): {1234}}


def test_the_upgrade_advice_names_the_config_the_command_was_given(
    demo_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as written, `inchannel db upgrade` without the --config the refused command had
    reads ./config/inchannel.yaml: elsewhere "cannot read", or another database migrated."""
    monkeypatch.delenv("INCHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    for command in (("run", "--once"), ("status",), ("cases", "list"), ("users", "list")):
        code, output = invoke(*command, "--config", str(demo_config))
        assert code == 1, output
        assert output.endswith(f"run `inchannel db upgrade --config {demo_config}` first\n")
    # Followed to the letter, the advice works.
    code, output = invoke("db", "upgrade", "--config", str(demo_config))
    assert code == 0, output
    assert invoke("run", "--once", "--config", str(demo_config))[0] == 0


def test_the_upgrade_advice_quotes_a_config_path_for_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "my config" / "inchannel.yaml"
    shutil.copytree(REPO / "config", config.parent)
    monkeypatch.chdir(config.parent)
    code, output = invoke("status", "--config", str(config))
    assert code == 1, output
    assert f"run `inchannel db upgrade --config '{config}'` first" in output


def test_the_upgrade_advice_needs_no_config_option_when_none_was_given(
    demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # $INCHANNEL_CONFIG is read by `db upgrade` too.
    monkeypatch.setenv("INCHANNEL_CONFIG", str(demo_config))
    code, output = invoke("status")
    assert code == 1, output
    assert output.endswith("does not exist yet; run `inchannel db upgrade` first\n")


def test_x_status_on_an_unmigrated_database_says_what_to_run(demo_config: Path) -> None:
    code, output = invoke("x", "status", "--config", str(demo_config))
    assert code == 1
    # not "no such table"
    assert f"does not exist yet; run `inchannel db upgrade --config {demo_config}` first" in output


def test_a_database_a_newer_release_migrated_is_named_as_such(
    demo_config: Path, tmp_path: Path
) -> None:
    """After a rollback of inchannel, `db upgrade` cannot help: say so, no traceback."""
    invoke("db", "upgrade", "--config", str(demo_config))
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    with db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    head = head_revision()
    expected = (
        f"is at revision 0099, which this inchannel ({head}) does not know: a newer release "
        "migrated it; run that release (or restore a backup taken before the upgrade)"
    )
    for command in (("run", "--once"), ("db", "upgrade"), ("rules", "status")):
        code, output = invoke(*command, "--config", str(demo_config))
        assert (code, output.count("\n")) == (1, 1), output
        assert output.startswith("error: the database sqlite:///")
        assert expected in output


@pytest.mark.parametrize("revision", ["3f2a9c1d7b44", "0002"])
def test_a_database_of_another_alembic_application_is_named_as_such(
    demo_config: Path, tmp_path: Path, revision: str
) -> None:
    """Many applications use Alembic. Their revision was "a newer release" of inchannel
    (a release that does not exist); or, numbered like ours, `db upgrade` migrated
    their database as if it were ours and failed on "no such table"."""
    (tmp_path / "var").mkdir(exist_ok=True)
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    with db:
        db.execute("CREATE TABLE orders (id integer)")
        db.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
        db.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    expected = (
        f"is at revision {revision} but has none of inchannel's tables: its alembic_version "
        "is another application's; give inchannel a database of its own"
    )
    for command in (("db", "upgrade"), ("run", "--once")):
        code, output = invoke(*command, "--config", str(demo_config))
        assert (code, output.count("\n")) == (1, 1), output
        assert output.startswith("error: the database sqlite:///")
        assert expected in output
    tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert sorted(name for (name,) in tables) == ["alembic_version", "orders"]
    db.close()


def test_rules_status_on_an_unmigrated_database_says_so(demo_config: Path) -> None:
    code, output = invoke("rules", "status", "--config", str(demo_config))
    assert code == 1
    upgrade = f"inchannel db upgrade --config {demo_config}"
    assert output.strip().endswith(f"does not exist yet; run `{upgrade}` first")


def test_run_once_records_the_rules_it_ran_for_rules_status(demo_config: Path) -> None:
    """Only the daemon's reload job stored the rules version: after `run --once` (cron)
    had decided every case with the rules, `rules status` said "no daemon has loaded
    rules into this database yet" and `status` listed no rules version."""
    from monitor.runtime import build_rule_engine
    from monitor.settings import load_settings

    settings = load_settings(demo_config)
    engine = build_rule_engine(settings)
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    assert invoke("run", "--once", "--config", str(demo_config))[0] == 0
    code, output = invoke("rules", "status", "--config", str(demo_config))
    assert code == 0, output
    running = f"running rules version {engine.version} ({len(engine.rules)} rules, loaded "
    assert output.startswith(running), output
    assert output.count("\n") == 1
    code, output = invoke("status", "--json", "--config", str(demo_config))
    rules = {s["name"]: s for s in json.loads(output)["sources"]}["@rules"]
    assert rules["details"] == {
        "version": engine.version, "rules": len(engine.rules), "rejected_version": None
    }  # fmt: skip
    assert rules["last_error"] is None
    # A broken rule file stops a run at the config check (exit 2) and stores nothing:
    # the version shown stays the one the last run decided with, with no error.
    (demo_config.parent / "rules" / "99-broken.yaml").write_text("name: [oops\n")
    assert invoke("run", "--once", "--config", str(demo_config))[0] == 2
    code, output = invoke("rules", "status", "--config", str(demo_config))
    assert (code, output.startswith(running), output.count("\n")) == (0, True, 1), output


def test_dry_run_records_to_the_default_file(
    demo_config: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = demo_config.read_text(encoding="utf-8")
    demo_config.write_text(text.replace("path: ../var/recorded-posts.jsonl", "path: null"))
    monkeypatch.chdir(tmp_path)
    invoke("db", "upgrade", "--config", str(demo_config))
    assert invoke("run", "--once", "--dry-run", "--config", str(demo_config))[0] == 0
    assert (tmp_path / "var" / "recorded-posts.jsonl").read_text().count("\n") >= 5


def _posting_for_real(demo_config: Path) -> None:
    """The demo config with a real X responder: a dry run records, a live run would post."""
    text = demo_config.read_text(encoding="utf-8")
    real = "  x:\n    type: x\n"
    text = text.replace("  x:\n    type: recording\n    path: ../var/recorded-posts.jsonl\n", real)
    keys = "".join(f"  {k}: k\n" for k in ("consumer_key", "consumer_secret", "access_token"))
    x = f'x:\n  user_id: "783214"\n  bearer_token: b\n{keys}  access_token_secret: k\n'
    demo_config.write_text(text + x, encoding="utf-8")


def test_a_dry_run_refuses_a_live_database(demo_config: Path, tmp_path: Path) -> None:
    """A dry run on the live database would mark waiting replies sent, unposted."""
    _posting_for_real(demo_config)
    invoke("db", "upgrade", "--config", str(demo_config))
    assert invoke("check-config", "--config", str(demo_config))[0] == 0
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    with db:  # as `inchannel run` leaves it (a live run here would reach api.x.com)
        db.execute("INSERT INTO usage (key, day, count) VALUES ('run_mode', 'live', 0)")
    code, output = invoke("run", "--once", "--dry-run", "--config", str(demo_config))
    assert code == 2
    assert output.startswith("error: this database has served live runs: a dry run would")
    assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_a_live_run_refuses_a_dry_runs_database(demo_config: Path, tmp_path: Path) -> None:
    _posting_for_real(demo_config)
    invoke("db", "upgrade", "--config", str(demo_config))
    assert invoke("run", "--once", "--dry-run", "--config", str(demo_config))[0] == 0
    assert invoke("run", "--once", "--dry-run", "--config", str(demo_config))[0] == 0
    code, output = invoke("run", "--once", "--config", str(demo_config))
    assert code == 2
    assert output.startswith("error: this database has served `inchannel run --dry-run`:")


def test_a_live_run_refuses_the_demos_database(demo_config: Path, tmp_path: Path) -> None:
    """The demo's replies were only recorded, its drafts answer sample posts: a live
    daemon on its database would take them for the brand's own."""
    invoke("db", "upgrade", "--config", str(demo_config))
    assert invoke("run", "--once", "--config", str(demo_config))[0] == 0
    _posting_for_real(demo_config)
    code, output = invoke("run", "--once", "--config", str(demo_config))
    assert code == 2
    assert output.startswith("error: this database has served the demo:")


def test_the_demo_refuses_a_live_database(demo_config: Path, tmp_path: Path) -> None:
    """Replay sources and recording responders on the live database would mark its
    waiting replies sent, unposted, as a dry run would."""
    invoke("db", "upgrade", "--config", str(demo_config))
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    with db:
        db.execute("INSERT INTO usage (key, day, count) VALUES ('run_mode', 'live', 0)")
    code, output = invoke("run", "--once", "--config", str(demo_config))
    assert code == 2
    assert output.startswith("error: this database has served live runs: the demo would")
    assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)


def test_version() -> None:
    code, output = invoke("--version")
    assert code == 0
    assert "inchannel, version" in output


def test_a_second_worker_on_one_sqlite_database_is_refused(
    demo_config: Path, tmp_path: Path
) -> None:
    # SQLite has no row locks to share work by: a second worker would answer twice.
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    database = tmp_path / "var" / "inchannel.db"
    with only_worker(f"sqlite:///{database}"):
        result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
        with pytest.raises(AnotherWorker), only_worker(f"sqlite:///{database}"):
            pass
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: another inchannel run (pid {os.getpid()}) is using {database}; SQLite "
        "takes one worker at a time (use PostgreSQL for several)\n"
    )
    assert invoke("run", "--once", "--config", str(demo_config))[0] == 0  # released
    with (
        only_worker("postgresql://postgres@127.0.0.1/test"),
        only_worker("postgresql://postgres@127.0.0.1/test"),
    ):
        pass  # PostgreSQL shares work with row locks: any number of workers


def test_a_second_worker_through_a_symlink_to_the_sqlite_file_is_refused(
    demo_config: Path, tmp_path: Path
) -> None:
    """The database file moved to a bigger disk and linked from var/: a worker whose
    config names the link, and one whose relative path was resolved to the real file,
    each locked a file beside the name it had, and both ran on one database (SQLite
    has no row locks: the same mentions were decided and answered twice)."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    real = tmp_path / "data" / "inchannel.db"
    real.parent.mkdir()
    (tmp_path / "var" / "inchannel.db").rename(real)
    link = tmp_path / "var" / "inchannel.db"
    link.symlink_to(real)
    with only_worker(f"sqlite:///{real}"):
        result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    assert result.exit_code == 1, result.output
    assert result.stderr == (
        f"error: another inchannel run (pid {os.getpid()}) is using {link}; SQLite "
        "takes one worker at a time (use PostgreSQL for several)\n"
    )


def test_db_copy_refuses_while_a_run_uses_the_sqlite_database(
    demo_config: Path, tmp_path: Path
) -> None:
    """Stopping the daemon first was only documented: a forgotten worker's rows written
    after its table was copied were silently missing from the new database."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    database, target = tmp_path / "var" / "inchannel.db", tmp_path / "copy.db"
    copy = ["db", "copy", "--config", str(demo_config), "--to", f"sqlite:///{target}"]
    with only_worker(f"sqlite:///{database}"):
        result = CliRunner().invoke(main, copy)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: an inchannel run (pid {os.getpid()}) is using {database}: stop it before "
        "copying; what it writes meanwhile or later would not be in the copy\n"
    )
    assert not target.exists()
    code, output = invoke(*copy)  # the worker stopped
    assert code == 0, output
    assert output.endswith(f"copied into sqlite:///{target}\n")


def test_a_worker_started_during_a_db_copy_is_told_it_is_a_copy(
    demo_config: Path, tmp_path: Path
) -> None:
    # The copy holds the worker lock; the worker it turned away said "another inchannel
    # run (pid N)", naming the copy's pid as a worker's (the copy's comment said the
    # worker waited for it: it is refused).
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    database = tmp_path / "var" / "inchannel.db"
    with only_worker(f"sqlite:///{database}", role=COPY):
        result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: inchannel db copy (pid {os.getpid()}) is copying {database}; start again "
        "when it is done\n"
    )


@pytest.mark.parametrize("revision", [None, "0006"])
def test_serve_refuses_a_database_older_than_its_code(
    demo_config: Path, db_url: str, revision: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dashboard on a schema older than its code failed on its pages (and created the
    demo user on it); it refuses to start, like a worker, and names the command to run."""
    from monitor.store.db import make_engine, upgrade

    text = demo_config.read_text(encoding="utf-8")
    url = f"sqlite:///{demo_config.parent.parent}/var/inchannel.db"
    demo_config.write_text(text.replace(url, db_url), encoding="utf-8")
    engine = make_engine(db_url)
    if revision is not None:
        upgrade(engine, revision)
    where = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    served: list[object] = []
    monkeypatch.setattr("monitor.web.server.serve", lambda rt, **_: served.append(rt))
    code, output = invoke("serve", "--config", str(demo_config))
    state = f"is at revision {revision}"
    if revision is None:  # a SQLite file is created by the migrations alone
        state = "does not exist yet" if db_url.startswith("sqlite") else "has no schema"
    assert (code, served) == (1, [])
    upgrade = f"inchannel db upgrade --config {demo_config}"
    assert output == f"error: the database {where} {state}; run `{upgrade}` first\n"


def test_a_rule_file_changed_during_start_is_not_a_traceback(
    demo_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`run` validated the rule files, then loaded them again to build its runtime: a
    `git pull` in between that broke one died with a traceback instead of exit 2. The
    rules are loaded once; the daemon's reload check sees the change later, and keeps
    running these rules if it does not validate."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    rules = sorted((demo_config.parent / "rules").glob("*.yaml"))
    read_text = pathlib.Path.read_text

    def pulled_after_reading(path: pathlib.Path, *args: Any, **kwargs: Any) -> str:
        text = read_text(path, *args, **kwargs)
        if path == rules[0]:  # the pull lands just after the first read
            path.write_text("name: broken\nmatch: {txet: refund}\n", encoding="utf-8")
        return text

    monkeypatch.setattr(pathlib.Path, "read_text", pulled_after_reading)
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0, result.output


def test_run_once_records_a_failed_job_for_status_and_exits_1(
    demo_config: Path, tmp_path: Path
) -> None:
    """Cron-style `run --once` whose health job fails (the database refuses its row):
    the failure was a traceback that `inchannel status` never saw, so status said
    healthy. It is recorded as the scheduled job records it, the rest of the cycle
    runs, and the exit code says a job failed."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    with db:
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON source_state WHEN NEW.name = '@alerts' "
            "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "error: run --once: 1 job failed: health: IntegrityError: disk says no" in (
        result.output
    )
    replied = "SELECT count(*) FROM actions WHERE status = 'sent'"
    assert db.execute(replied).fetchone()[0] > 0  # dispatch still ran
    code, output = invoke("status", "--json", "--config", str(demo_config))
    assert code == 1
    (problem,) = [p for p in json.loads(output)["problems"] if p.startswith("job ")]
    assert problem.startswith("job health: 1 failed run in a row, the last ")
    assert problem.endswith(": IntegrityError: disk says no")


def test_run_once_stops_after_the_running_step_on_sigterm(
    demo_config: Path, tmp_path: Path
) -> None:
    """SIGTERM (a cron `timeout`, `systemctl stop` of a timer's unit) ended `run --once`
    at once, mid-send or not, and kept its leases; it now stops as the daemon does."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    unhandled: list[int] = []
    sent: list[str] = []

    def sigterm_at_the_claim(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # As processing claims the polled messages: the sources polled, nothing decided.
        if "WHERE messages.processed IS" in statement and not sent:
            sent.append(statement)
            signal.raise_signal(signal.SIGTERM)

    # Were the run not to handle it, SIGTERM would end pytest itself.
    def ours(signum: int, _frame: object) -> None:
        unhandled.append(signum)

    previous = signal.signal(signal.SIGTERM, ours)
    event.listen(Engine, "before_cursor_execute", sigterm_at_the_claim)
    try:
        code, output = invoke("run", "--once", "--config", str(demo_config))
        assert signal.getsignal(signal.SIGTERM) is ours  # given back when the run ends
    finally:
        event.remove(Engine, "before_cursor_execute", sigterm_at_the_claim)
        signal.signal(signal.SIGTERM, previous)
    assert len(sent) == 1
    assert unhandled == []
    assert code == 1
    assert "error: run --once: stopped by a signal before the cycle finished" in output
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    assert db.execute("SELECT count(*) FROM actions WHERE status = 'sent'").fetchone() == (0,)
    leases = db.execute("SELECT lease_owner FROM source_state WHERE name = 'demo'").fetchall()
    assert leases == [(None,)]


STUCK_ONCE = """
import logging, os, signal, sys, threading
from datetime import UTC, datetime
from pathlib import Path
from monitor.commands.run_once import run_once
from monitor.clock import FakeClock
from monitor.daemon import STOP_GRACE_SECONDS
from monitor.runtime import build_runtime
from monitor.store.db import upgrade
from tests.conftest import settings_for, write_jsonl
from tests.test_daemon import _HangingSource, _Logged

folder = Path(sys.argv[1])
feed = write_jsonl(folder / "feed.jsonl", [])
settings = settings_for(folder, f"sqlite:///{folder}/stuck.db", feed)
clock = FakeClock(datetime.now(UTC))
rt = build_runtime(settings, clock=clock)
upgrade(rt.engine)
source = _HangingSource("feed", threading.Event(), seconds=600)  # never answers
rt.sources["feed"] = source
waiting, gave_up = _Logged("stopping: waiting up to"), _Logged("stopping without")
for handler in (waiting, gave_up):
    logging.getLogger("inchannel.daemon").addHandler(handler)
logging.getLogger("inchannel").setLevel(logging.INFO)

def stop() -> None:
    source.entered.wait(10)
    print("stuck", flush=True)  # the test sends SIGTERM, as `timeout` stops a cron run
    if waiting.seen.wait(30):
        # Again until the stop gives up: it reads the clock first just after that line.
        for _ in range(200):
            clock.advance(seconds=STOP_GRACE_SECONDS + 1)
            if gave_up.seen.wait(0.05):
                break

threading.Thread(target=stop, daemon=True).start()
run_once(rt)
"""


def test_run_once_stuck_in_a_step_stops_on_sigterm_within_the_grace(tmp_path: Path) -> None:
    """A poll that never returns held `run --once` past SIGTERM for ever (`timeout` sends
    it once): the signal only asked the running step to finish. As the daemon's stop, it
    waits 60 s for the step, then releases the leases and exits 1 naming the step."""
    process = subprocess.Popen(
        [sys.executable, "-c", STUCK_ONCE, str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "stuck\n"
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 1, err
    assert err.splitlines()[-1] == (
        "error: run --once: stopped by a signal; the steps still running after 60 s were "
        "left behind: poll:feed"
    )
    db = sqlite3.connect(tmp_path / "stuck.db")
    leases = db.execute("SELECT lease_owner FROM source_state WHERE name = 'feed'").fetchall()
    assert leases == [(None,)]


def previous_revision() -> str:
    """The revision this version's last migration starts from."""
    from alembic.script import ScriptDirectory

    from monitor.store.db import alembic_config, make_engine

    scripts = ScriptDirectory.from_config(alembic_config(make_engine("sqlite://")))
    previous = scripts.get_revision(head_revision()).down_revision
    assert isinstance(previous, str)
    return previous


def test_db_downgrade_goes_back_a_revision_and_upgrade_comes_again(
    demo_config: Path, db_url: str
) -> None:
    """docs/operations.md told operators how going back to an earlier revision behaves,
    but there was no command to do it, and migrations/env.py refuses plain `alembic`."""
    text = demo_config.read_text(encoding="utf-8")
    url = f"sqlite:///{demo_config.parent.parent}/var/inchannel.db"
    demo_config.write_text(text.replace(url, db_url), encoding="utf-8")
    config = ("--config", str(demo_config))
    head, previous = head_revision(), previous_revision()
    assert invoke("db", "upgrade", *config)[0] == 0
    assert invoke("run", "--once", *config)[0] == 0  # rows to keep
    code, output = invoke("db", "downgrade", previous, *config)
    assert (code, output) == (0, f"database at revision {previous} (was {head})\n")
    code, output = invoke("db", "current", *config)
    assert (code, output) == (1, f"database: {previous}; this version: {head}\n")
    code, output = invoke("db", "downgrade", previous, *config)
    assert (code, output) == (0, f"database at revision {previous} already\n")
    assert invoke("db", "upgrade", *config) == (0, f"database at revision {head}\n")
    code, output = invoke("status", "--json", *config)
    assert json.loads(output)["outbox"]["sent"] > 0, output


def test_db_downgrade_refuses_what_it_cannot_go_back_to(demo_config: Path) -> None:
    config = ("--config", str(demo_config))
    head, previous = head_revision(), previous_revision()
    code, output = invoke("db", "downgrade", previous, *config)
    assert (code, output.count("\n")) == (1, 1), output
    assert output.startswith("error: the database sqlite:///")
    assert output.endswith(" does not exist yet: there is no revision to go back from\n")
    assert invoke("db", "upgrade", *config)[0] == 0
    for unknown in ("0099", "base", "7", "00"):
        code, output = invoke("db", "downgrade", unknown, *config)
        assert (code, output.count("\n")) == (1, 1), output
        known = "this inchannel's are 0001, "
        assert output.startswith(f"error: unknown revision '{unknown}'; {known}")
        assert output.endswith(f", {head}\n")
    assert invoke("db", "downgrade", previous, *config)[0] == 0
    code, output = invoke("db", "downgrade", head, *config)
    assert (code, output) == (
        1,
        f"error: revision {head} is newer than the database's ({previous}): `db downgrade` "
        "only goes back; run `inchannel db upgrade` to go forward\n",
    )
    assert invoke("db", "current", *config)[1].startswith(f"database: {previous};")


def test_db_downgrade_refuses_while_a_run_uses_the_sqlite_database(
    demo_config: Path, tmp_path: Path
) -> None:
    # A worker of this version on an older schema fails on every column it added.
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    database = tmp_path / "var" / "inchannel.db"
    downgrade = ["db", "downgrade", previous_revision(), "--config", str(demo_config)]
    with only_worker(f"sqlite:///{database}"):
        result = CliRunner().invoke(main, downgrade)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: an inchannel run (pid {os.getpid()}) is using {database}: stop it before "
        "going back; it would run on a schema older than its code\n"
    )
    assert invoke("db", "current", "--config", str(demo_config))[0] == 0  # unchanged
    with only_worker(f"sqlite:///{database}", role=DOWNGRADE):
        result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: inchannel db downgrade (pid {os.getpid()}) is migrating {database}; start "
        "again when it is done\n"
    )


def test_run_once_during_a_database_outage_ends_with_its_report_and_the_leases_line(
    demo_config: Path, tmp_path: Path
) -> None:
    """The database went away mid-cycle: every job failed, then releasing the leases
    failed too, and its error replaced the run's own report: stderr said only "the
    database cannot be used", neither which jobs failed nor that the sources stay
    leased, and the "cycle done" line was never logged. The run now ends as the daemon
    does: the cycle's report, one line about the leases, exit 1."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    away: list[str] = []

    def outage_from_the_first_claim(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The sources are polled (their leases taken); the server goes away as
        # processing claims what they stored, and stays away to the end of the run.
        if statement == "BEGIN IMMEDIATE":
            return  # each unit of work's first statement (SQLite): seen failing at its next
        if away or "WHERE messages.processed IS" in statement:
            away.append(statement)
            raise OperationalError(statement, {}, Exception("server closed the connection"))

    event.listen(Engine, "before_cursor_execute", outage_from_the_first_claim)
    try:
        result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    finally:
        event.remove(Engine, "before_cursor_execute", outage_from_the_first_claim)
    assert any(s.startswith("UPDATE source_state SET lease_owner") for s in away)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    gone = "Exception: server closed the connection"
    jobs = ("process", "sla", "dispatch", "health", "dispatch")
    assert errors == [
        f"error: run --once: 5 jobs failed: {'; '.join(f'{job}: {gone}' for job in jobs)}",
        "error: run --once: could not release the source leases (the next run polls those "
        f"sources once the leases expire, within 120 s): {gone}",
    ]
    assert "INFO inchannel cycle done polls=7 " in result.stderr
    db = sqlite3.connect(tmp_path / "var" / "inchannel.db")
    held = "SELECT lease_owner IS NOT NULL FROM source_state WHERE name = 'demo'"
    assert db.execute(held).fetchone() == (1,)


def test_a_run_lock_the_worker_cannot_open_is_one_line_and_exit_2(
    demo_config: Path, tmp_path: Path
) -> None:
    """A `sudo inchannel run --once` leaves the lock file owned by root: the service
    user's worker stopped with a PermissionError traceback (exit 1), and systemd
    restarted it for ever. Staged with a folder under the lock's name (the tests run as
    root, whom a chmod does not stop)."""
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    lock = tmp_path / "var" / "inchannel.db.run-lock"
    lock.mkdir()
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(demo_config)])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"error: cannot open the worker lock file {lock}: Is a directory; the user running "
        "inchannel must be able to write it (a `sudo inchannel run` leaves it owned by root: "
        "chown it to that user, or delete it while no inchannel runs)\n"
    )


def test_run_once_with_serve_is_a_usage_error(demo_config: Path, tmp_path: Path) -> None:
    # `--once` returned after its cycle and `--serve` was silently never done: a cron
    # job or a person expecting the dashboard got an exit 0 and no dashboard.
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    result = CliRunner().invoke(main, ["run", "--once", "--serve", "--config", str(demo_config)])
    assert result.exit_code == 2
    assert "--once and --serve cannot be used together" in result.stderr
    assert not (tmp_path / "var" / "recorded-posts.jsonl").exists()  # no cycle was run


@pytest.mark.parametrize(
    "command", [["db", "copy", "--to", "sqlite://"], ["db", "downgrade", "0001"]]
)
def test_db_commands_name_a_run_lock_they_cannot_open(
    demo_config: Path, tmp_path: Path, command: list[str]
) -> None:
    # They take the worker lock too, and stopped with the same traceback.
    assert invoke("db", "upgrade", "--config", str(demo_config))[0] == 0
    lock = tmp_path / "var" / "inchannel.db.run-lock"
    lock.mkdir()
    result = CliRunner().invoke(main, [*command, "--config", str(demo_config)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: cannot open the worker lock file {lock}: ")


@pytest.fixture
def shared_demo_config() -> Iterator[Path]:
    """The demo config in a folder another user may enter: /tmp itself, since pytest's
    own folders are its owner's alone."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="inchannel-shared-"))
    try:
        shutil.copytree(REPO / "config", folder / "config")
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        yield folder / "config" / "inchannel.yaml"
    finally:
        shutil.rmtree(folder)


def invoke_as_another_user(*args: str) -> tuple[int, str, BaseException | None]:
    """As a service user would: root reads any folder whatever its mode, so the tests
    (which run as root) take the identity of `nobody` for the command."""
    switch = os.geteuid() == 0
    if switch:
        os.seteuid(65534)
    try:
        result = CliRunner().invoke(main, list(args))
    finally:
        if switch:
            os.seteuid(0)
    return result.exit_code, result.output, result.exception


@pytest.mark.parametrize("folder", ["rules", "answers"])
@pytest.mark.parametrize("command", [["check-config"], ["run", "--once"]])
def test_a_rules_folder_the_service_user_cannot_read_is_a_config_error(
    shared_demo_config: Path, folder: str, command: list[str]
) -> None:
    """A rules (or answers) folder the service user may not list (a checkout by another
    user with umask 077) stopped `run` with a PermissionError traceback, exit 1: systemd
    restarted it every RestartSec for ever, as it does not for exit 2."""
    config = str(shared_demo_config)
    assert invoke("check-config", "--config", config)[0] == 0  # the modules it imports, loaded
    assert invoke_as_another_user("check-config", "--config", config)[:2] == (0, ANY)
    unreadable = shared_demo_config.parent / folder
    unreadable.chmod(0o000)
    code, output, exception = invoke_as_another_user(*command, "--config", config)
    assert code == 2, (output, exception)
    assert f"{unreadable}:1:1: cannot read the folder: Permission denied" in output


@pytest.mark.parametrize(
    "command",
    [
        ["serve"],
        ["db", "upgrade"],
        ["status"],
        ["cases", "list"],
        ["run", "--once"],
        ["db", "copy", "--to", "sqlite://"],
        ["db", "downgrade", "0001"],
    ],
)
def test_a_database_folder_that_cannot_be_created_is_one_line_and_exit_2(
    demo_config: Path, tmp_path: Path, command: list[str]
) -> None:
    """`database.url` naming a folder inchannel cannot create (one the service user may
    not write in; staged with a file where a folder of the path goes, since the tests
    run as root) stopped `serve` with a traceback and exit 1, which systemd restarts
    every RestartSec for ever; `run` blamed its worker lock file and a `sudo`."""
    (tmp_path / "var").write_text("a file, not a folder\n", encoding="utf-8")
    result = CliRunner().invoke(main, [*command, "--config", str(demo_config)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.stderr == (
        f"error: cannot create the database folder {tmp_path / 'var'}: File exists; "
        "the user running inchannel must be able to create it, or create it for that user\n"
    )


def test_a_database_not_created_yet_is_left_uncreated(demo_config: Path, tmp_path: Path) -> None:
    """`inchannel status` on a fresh checkout created an empty SQLite file, then said it
    had no schema: a typo in database.url left a stray database behind, and the file
    looked like one someone had set up."""
    database = tmp_path / "var" / "inchannel.db"
    for command in (("status",), ("run", "--once"), ("cases", "list"), ("rules", "status")):
        code, output = invoke(*command, "--config", str(demo_config))
        assert code == 1, output
        assert output == (
            f"error: the database sqlite:///{database} does not exist yet; "
            f"run `inchannel db upgrade --config {demo_config}` first\n"
        )
        assert not database.exists(), command


def test_a_refused_missing_database_leaves_no_worker_lock_beside_it(
    demo_config: Path, tmp_path: Path
) -> None:
    """`run` and `db copy` took the worker lock before finding the database missing:
    the refusal was right, but an `inchannel.db.run-lock` stayed beside no database."""
    database = tmp_path / "var" / "inchannel.db"
    target = f"sqlite:///{tmp_path / 'moved.db'}"
    upgrade = f"inchannel db upgrade --config {demo_config}"
    for command, prefix in ((("run", "--once"), ""), (("db", "copy", "--to", target), "source: ")):
        code, output = invoke(*command, "--config", str(demo_config))
        assert (code, output) == (
            1,
            f"error: {prefix}the database sqlite:///{database} does not exist yet; "
            f"run `{upgrade}` first\n",
        )
        assert not Path(f"{database}.run-lock").exists(), command
    assert not (tmp_path / "moved.db").exists()
