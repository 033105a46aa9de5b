"""``inchannel answers ...``: the knowledge base from the terminal.

Registered in the CLI group with ``main.add_command(answers_group)``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from monitor.answers.answerer import Answerer
from monitor.commands.options import (
    config_option,
    json_line,
    printable,
    table_console,
    utc_moment,
)
from monitor.domain import Platform


@click.group("answers")
def answers_group() -> None:
    """The knowledge base: list entries, try questions, see how entries do."""


def _answerer(config_file: Path | None) -> Answerer:
    from monitor.commands.loading import settings_or_exit

    _, engine = settings_or_exit(config_file)  # validates rules and answers
    assert engine.answers is not None
    return engine.answers


@answers_group.command("list")
@config_option
def list_command(config_file: Path | None) -> None:
    """Every enabled entry, with its tags and validity window."""
    table = Table("id", "questions", "valid", "tags", "file")
    for entry in _answerer(config_file).kb.entries:
        valid = f"{entry.valid_from or ''}..{entry.valid_until or ''}" if entry.seasonal else ""
        # Text, not str: rich reads a str as markup, so a tag "[promo]" vanished and
        # "[/]" stopped the listing with a MarkupError.
        tags = Text(", ".join(entry.tags))
        table.add_row(entry.id, str(len(entry.questions)), valid, tags, Text(entry.file))
    table_console().print(table)


@answers_group.command("test")
@config_option
@click.argument("text")
@click.option("--platform", type=click.Choice([p.value for p in Platform]), default="x")
@click.option("--lang", default="", help="The mention's language code, if known.")
@click.option(
    "--at",
    "at",
    callback=utc_moment,
    help="The time, UTC unless it carries an offset (default: now).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def test_command(
    config_file: Path | None,
    text: str,
    platform: str,
    lang: str,
    at: datetime | None,
    as_json: bool,
) -> None:
    """Which entry would answer TEXT, how sure the match is, and what would happen."""
    answerer = _answerer(config_file)
    now = at or datetime.now(UTC)
    found = answerer.assess(text, now=now, lang=lang)
    # What the daemon would do, drafts for long texts and ties included.
    proposal = answerer.propose(text, now=now, lang=lang)
    outcome = "none" if proposal is None else "draft" if proposal.draft else "answer"
    entry = found.hit.entry if found.hit else None
    record = {
        "outcome": outcome,
        "answer": entry.id if entry else None,
        "confidence": found.confidence,
        "matched_question": found.hit.question if found.hit else None,
        "runner_up": found.runner_up.entry.id if found.runner_up else None,
        # The asked words the entry never uses and the names no entry mentions: why a
        # close match is still unsure (docs/answers.md, "How it matches").
        "not_in_entry": " ".join(found.uncovered) or None,
        "unknown_names": " ".join(found.unknown_names) or None,
        "reason": found.reason or None,
        "text": entry.texts[Platform(platform)] if entry else None,
    }
    if as_json:
        click.echo(json_line(record))
        return
    for key, value in record.items():
        if value is not None:
            click.echo(f"{key}: {printable(str(value), lines=True)}")


# A bound, not the calendar's: a day count reaching before year 1 ended the command with
# an OverflowError traceback. A hundred years is every answer there is.
MAX_DAYS = 36_500


@answers_group.command("stats")
@config_option
@click.option(
    "--days",
    type=click.IntRange(min=1, max=MAX_DAYS),
    default=None,
    help="Only the last N days.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per entry.")
def stats_command(config_file: Path | None, days: int | None, as_json: bool) -> None:
    """Per entry: answers sent, queued, drafted, rejected, and how often the customer
    came back in the same thread within 24 h (a sign the answer did not resolve it)."""
    from monitor.answers.stats import entry_stats
    from monitor.commands.case_options import runtime

    rt = runtime(config_file)
    since = rt.clock.now() - timedelta(days=days) if days else None
    try:
        with rt.sessions() as session:
            stats = entry_stats(session, since=since)
    finally:
        rt.engine.dispose()
    if as_json:
        for s in stats:
            click.echo(json.dumps({**asdict(s), "came_back_rate": s.came_back_rate}))
        return
    if not stats:
        click.echo("no answers yet")
        sys.exit(0)
    table = Table("entry", "sent", "queued", "drafts", "rejected", "came back <24 h")
    for s in stats:
        rate = f"{s.came_back} ({s.came_back_rate:.0%})" if s.came_back_rate is not None else "-"
        table.add_row(s.entry, str(s.sent), str(s.queued), str(s.drafts), str(s.rejected), rate)
    table_console().print(table)
