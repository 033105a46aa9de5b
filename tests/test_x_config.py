"""The x: section, the X source types and the X responder in the config file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.settings import load_settings
from monitor.sources.x_settings import XMentionsSourceConfig
from monitor.yamlpos import ConfigError

# The shipped rules escalate to these teams.
TEAMS = "teams: [{name: care}, {name: tech}, {name: billing}, {name: international}]\n"
HEAD = "brand: {name: Acme, accounts: {x: [acme]}}\n"
X = 'x:\n  user_id: "783214"\n  bearer_token: ${X_BEARER}\n'
MENTIONS = "sources:\n  - {name: m, type: x_mentions}\n"

# A corpus of bad inputs and the exact error each must produce.
BAD = [
    (
        MENTIONS,
        "c.yaml:1:1: an x: section (user_id, credentials) is needed by m",
    ),
    (
        "responders:\n  x: {type: x}\n",
        "c.yaml:1:1: an x: section (user_id, credentials) is needed by responders.x",
    ),
    (
        MENTIONS + 'x:\n  user_id: "@acme"\n',
        "c.yaml:5:3: x.user_id: must be the brand account's numeric id "
        "(GET /2/users/by/username/<handle> shows it), not a handle",
    ),
    (
        MENTIONS + X + "  budjet: {reads_per_day: 10}\n",
        "c.yaml:7:3: x.budjet: unknown key; did you mean 'budget'?",
    ),
    (
        MENTIONS + X + "  budget: {reads_per_day: -1}\n",
        "c.yaml:7:12: x.budget.reads_per_day: Input should be greater than or equal to 0",
    ),
    (
        MENTIONS + X + "  api_base_url: https://api.twitter.com/2/\n",
        "c.yaml:7:3: x.api_base_url: must be a scheme and host only, e.g. https://api.twitter.com",
    ),
    (
        MENTIONS + 'x:\n  user_id: "1"\n',
        "c.yaml:1:1: x: bearer_token must be set for the X parts in use",
    ),
    (
        "responders:\n  x: {type: x}\n" + X + "  consumer_key: k\n",
        "c.yaml:1:1: x: consumer_secret, access_token, access_token_secret must be set for "
        "the X parts in use",
    ),
    (
        "sources:\n  - {name: s, type: x_search}\n" + X,
        "c.yaml:3:5: sources[0].query: Field required",
    ),
    (
        "sources:\n  - {name: m, type: x_mentions, interval_seconds: 5}\n" + X,
        "c.yaml:3:33: sources[0].interval_seconds: Input should be greater than or equal to 15",
    ),
    (
        "sources:\n  - {name: m, type: x_mentions, max_results: 500}\n" + X,
        "c.yaml:3:33: sources[0].max_results: Input should be less than or equal to 100",
    ),
    (
        MENTIONS + 'x:\n  user_id: "1"\n  bearer_token: ${X_MISSING}\n',
        "c.yaml:6:3: x.bearer_token: environment variable X_MISSING is not set",
    ),
]


@pytest.mark.parametrize(("body", "expected"), BAD)
def test_bad_x_config_fails_with_file_line_col(tmp_path: Path, body: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(HEAD + body, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {"X_BEARER": "t0ken"})
    problems = [str(p).removeprefix(str(tmp_path) + "/") for p in caught.value.problems]
    assert problems == [expected]


def test_defaults_and_secrets_stay_out_of_reprs(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    keys = "".join(f"  {k}: ${{X_BEARER}}\n" for k in ("consumer_key", "consumer_secret",
                   "access_token", "access_token_secret"))  # fmt: skip
    path.write_text(HEAD + MENTIONS + X + keys + "responders:\n  x: {type: x}\n", encoding="utf-8")
    settings = load_settings(path, {"X_BEARER": "t0ken-secret"})
    assert settings.x is not None
    assert settings.x.bearer_token.get_secret_value() == "t0ken-secret"
    assert "t0ken-secret" not in repr(settings)
    assert settings.x.api_base_url == "https://api.twitter.com"
    assert (settings.x.budget.reads_per_day, settings.x.budget.writes_per_day) == (2000, 100)
    assert settings.x.allow_urls_in_replies is False
    source = settings.sources[0]
    assert isinstance(source, XMentionsSourceConfig)
    assert (source.interval_seconds, source.max_pages, source.overlap_seconds) == (120, 5, 15)
    assert settings.is_demo is False


def test_check_config_accepts_an_x_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    rules = Path(__file__).resolve().parents[1] / "config" / "rules"
    search = "  - {name: s, type: x_search, query: 'acme -is:retweet'}\n"
    text = HEAD + MENTIONS + search + X + f"rules: {{path: {rules}}}\n" + TEAMS
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("X_BEARER", "t0ken")
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "(2 sources," in result.output


def test_dry_run_records_instead_of_posting(tmp_path: Path) -> None:
    from monitor.domain import Platform
    from monitor.runtime import build_responders
    from responders.recording import RecordingResponder

    path = tmp_path / "c.yaml"
    keys = "  consumer_key: a\n  consumer_secret: b\n  access_token: c\n  access_token_secret: d\n"
    path.write_text(HEAD + MENTIONS + X + keys + "responders:\n  x: {type: x}\n", encoding="utf-8")
    settings = load_settings(path, {"X_BEARER": "t0ken"})
    responders = build_responders(settings, dry_run=True)
    assert isinstance(responders[Platform.X], RecordingResponder)


@pytest.mark.parametrize(
    ("token", "warned"), [("7-abc", True), ("783214-abc", False), ("no-id-here", False)]
)
def test_check_config_warns_when_the_replies_come_from_another_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, token: str, warned: bool
) -> None:
    # The mentions timeline read is x.user_id's; replies posted with another account's
    # token are refused by X for every post that does not mention that account. Nothing
    # said so: the split showed only as cases handed over, or 403s.
    path = tmp_path / "c.yaml"
    rules = Path(__file__).resolve().parents[1] / "config" / "rules"
    keys = "  consumer_key: a\n  consumer_secret: b\n  access_token: ${X_TOKEN}\n"
    keys += "  access_token_secret: d\n"
    text = HEAD + MENTIONS + X + keys + "responders:\n  x: {type: x}\n"
    path.write_text(text + f"rules: {{path: {rules}}}\n" + TEAMS, encoding="utf-8")
    monkeypatch.setenv("X_BEARER", "t0ken")
    monkeypatch.setenv("X_TOKEN", token)
    result = CliRunner().invoke(main, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    expected = (
        f"{path}:9:3: warning: x.access_token: the replies come from account 7 (the id "
        "this token starts with), not x.user_id 783214: X refuses a reply to a post that "
        "does not mention the account the replies come from, so mentions of 783214 "
        "(x_mentions reads only those) and search hits that do not name account 7 go to "
        "the team, to answer from X's app; use a token of 783214's account to answer them "
        "here"
    )
    assert (expected in result.output) is warned, result.output
    assert token not in result.output
