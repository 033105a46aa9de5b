"""``inchannel rules ...``: commands for the people who write rules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from monitor.commands.options import config_option, json_line, printable
from monitor.domain import Decision, Label, Mention, Score
from monitor.rules.dryrun import as_json, dry_run


@click.group("rules")
def rules() -> None:
    """Test and inspect the rule files."""


@rules.command("test")
@config_option
@click.option(
    "--sample",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSONL mentions, one per line (the replay format, e.g. config/samples/mentions.jsonl).",
)
@click.option("--json", "as_json_lines", is_flag=True, help="One JSON object per mention.")
@click.option("--source", help="The source name rules on `source:` see (default: none).")
def test_rules(
    config_file: Path | None, sample: Path, as_json_lines: bool, source: str | None
) -> None:
    """Run each mention through scoring and rules; nothing is stored or posted."""
    from monitor.commands.loading import settings_or_exit
    from monitor.scoring import Scorer
    from monitor.sources.replay import load_jsonl

    settings, engine = settings_or_exit(config_file)
    known = sorted(s.name for s in settings.sources)
    if source is not None and source not in known:
        # A warning, as check-config gives a rule naming such a source: a rule may be
        # written ahead for a source still commented out, but a misspelt --source made
        # rules on `source:` look as if they did not match.
        listed = ", ".join(known) or "none"
        click.echo(
            f"warning: --source: no source is named {source!r} (sources: {listed}); "
            "tested as given, but no mention the daemon reads comes from it",
            err=True,
        )
    mentions, problems = load_jsonl(sample)
    for problem in problems:
        click.echo(f"{sample}:{problem.line}: skipped: {problem.message}", err=True)
    scorer = Scorer(settings.scoring)
    for mention, score, decision in dry_run(engine, scorer, mentions, source=source):
        if as_json_lines:
            click.echo(json_line(as_json(mention, score, decision)))
        else:
            click.echo(_describe(mention, score, decision))
    if problems:
        sys.exit(1)


def _describe(mention: Mention, score: Score, decision: Decision) -> str:
    reason = f" ({printable(score.reason)})" if score.reason else ""
    who = printable(f"{mention.external_id} @{mention.author.handle}")
    # The compound to VADER's 4 decimals, as rules compare it ("-0.600" was shown for a
    # -0.5996 that "-1 .. -0.6" did not match); an unscored mention has none.
    compound = "" if score.label is Label.UNSCORED else f" {score.compound:+.4f}"
    lines = [
        f"{who} {score.label.value}{compound}{reason}",
        f"  matched: {', '.join(decision.matched) or '-'}",
    ]
    if decision.ignored:
        lines.append("  ignore (stored, never acted on)")
    if decision.reply is not None:
        kind = "draft" if decision.reply.draft else "reply"
        lines.append(f"  {kind}: {printable(json.dumps(decision.reply.text, ensure_ascii=False))}")
        if decision.reply.answer is not None:
            lines.append(
                f"  answer: {decision.reply.answer} (confidence {decision.reply.confidence})"
            )
    if decision.escalation is not None:
        e = decision.escalation
        sla = f", SLA {e.sla_minutes} min" if e.sla_minutes else ""
        lines.append(f"  escalate: {e.team} ({e.priority.value}{sla}) {e.reason}".rstrip())
    if decision.tags:
        lines.append(f"  tags: {', '.join(decision.tags)}")
    # Named as the rule actions (and --json's types) are; only those a rule set.
    if decision.assignee:
        lines.append(f"  assign: {printable(decision.assignee)}")
    if decision.priority:
        lines.append(f"  set_priority: {decision.priority}")
    lines.extend(f"  {note}" for note in decision.notes)
    return "\n".join(lines)


@rules.command("status")
@config_option
def rules_status(config_file: Path | None) -> None:
    """Show the rules version the daemon runs and the last reload error, if any."""
    from monitor.commands.loading import database_without_rules
    from monitor.rules.reload import read_rules_state
    from monitor.store.db import session_factory

    # Broken rules are exactly what this command reports.
    _, engine = database_without_rules(config_file)
    try:
        with session_factory(engine)() as session:
            state = read_rules_state(session)
    finally:
        engine.dispose()
    if state is None:
        click.echo("no daemon has loaded rules into this database yet")
        return
    details, error, loaded_at = state
    # To the second, as docs/rules.md shows it: microseconds are noise to a reader.
    when = loaded_at.isoformat(timespec="seconds") if loaded_at else "never"
    count = details.get("rules")
    click.echo(f"running rules version {details.get('version')} ({count} rules, loaded {when})")
    if error:
        click.echo(f"rejected version {details.get('rejected_version')}:\n{error}")
        sys.exit(1)
