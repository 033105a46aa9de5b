"""``inchannel score``: score texts from the command line or stdin.

Registered in the CLI group with ``main.add_command(score)``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from monitor.commands.options import json_line, table_console, terminal_text
from monitor.domain import Label, Score
from monitor.scoring import Scorer
from monitor.settings import CONFIG_ENV, ScoringConfig, config_path, load_settings
from monitor.yamlpos import ConfigError

_STYLE = {
    Label.POSITIVE: "green",
    Label.NEGATIVE: "red",
    Label.NEUTRAL: "white",
    Label.UNSCORED: "dim",
}


@click.command("score")
@click.argument("texts", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input line.")
@click.option("--lang", default=None, help="Language the platform declared, e.g. en or de.")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $INCHANNEL_CONFIG or config/inchannel.yaml).",
)
def score(texts: tuple[str, ...], as_json: bool, lang: str | None, config: Path | None) -> None:
    """Score TEXT with the configured scorer; with no TEXT, score each line of stdin."""
    scorer = Scorer(_scoring_config(config))
    lines: Iterable[str] = texts or _stdin_lines()
    if as_json:
        for text in lines:
            click.echo(json_line(_record(text, scorer.score(text, lang=lang))))
        return
    table = Table("text", "label", "compound", "lang", "reason")
    for text in lines:
        result = scorer.score(text, lang=lang)
        table.add_row(
            Text(terminal_text(text)),  # hostile input: no markup, no terminal controls
            Text(result.label.value, style=_STYLE[result.label]),
            "-" if result.label is Label.UNSCORED else f"{result.compound:+.4f}",
            result.lang or "",
            result.reason or "",
        )
    table_console().print(table)


def _scoring_config(option: Path | None) -> ScoringConfig:
    path = config_path(option)
    named = option is not None or bool(os.environ.get(CONFIG_ENV))
    if not named and not path.exists():
        # No config file at all. A --config or $INCHANNEL_CONFIG naming no file is a
        # typo, which scoring with the defaults would hide: the daemon's lexicon and
        # thresholds would silently not apply.
        return ScoringConfig()
    try:
        return load_settings(path).scoring
    except ConfigError as exc:
        error = exc if option is not None or path.exists() else _from_env(exc)
        click.echo(str(error), err=True)
        raise click.exceptions.Exit(2) from None  # as check-config: bad config exits 2


def _from_env(error: ConfigError) -> ConfigError:
    # Named as the other commands name it: nobody typed this path on the command line.
    return ConfigError(
        [replace(p, message=f"{p.message} (from {CONFIG_ENV})") for p in error.problems]
    )


def _stdin_lines() -> Iterator[str]:
    # Every line, blank ones included, so output line N answers input line N; a byte
    # the locale cannot decode (a Latin-1 export in a UTF-8 locale) is U+FFFD, not a
    # UnicodeDecodeError that ended the run at that line.
    reconfigure = getattr(sys.stdin, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="replace")
    for line in sys.stdin:
        yield line.rstrip("\r\n")


def _record(text: str, result: Score) -> dict[str, object]:
    return {
        "text": text,
        "label": result.label.value,
        # An unscored line's 0.0 is no reading, not a neutral score.
        "compound": None if result.label is Label.UNSCORED else result.compound,
        "lang": result.lang,
        "reason": result.reason,
    }
