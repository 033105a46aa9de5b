"""Sign-in under load and the edges of accounts: how many password checks run at once,
the last admin, names longer than a name may be."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from starlette.testclient import TestClient

from monitor.cli import main
from monitor.runtime import Runtime
from monitor.store.web_models import WebUser
from monitor.web.app import create_app
from monitor.web.users import (
    PASSWORD_WORK,
    LoginRefused,
    PasswordWork,
    PasswordWorkBusy,
    UserError,
    authenticate,
    create_user,
    disable,
    enable,
)
from tests.conftest import RuntimeFactory
from tests.test_web_users import config  # noqa: F401  (the CLI's SQLite config fixture)
from tests.webkit import NONCE, PASSWORD, login, seeded


def _failed_logins(rt: Runtime, name: str) -> int:
    with rt.sessions() as session:
        count = session.scalar(select(WebUser.failed_logins).where(WebUser.name == name))
    assert count is not None
    return count


def test_password_checks_run_a_few_at_a_time_and_the_rest_are_asked_to_try_again(
    make_runtime: RuntimeFactory,
) -> None:
    # Each argon2 check takes 64 MiB: anyone could start one per server thread (40) at
    # once, about 2.5 GB, without an account. The process runs a few at a time; a
    # sign-in that finds no free slot within the wait is told to try again.
    assert PASSWORD_WORK.slots <= 4
    rt = seeded(make_runtime)
    work = PasswordWork(slots=2, wait_seconds=0)
    client = TestClient(create_app(rt, password_work=work))
    nonce = NONCE.search(client.get("/login").text)
    assert nonce is not None
    with work.slot(), work.slot():
        for password in (PASSWORD, "wrong-wrong-wrong"):
            busy = client.post(
                "/login", data={"name": "alice", "password": password, "nonce": nonce[1]}
            )
            assert busy.status_code == 503
            assert busy.headers["retry-after"] == "5"
            assert "too many sign-ins at once: please try again in a moment" in busy.text
            assert "wrong name or password" not in busy.text
        with pytest.raises(PasswordWorkBusy):
            authenticate(rt, "nobody", "whatever-it-is", work=work)
    # Nothing was checked, so nothing counts toward the lockout.
    assert _failed_logins(rt, "alice") == 0
    assert login(client, "alice")


def test_a_name_longer_than_a_name_may_be_is_an_unknown_name(
    make_runtime: RuntimeFactory,
) -> None:
    # The typed name was cut to 64 characters: "<64-character name>x" signed in to the
    # 64-character account and its wrong passwords locked that account.
    rt = seeded(make_runtime)
    long_name = "m" * 64
    create_user(rt, long_name, "agent", PASSWORD, ("care",))
    assert authenticate(rt, long_name, PASSWORD).name == long_name
    with pytest.raises(LoginRefused):
        authenticate(rt, long_name + "x", PASSWORD)
    for _ in range(3):
        with pytest.raises(LoginRefused):
            authenticate(rt, long_name + "x", "wrong-wrong-wrong")
    assert _failed_logins(rt, long_name) == 0
    client = TestClient(create_app(rt))
    nonce = NONCE.search(client.get("/login").text)
    assert nonce is not None
    form = {"name": long_name + "X", "password": PASSWORD, "nonce": nonce[1]}
    assert client.post("/login", data=form).status_code == 401


def test_the_last_active_admin_cannot_be_disabled(make_runtime: RuntimeFactory) -> None:
    # With every admin disabled nobody can open /admin/users again from the dashboard.
    rt = seeded(make_runtime)  # root is the one admin
    with pytest.raises(UserError, match="root is the last active admin"):
        disable(rt, "root")
    assert authenticate(rt, "root", PASSWORD).name == "root"
    create_user(rt, "ada", "admin", PASSWORD)
    disable(rt, "root")
    with pytest.raises(UserError, match="ada is the last active admin"):
        disable(rt, "ada")
    enable(rt, "root")
    disable(rt, "ada")
    disable(rt, "alice")  # not an admin: the check does not apply


def test_users_disable_refuses_the_last_active_admin_with_exit_1(
    config: Path,  # noqa: F811
) -> None:
    runner = CliRunner()
    args = ["--config", str(config)]
    typed = "s3cret-pass\ns3cret-pass\n"
    added = runner.invoke(main, ["users", "add", "ada", "--role", "admin", *args], input=typed)
    assert added.exit_code == 0, added.output
    result = runner.invoke(main, ["users", "disable", "ada", *args])
    assert (result.exit_code, result.output) == (
        1,
        "error: ada is the last active admin: add or enable another admin first, "
        "or nobody can manage users in the dashboard\n",
    )
    listed = runner.invoke(main, ["users", "list", *args])
    assert listed.output == "ada\tadmin\t-\tok\n"
