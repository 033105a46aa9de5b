"""`inchannel run` checks once, through the real tweepy.Client against the local FakeAPI
server, which account an x.oauth2_user_token posts as."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from monitor.cli import main
from tests.conftest import REPO
from tests.fakeapi import FakeAPI, Reply
from tests.webkit import TEAMS
from tests.xapi import BRAND_ID, MENTIONS, body, ok, problem, tweet, x_section

ME = "/2/users/me"


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        server.add("GET", MENTIONS, ok(body([tweet(1)])))
        server.add("POST", "/2/tweets", Reply.json({"data": {"id": "9", "text": "x"}}, 201))
        yield server


@pytest.fixture
def config_file(tmp_path: Path, api: FakeAPI) -> Path:
    oauth2_only = dict.fromkeys(("consumer_key", "consumer_secret", "access_token"), "")
    x = x_section(api, **oauth2_only, access_token_secret="", oauth2_user_token="user-secret")
    config = {
        "brand": {"name": "Acme", "accounts": {"x": ["acme"]}},
        "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        "sources": [{"name": "mentions", "type": "x_mentions", "thread_depth": 0}],
        "responders": {"x": {"type": "x"}},
        "x": x,
        "rules": {"path": str(REPO / "config" / "rules")},
        "teams": TEAMS,
        "web": {"enabled": False},
    }
    path = tmp_path / "inchannel.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = CliRunner().invoke(main, ["db", "upgrade", "--config", str(path)])
    assert result.exit_code == 0, result.output
    return path


def run_once(config_file: Path) -> Result:
    return CliRunner().invoke(main, ["run", "--once", "--config", str(config_file)])


def test_a_user_token_of_another_account_stops_the_start_before_any_work(
    config_file: Path, api: FakeAPI
) -> None:
    # An OAuth 2 user token names no account and was taken to be x.user_id's unchecked:
    # one of @acmehelp's posted as @acmehelp while the thread check before a re-send
    # searched from:<x.user_id> (and posted the reply again), and the bot's replies came
    # back as customers' posts to decide.
    api.add("GET", ME, ok({"data": {"id": "7", "name": "Acme Help", "username": "acmehelp"}}))
    result = run_once(config_file)
    assert result.exit_code == 2, result.output
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"error: x.oauth2_user_token belongs to @acmehelp (account 7), not to x.user_id "
            f"{BRAND_ID}: "
        )
    )
    (me,) = api.seen("GET", ME)
    assert me.headers["authorization"] == "Bearer user-secret"
    assert api.seen("GET", MENTIONS) == []
    assert api.seen("POST", "/2/tweets") == []


def test_a_user_token_of_the_brand_account_starts_with_one_check(
    config_file: Path, api: FakeAPI
) -> None:
    api.add("GET", ME, ok({"data": {"id": BRAND_ID, "name": "Acme", "username": "acme"}}))
    result = run_once(config_file)
    assert result.exit_code == 0, result.output
    assert len(api.seen("GET", ME)) == 1  # at start only: not per poll or send
    assert len(api.seen("GET", MENTIONS)) == 1


def test_an_x_that_cannot_say_whose_token_it_is_does_not_keep_the_daemon_from_starting(
    config_file: Path, api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.add("GET", ME, problem(503, "Service Unavailable"))
    result = run_once(config_file)
    assert result.exit_code == 0, result.output
    assert len(api.seen("GET", MENTIONS)) == 1
    assert "could not check which account x.oauth2_user_token belongs to" in (
        result.stderr + caplog.text
    )
