"""Config loading: the shipped config is valid; every bad file fails with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.settings import Settings, config_path, load_settings
from monitor.yamlpos import ConfigError
from tests.conftest import REPO

BAD = Path(__file__).parent / "data" / "bad_config"

# file -> the exact lines check-config must print (paths relative to the corpus folder).
EXPECTED = {
    "yaml_syntax.yaml": ["4:3: invalid YAML: expected the node content, but found '-'"],
    "wrong_type.yaml": [
        "6:3: web.port: Input should be a valid integer, unable to parse string as an integer"
    ],
    "unknown_key.yaml": ["4:3: web.hots: unknown key; did you mean 'host'?"],
    "missing_env.yaml": [
        "4:3: database.url: environment variable INCHANNEL_TEST_UNSET_SECRET is not set"
    ],
    "unknown_source_key.yaml": [
        "4:5: sources[0].path: Field required",
        "6:5: sources[0].pathh: unknown key; did you mean 'path'?",
    ],
    "unknown_source_type.yaml": [
        "5:5: sources[0].type: unknown type 'carrier-pigeon'; expected one of 'replay', "
        "'x_mentions', 'x_search', 'reddit_inbox', 'reddit_subreddit', 'reddit_search'"
    ],
    "empty.yaml": ["1:1: expected one YAML mapping (brand:, sources:, ...)"],
    "not_mapping.yaml": ["1:1: expected one YAML mapping (brand:, sources:, ...)"],
    "missing_brand.yaml": ["1:1: brand: Field required"],
    "duplicate_source.yaml": ["3:1: sources: duplicate source name 'a'"],
    "metrics.yaml": [
        "4:3: web.metrics_token: must be at least 16 characters (e.g. `openssl rand -hex 16`)",
        "6:3: metrics.port: Input should be less than or equal to 65535",
    ],
    "workers.yaml": [
        "4:3: workers.lease_seconds: Input should be greater than or equal to 5",
        "5:3: workers.stale_claim_seconds: Input should be a valid number, unable to parse"
        " string as a number",
    ],
    "answers_products.yaml": ["4:22: answers.products[1]: '!!' has no searchable word"],
    "alerts_unknown_channel.yaml": [
        "6:19: alerts.channels[1]: unknown channel 'pager' (channels: ops)"
    ],
}


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_config_exact_messages(name: str) -> None:
    path = BAD / name
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert [str(p) for p in caught.value.problems] == [f"{path}:{line}" for line in EXPECTED[name]]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_config_prints_problems_and_exits_2(name: str) -> None:
    result = CliRunner().invoke(main, ["check-config", "--config", str(BAD / name)])
    assert result.exit_code == 2
    assert f"{BAD / name}:{EXPECTED[name][0]}" in result.output


def test_shipped_config_is_valid() -> None:
    result = CliRunner().invoke(
        main, ["check-config", "--config", str(REPO / "config/inchannel.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_env_substitution_and_relative_paths(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("brand:\n  name: ${BRAND}\nrules:\n  path: myrules\n", encoding="utf-8")
    settings = load_settings(path, environ={"BRAND": "Acme {case} $x"})
    assert settings.brand.name == "Acme {case} $x"
    assert settings.resolve(settings.rules.path) == tmp_path / "myrules"
    assert settings.is_demo


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["check-config", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml:1:1: cannot read: No such file or directory" in result.output


def test_run_with_bad_config_exits_2_before_touching_the_database(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    db = tmp_path / "never.db"
    path.write_text(f"brand:\n  name: Acme\ndatabase:\n  url: sqlite:///{db}\n  ech: true\n")
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(path)])
    assert result.exit_code == 2
    assert "database.ech: unknown key; did you mean 'echo'?" in result.output
    assert not db.exists()


def test_config_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INCHANNEL_CONFIG", "/etc/inchannel.yaml")
    assert config_path("given.yaml") == Path("given.yaml")
    assert config_path(None) == Path("/etc/inchannel.yaml")
    monkeypatch.delenv("INCHANNEL_CONFIG")
    assert config_path(None) == Path("config/inchannel.yaml")


def test_settings_are_frozen() -> None:
    settings = Settings.model_validate({"brand": {"name": "Acme"}})
    with pytest.raises(ValueError, match="frozen"):
        settings.brand.name = "Other"  # type: ignore[misc]
