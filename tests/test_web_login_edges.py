"""Sign-in under load and the edges of accounts: how many password checks run at once,
the last admin, names longer than a name may be."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from monitor.runtime import Runtime
from monitor.store.web_models import WebUser
from monitor.web.app import create_app
from monitor.web.users import (
    LoginRefused,
    authenticate,
    create_user,
)
from tests.conftest import RuntimeFactory
from tests.webkit import NONCE, PASSWORD, seeded


def _failed_logins(rt: Runtime, name: str) -> int:
    with rt.sessions() as session:
        count = session.scalar(select(WebUser.failed_logins).where(WebUser.name == name))
    assert count is not None
    return count


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
