"""Adding a user or setting a password while colleagues sign in (SQLite's write lock).

On SQLite every unit of work holds the database's write lock from its start. The
argon2 hash of a new password (tenths of a second, after waiting for a hashing slot)
must not run inside it: every other writer (a sign-in counting a wrong password, the
daemon's jobs) waited for it, and a sign-in holding a hashing slot while it waited for
the lock made the add wait for the slot in turn: both failed after their timeouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from monitor.runtime import Runtime
from monitor.store.web_models import WebSignInFailure, WebUser
from monitor.web.users import (
    LoginRefused,
    PasswordWork,
    authenticate,
    create_user,
    set_password,
)
from tests.conftest import RuntimeFactory


class ColleagueWhileHashing(PasswordWork):
    """The hashing slot create_user and set_password take (their ``work``): while the
    password is hashed, a colleague signs in from the dashboard (its own connection)."""

    def __init__(self, colleague: Callable[[], None]) -> None:
        super().__init__(slots=1, wait_seconds=1)
        self.colleague = colleague
        self.outcome: list[str] = []

    @contextmanager
    def slot(self) -> Iterator[None]:
        with super().slot():
            try:
                self.colleague()
                self.outcome.append("ok")
            except OperationalError as exc:
                self.outcome.append(str(exc.orig))
            yield


def wrong_password(dashboard: Runtime, name: str) -> Callable[[], None]:
    def sign_in() -> None:
        with pytest.raises(LoginRefused):
            authenticate(dashboard, name, "not-the-password-1")

    return sign_in


def failed_logins(rt: Runtime, name: str) -> int:
    with rt.sessions() as session:
        query = (
            select(func.count())
            .select_from(WebSignInFailure)
            .join(WebUser, WebUser.id == WebSignInFailure.user_id)
            .where(WebUser.name == name)
        )
        return session.scalar(query) or 0


@pytest.fixture
def two(make_runtime: RuntimeFactory, db_url: str) -> tuple[Runtime, Runtime]:
    """The CLI and the dashboard: two runtimes on one database; the dashboard's writes
    give up after 50 ms (one thread here: a wait would never end otherwise)."""
    cli = make_runtime()
    dashboard = make_runtime(database={"url": db_url, "busy_timeout_ms": 50})
    create_user(cli, "alice", "agent", "alice-password-1", ("care",))
    return cli, dashboard


def test_a_sign_in_while_a_user_is_added_is_counted(two: tuple[Runtime, Runtime]) -> None:
    cli, dashboard = two
    work = ColleagueWhileHashing(wrong_password(dashboard, "alice"))
    create_user(cli, "dee", "lead", "dee-password-12", ("care",), work=work)
    assert work.outcome == ["ok"]
    assert failed_logins(cli, "alice") == 1
    assert authenticate(cli, "dee", "dee-password-12").role == "lead"


def test_a_sign_in_while_a_password_is_set_is_counted(two: tuple[Runtime, Runtime]) -> None:
    cli, dashboard = two
    create_user(cli, "bob", "agent", "bob-password-12", ("care",))
    work = ColleagueWhileHashing(wrong_password(dashboard, "alice"))
    set_password(cli, "bob", "bob-new-password", work=work)
    assert work.outcome == ["ok"]
    assert failed_logins(cli, "alice") == 1
    assert authenticate(cli, "bob", "bob-new-password").name == "bob"
