"""``inchannel score``, invoked directly through click's test runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.commands.score import score
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No config at all: neither $INCHANNEL_CONFIG nor ./config/inchannel.yaml.
    monkeypatch.delenv("INCHANNEL_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)


def test_table_for_arguments() -> None:
    result = CliRunner().invoke(score, ["great service", "Der Service ist eine Katastrophe"])
    assert result.exit_code == 0, result.output
    assert "positive" in result.output
    assert "language:de" in result.output
    # An unscored text has no score to show, as on the case page: "-", not +0.0000.
    assert "+0.0000" not in result.output


def test_json_lines_from_stdin() -> None:
    result = CliRunner().invoke(score, ["--json"], input="awful support\n\nwhere is it?\n")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["label"] for r in records] == ["negative", "unscored", "unscored"]
    assert [r["reason"] for r in records] == [None, "empty", "no-signal"]
    assert set(records[0]) == {"text", "label", "compound", "lang", "reason"}
    assert records[0]["text"] == "awful support"
    assert records[0]["compound"] < 0
    # An unscored line's 0.0 is no reading: null, not a neutral score.
    assert [r["compound"] for r in records[1:]] == [None, None]
    german = CliRunner().invoke(score, ["--json", "Meine Bestellung ist kaputt"])
    assert json.loads(german.output)["compound"] is None


def test_markup_in_text_is_printed_literally() -> None:
    result = CliRunner().invoke(score, ["[bold red]hi[/bold red] good"])
    assert "[bold red]hi[/bold red]" in result.output


def test_lang_option_is_the_platform_field() -> None:
    result = CliRunner().invoke(score, ["--json", "--lang", "fr", "great"])
    assert json.loads(result.output)["reason"] == "language:fr"


def test_config_file_scoring_section_is_used(tmp_path: Path) -> None:
    config = tmp_path / "inchannel.yaml"
    config.write_text("brand:\n  name: Acme\nscoring:\n  lexicon:\n    widget: -3.0\n")
    result = CliRunner().invoke(score, ["--json", "--config", str(config), "the widget"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["label"] == "negative"


def test_bad_config_exits_2_with_location(tmp_path: Path) -> None:
    config = tmp_path / "inchannel.yaml"
    config.write_text("brand:\n  name: Acme\nscoring:\n  lexicon:\n    widget: 9\n")
    result = CliRunner().invoke(score, ["--config", str(config), "x"])
    assert result.exit_code == 2
    assert "inchannel.yaml:4:" in result.output
    assert "within -4..4" in result.output


def test_a_config_option_naming_no_file_is_an_error(tmp_path: Path) -> None:
    # Scoring with the defaults instead would hide a typo in the path: the lexicon and
    # thresholds of the intended file would silently not apply.
    result = CliRunner().invoke(score, ["--config", str(tmp_path / "typo.yaml"), "x"])
    assert result.exit_code == 2
    assert "typo.yaml:1:1: cannot read: No such file or directory" in result.output


def test_inchannel_config_naming_no_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As --config: a typo in the exported path scored with the default lexicon and
    # thresholds, not the daemon's, and said nothing; every other command refuses it.
    monkeypatch.setenv("INCHANNEL_CONFIG", str(tmp_path / "typo.yaml"))
    result = CliRunner().invoke(main, ["score", "x"])
    assert result.exit_code == 2
    assert "typo.yaml:1:1: cannot read: No such file or directory (from INCHANNEL_CONFIG)" in (
        result.output
    )


def test_terminal_controls_in_a_text_are_spelled_out_in_the_table() -> None:
    result = CliRunner().invoke(score, ["awful \x1b]0;pwned\x07 service \u202e"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "\u202e" not in result.output
    assert "\\x1b]0;pwned\\x07" in result.output


def test_json_stays_valid_for_bytes_that_are_not_utf_8() -> None:
    # A Latin-1 "é" in a UTF-8 locale comes in as a lone surrogate (argv), which the
    # terminal's encoding cannot write: a traceback, and no JSON line.
    result = CliRunner().invoke(main, ["score", "--json", "caf\udce9 awful"])
    assert result.exit_code == 0, result.exception
    assert json.loads(result.output)["text"] == "caf\udce9 awful"


def test_stdin_lines_not_in_the_locales_encoding_are_scored_not_a_traceback() -> None:
    # A Latin-1 export piped in a UTF-8 locale: "é" is no UTF-8, and reading stdin
    # stopped at that line with a UnicodeDecodeError; each line still gets its answer.
    result = CliRunner().invoke(
        main, ["score", "--json"], input=b"caf\xe9 service is awful\ngreat service\n"
    )
    assert result.exit_code == 0, result.exception
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["text"] for r in records] == ["caf\ufffd service is awful", "great service"]
    assert [r["label"] for r in records] == ["negative", "positive"]


def _ctrl_c_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_scoring_stdin_exits_130(tmp_path: Path) -> None:
    """Ctrl-C ended a command with click's "Aborted!" and exit 1, the code of a failure:
    a script could not tell a person stopping `inchannel score` (reading a pipe or the
    terminal) from a command that failed. It is 130 (128 + SIGINT), as shells report."""
    process = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "score", "--json"],
        cwd=tmp_path,  # no config/inchannel.yaml: the default scoring
        env={
            **{k: v for k, v in os.environ.items() if k != "INCHANNEL_CONFIG"},
            "PYTHONPATH": str(REPO),
        },
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a shell without job control starts a background job (a CI
        # script's `make test &`) with SIGINT ignored, its children inherit that, and
        # Python then leaves it ignored. Seen once: exit 0, nothing on stderr.
        preexec_fn=_ctrl_c_as_from_a_terminal,
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write("great service\n")
        process.stdin.flush()
        assert json.loads(process.stdout.readline())["label"] == "positive"
        process.send_signal(signal.SIGINT)  # waiting for the next line
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    assert err == "\nerror: interrupted\n"
