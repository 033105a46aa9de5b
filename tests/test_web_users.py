"""`inchannel users ...` and the demo user that `make run` creates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, event, select

from monitor.cli import main
from monitor.runtime import Runtime
from monitor.store.models import Event
from monitor.store.web_models import WebUser
from monitor.web.server import announce_demo_user
from monitor.web.users import (
    UserError,
    authenticate,
    create_user,
    disable,
    ensure_demo_user,
    set_password,
)
from tests.conftest import REPO, RuntimeFactory
from tests.webkit import PASSWORD


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """SQLite only: each command builds its own engine, as a real invocation does."""
    db_url = f"sqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "inchannel.yaml"
    feed = tmp_path / "feed.jsonl"
    feed.write_text("", encoding="utf-8")
    path.write_text(
        f"brand: {{name: Acme}}\ndatabase: {{url: '{db_url}'}}\n"
        f"sources: [{{name: feed, type: replay, path: {feed}}}]\n"
        "teams: [{name: care}, {name: billing}, {name: tech}, {name: international}]\n"
        f"rules: {{path: {REPO / 'config' / 'rules'}}}\n",
        encoding="utf-8",
    )
    assert CliRunner().invoke(main, ["db", "upgrade", "--config", str(path)]).exit_code == 0
    return path


def _run(config: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [*args, "--config", str(config)], input=input)
    return result.exit_code, result.output


def test_a_name_that_cannot_be_used_is_refused_before_the_password_prompt(
    config: Path,
) -> None:
    # No input at all: a prompt would read end-of-file and abort instead.
    code, out = _run(config, "users", "add", "bob", "--role", "agent", "--team", "sales")
    assert (code, out) == (
        1,
        "error: unknown team 'sales' (teams: billing, care, international, tech)\n",
    )
    assert _run(config, "users", "passwd", "nobody") == (1, "error: no user nobody\n")
    typed = "s3cret-pass\ns3cret-pass\n"
    assert _run(config, "users", "add", "dee", "--role", "agent", input=typed)[0] == 0
    code, out = _run(config, "users", "add", "dee", "--role", "lead")
    assert (code, out) == (1, "error: user dee exists already\n")


def test_users_add_list_passwd_and_token(config: Path) -> None:
    code, out = _run(
        config,
        "users",
        "add",
        "alice",
        "--role",
        "agent",
        "--team",
        "care",
        input="s3cret-pass\ns3cret-pass\n",
    )
    assert (code, out.splitlines()[-1]) == (0, "user alice (agent; teams: care) added")
    code, out = _run(config, "users", "add", "alice", "--role", "lead", "--generate-password")
    assert (code, out) == (1, "error: user alice exists already\n")  # no password shown
    code, out = _run(
        config, "users", "add", "bob", "--role", "agent", "--team", "sales", "--generate-password"
    )
    assert code == 1
    assert (
        out.splitlines()[-1]
        == "error: unknown team 'sales' (teams: billing, care, international, tech)"
    )
    code, out = _run(config, "users", "add", "cy", "--role", "boss", "--generate-password")
    assert code == 2
    assert "'boss' is not one of 'agent', 'lead', 'admin'" in out
    assert _run(config, "users", "list") == (0, "alice\tagent\tcare\tok\n")
    code, out = _run(config, "users", "passwd", "alice", "--generate-password")
    assert code == 0
    assert out.startswith("password: ")  # after the change is made
    assert out.endswith("password of alice changed\n")
    code, out = _run(config, "users", "token", "alice")
    assert code == 0
    assert out.startswith("inch_")
    assert len(out.strip()) > 40
    assert _run(config, "users", "token", "nobody") == (1, "error: no user nobody\n")
    assert _run(config, "users", "disable", "alice") == (
        0,
        "alice disabled: signed out everywhere, API token revoked\n",
    )
    assert _run(config, "users", "list") == (0, "alice\tagent\tcare\tdisabled\n")
    assert _run(config, "users", "disable", "alice") == (
        1,
        "error: user alice is disabled already\n",
    )
    assert _run(config, "users", "enable", "alice") == (0, "alice enabled\n")
    assert _run(config, "users", "list") == (0, "alice\tagent\tcare\tok\n")
    assert _run(config, "users", "enable", "nobody") == (1, "error: no user nobody\n")


def test_users_commands_name_a_user_as_sign_in_and_cases_assign_read_it(config: Path) -> None:
    # Offboarding "Alice" (as the HR ticket spells her) answered "no user Alice": her
    # access looked gone already, and stayed. Sign-in and `cases assign` read the name
    # case-blind and stripped; these commands must mean the same account.
    assert _run(config, "users", "add", "alice", "--role", "agent", "--generate-password")[0] == 0
    code, out = _run(config, "users", "token", " Alice")
    assert code == 0, out
    assert out.startswith("inch_")
    code, out = _run(config, "users", "passwd", "ALICE", "--generate-password")
    assert (code, out.splitlines()[-1]) == (0, "password of alice changed")
    assert _run(config, "users", "disable", "Alice") == (
        0,
        "alice disabled: signed out everywhere, API token revoked\n",
    )
    assert _run(config, "users", "list") == (0, "alice\tagent\t-\tdisabled\n")
    assert _run(config, "users", "enable", "Alice ") == (0, "alice enabled\n")


def test_demo_user_is_created_once_and_can_sign_in(
    make_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    rt: Runtime = make_runtime()
    assert rt.settings.is_demo
    announce_demo_user(rt)
    printed = capsys.readouterr().err
    password = printed.split("password: ")[1].split()[0]
    assert authenticate(rt, "demo", password).role == "admin"
    assert ensure_demo_user(rt) is None  # never again, never a second password


def test_a_later_demo_start_names_the_address_and_user_again(
    make_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    # `make run`, Ctrl-C, `make run`: the second start printed no word of how to sign
    # in, and the first start's terminal output is often gone by then.
    rt: Runtime = make_runtime()
    announce_demo_user(rt)
    capsys.readouterr()
    announce_demo_user(rt)
    again = capsys.readouterr().err
    assert "dashboard: http://127.0.0.1:8000/  user: demo\n" in again
    assert "password:" not in again  # never printed twice, never a new one
    assert "`inchannel users passwd demo` sets a new one" in again


def test_a_later_demo_start_says_nothing_of_a_disabled_demo_user(
    make_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    rt: Runtime = make_runtime()
    announce_demo_user(rt)
    create_user(rt, "maria", "admin", PASSWORD, ("care",))
    disable(rt, "demo")
    capsys.readouterr()
    announce_demo_user(rt)
    assert capsys.readouterr().err == ""


def test_two_processes_starting_on_a_fresh_demo_database_make_one_demo_user(
    make_runtime: RuntimeFactory,
) -> None:
    # `inchannel serve` and `inchannel run` started together: both found no users, and
    # the one that created demo second failed. Deterministic: the first process creates
    # demo right after the second has counted the users, at the second's database.
    first: Runtime = make_runtime()
    second: Runtime = make_runtime()
    passwords: list[str | None] = []

    def first_process_gets_there(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        counted = "web_users" in sql and sql.lstrip().upper().startswith("SELECT")
        if counted and not passwords:
            passwords.append(ensure_demo_user(first))

    event.listen(second.engine, "after_cursor_execute", first_process_gets_there)
    try:
        assert ensure_demo_user(second) is None  # one password, the one shown first
    finally:
        event.remove(second.engine, "after_cursor_execute", first_process_gets_there)
    [password] = passwords
    assert password is not None
    assert authenticate(second, "demo", password).role == "admin"
    with second.sessions() as session:
        assert session.scalars(select(WebUser.name)).all() == ["demo"]
        assert session.scalars(select(Event.kind).where(Event.kind == "user_added")).all() == [
            "user_added"
        ]


def test_a_user_added_twice_at_the_same_moment_is_refused_as_existing_already(
    make_runtime: RuntimeFactory, db_url: str, tmp_path: Path
) -> None:
    # `inchannel users add dee` while an admin adds dee on the dashboard: both found no
    # dee, and the command's INSERT failed on the unique name ("the database cannot be
    # used"). Deterministic: the dashboard adds dee right after the command's last look-up.
    # The command hashes the password outside its transaction, so on SQLite too the
    # dashboard's add does not wait for it (50 ms: in one thread a wait would fail).
    dashboard: Runtime = make_runtime(database={"url": db_url, "busy_timeout_ms": 50})
    config = tmp_path / "race.yaml"
    config.write_text(
        f"brand: {{name: Acme}}\ndatabase: {{url: '{db_url}'}}\nsources: []\n"
        "teams: [{name: care}]\n",
        encoding="utf-8",
    )
    lookups: list[str] = []
    commands: set[Engine] = set()

    def dashboard_gets_there(conn: Connection, _cursor: object, sql: str, *_: object) -> None:
        if conn.engine is dashboard.engine or "web_users" not in sql:
            return
        commands.add(conn.engine)
        lookups.append(sql)
        # The first look-up is before the password prompt; the second is create_user's.
        if len(lookups) == 2:
            create_user(dashboard, "dee", "lead", "dashboard-pass", actor="alice")

    event.listen(Engine, "after_cursor_execute", dashboard_gets_there)
    try:
        code, out = _run(config, "users", "add", "dee", "--role", "agent", "--generate-password")
    finally:
        event.remove(Engine, "after_cursor_execute", dashboard_gets_there)
        for engine in commands:
            engine.dispose()  # the command's pooled connection, closed rather than collected
    assert len(lookups) >= 2
    # No password printed: it belongs to no account.
    assert (code, out) == (1, "error: user dee exists already\n")
    assert authenticate(dashboard, "dee", "dashboard-pass").role == "lead"
    with dashboard.sessions() as session:
        assert session.scalars(select(WebUser.name)).all() == ["dee"]
        added = select(Event.actor).where(Event.kind == "user_added")
        assert session.scalars(added).all() == ["alice"]


def test_a_refused_user_name_is_told_what_names_may_be(config: Path) -> None:
    # "_ops" and a 65-character name hold only the characters the message listed, so
    # "lower-case letters, digits, . _ -" did not say what was wrong with them.
    for name in ("_ops", "a" * 65):
        code, out = _run(config, "users", "add", name, "--role", "agent", "--generate-password")
        assert (code, out) == (
            1,
            f"error: bad user name {name[:40]!r}: 1 to 64 lower-case letters, digits, . _ -, "
            "starting with a letter or digit\n",
        )


def test_passwords_are_hashed_at_argon2s_recommended_cost() -> None:
    """The suite hashes cheaply (conftest); a real process must not."""
    probe = (
        "from monitor.web import users; h = users.HASHER; "
        "print(h.type.name, h.time_cost, h.memory_cost, h.parallelism, users._DUMMY_HASH[:30])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout
    # RFC 9106's second recommended option (the low-memory one), argon2-cffi's default.
    assert out.split() == ["ID", "3", "65536", "4", "$argon2id$v=19$m=65536,t=3,p=4"]


def test_users_add_stores_a_team_given_twice_once(config: Path) -> None:
    args = ["users", "add", "ann", "--role", "agent", "--generate-password"]
    code, out = _run(config, *args, "--team", "care", "--team", "tech", "--team", "care")
    assert (code, out.splitlines()[-1]) == (0, "user ann (agent; teams: care, tech) added")
    assert _run(config, "users", "list") == (0, "ann\tagent\tcare,tech\tok\n")


def test_a_password_typed_in_a_terminal_that_is_not_utf8_is_refused_not_a_traceback(
    config: Path, make_runtime: RuntimeFactory
) -> None:
    # A Latin-1 terminal's "é" reaches Python as an unpaired surrogate, which argon2 cannot
    # hash: `users add` and `users passwd` ended in a UnicodeEncodeError traceback.
    assert _run(config, "users", "add", "dee", "--role", "agent", "--generate-password")[0] == 0
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8:surrogateescape"}
    typed = b"caf\xe9-caf\xe9-pass\ncaf\xe9-caf\xe9-pass\n"
    for args in (["add", "eve", "--role", "agent"], ["passwd", "dee"]):
        done = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "users", *args, "--config", str(config)],
            input=typed,
            env=env,
            capture_output=True,
            check=False,
            start_new_session=True,  # no terminal to prompt on: the password comes from stdin
        )
        err = done.stderr.decode("utf-8", "replace")
        assert (done.returncode, err.splitlines()[-1]) == (
            1,
            "error: the password holds a character that is no UTF-8 (is the terminal set to "
            "UTF-8?)",
        ), err
    assert _run(config, "users", "list") == (0, "dee\tagent\t-\tok\n")
    rt: Runtime = make_runtime()
    create_user(rt, "zed", "agent", PASSWORD)
    for work in (
        lambda: create_user(rt, "zoe", "agent", "caf\udce9-caf\udce9-pass"),
        lambda: set_password(rt, "zed", "caf\udce9-caf\udce9-pass"),
    ):
        with pytest.raises(UserError, match="no UTF-8"):
            work()
    assert authenticate(rt, "zed", PASSWORD).name == "zed"
