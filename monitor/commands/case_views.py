"""``inchannel cases list`` and ``cases show``: reading cases, the queue and one case."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from monitor import cases, casework_listing
from monitor.commands import since_shown
from monitor.commands.case_options import cell_text, common, run, runtime
from monitor.commands.options import json_line, table_console
from monitor.domain import CaseState

# The most rows `cases list` lists at once.
LIMIT_MAX = 10_000


@click.command("list")
@common
@click.option("--status", "states", multiple=True, type=click.Choice([s.value for s in CaseState]))
@click.option("--team")
@click.option("--all", "every_state", is_flag=True, help="Resolved cases too.")
@click.option("--limit", type=click.IntRange(1, LIMIT_MAX), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per case.")
def list_command(
    config_file: Path | None,
    states: tuple[str, ...],
    every_state: bool,
    team: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Open cases by SLA deadline, then priority and age, as on the dashboard's queue
    (--status or --all for others)."""
    if not states and not every_state:
        # The queue's open states: a case waiting on the customer needs nobody yet.
        states = tuple(sorted(cases.OPEN_STATES))
    rt = runtime(config_file)
    rows = run(lambda: casework_listing.list_cases(rt, states=states, team=team, limit=limit))
    # Counted only when the list may be cut: read alone, 100 rows looked like the queue.
    total = (
        run(lambda: casework_listing.count_cases(rt, states=states, team=team))
        if len(rows) == limit
        else len(rows)
    )
    if as_json:
        for row in rows:
            # "sentiment" as GET /api/cases names it; "latest_label" kept for scripts.
            out = _jsonable(row.__class__.__dataclass_fields__, row)
            click.echo(json_line(out | {"sentiment": row.latest_label}))
        _say_cut(len(rows), total)
        return
    table = Table(
        "case",
        "platform",
        "author",
        "state",
        "priority",
        "team",
        "sentiment",
        "SLA due",
        "first message",
    )
    for row in rows:
        # As the dashboard and the alerts write it: a team outside UTC reads a bare time
        # as its own.
        due = f"{row.sla_due_at:%Y-%m-%d %H:%M} UTC" if row.sla_due_at else ""
        table.add_row(
            row.ref,
            row.platform,
            cell_text(row.handle),
            row.state,
            row.priority,
            cell_text(row.team or ""),  # config text, not markup: "EMEA [de]"
            row.latest_label or "",
            due,
            cell_text(row.first_line),
        )
    table_console().print(table)
    _say_cut(len(rows), total)


def _say_cut(shown: int, total: int) -> None:
    """On stderr, so `--json` stays one case a line: the list stopped at --limit."""
    if total <= shown:
        return
    if total <= LIMIT_MAX:
        click.echo(f"{shown} of {total} cases shown: --limit {total} lists them all", err=True)
    else:
        click.echo(
            f"{shown} of {total} cases shown: --limit lists at most {LIMIT_MAX}; "
            "narrow the list with --status or --team",
            err=True,
        )


def _jsonable(fields: Any, row: Any) -> dict[str, Any]:
    out = {}
    for name in fields:
        value = getattr(row, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


# How much of a message, and of a reply or an audit entry, a table cell shows: a mention
# may be 40,000 characters, which drowned the rest of the case.
MESSAGE_SHOWN = 2000
ACTION_SHOWN = 300


def _cut(text: str, limit: int) -> str:
    """``text`` to ``limit`` characters, saying so when it was longer: cut silently, the
    customer's message read as if it ended there (the dashboard shows it whole)."""
    if len(text) <= limit:
        return text
    # ASCII only: a terminal that cannot show "…" would get it spelled out.
    return f"{text[:limit]} [... cut: {limit:,} of {len(text):,} characters shown]"


@click.command("show")
@common
@click.argument("ref")
def show_command(config_file: Path | None, ref: str) -> None:
    """The thread, outbox, audit trail and customer history of a case, and how many
    replies and customer messages it showed (for reply, approve, resolve and spam)."""
    rt = runtime(config_file)
    # Counted before the rest is read: a reply landing in between is then shown but not
    # counted, and the next command refuses needlessly, never the other way round.
    answers, replies, messages = run(lambda: since_shown.counts(rt, ref))
    detail = run(lambda: casework_listing.case_detail(rt, ref))
    console = table_console()
    console.print(_case_line(detail["case"]))
    console.print(_thread_table(detail["messages"]))
    console.print(_outbox_table(detail["actions"]))
    console.print(_trail_table(detail["events"]))
    for line in _history_lines(detail["history"]):
        console.print(line)
    console.print(since_shown.counts_line(answers, replies, messages))


def _case_line(row: Any) -> str:
    # A team name is free text in the config ("EMEA [de]"), read as markup it lost its
    # "[de]" or, as "[/de]", was a traceback; tags from before they were checked too.
    return (
        f"[bold]{row.ref}[/bold] {row.platform} {cell_text(row.handle)} · {row.state} · "
        f"{row.priority} · team {cell_text(row.team or '-')} · "
        f"tags {cell_text(', '.join(row.tags) or '-')}"
    )


def _thread_table(messages: list[Any]) -> Table:
    thread = Table("id", "when (UTC)", "who", "text", "sentiment", title="Thread")
    for m in messages:
        who = "bot/team" if m.direction == "outbound" else m.author_handle
        thread.add_row(
            str(m.id),
            # With the year: "12-31" and "01-01" alone read a reply as a year older
            # than the question it answered.
            f"{m.created_at:%Y-%m-%d %H:%M}",
            cell_text(who),
            cell_text(_cut(m.text, MESSAGE_SHOWN)),
            cell_text(f"{m.label or ''} {m.score_reason or ''}".strip()),
        )
    return thread


def _outbox_table(actions: list[Any]) -> Table:
    outbox = Table("id", "kind", "status", "by", "text", "error", title="Outbox")
    for a in actions:
        by = (a.actor or a.rule or "") + (f"\nanswer {a.answer_id}" if a.answer_id else "")
        outbox.add_row(
            str(a.id),
            a.kind,
            a.status,
            cell_text(by),
            cell_text(_cut(a.text, ACTION_SHOWN)),
            cell_text(a.last_error or ""),
        )
    return outbox


def _trail_table(events: list[Any]) -> Table:
    trail = Table("when (UTC)", "what", "who", "detail", title="Audit trail")
    for e in events:
        trail.add_row(
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.kind,
            cell_text(e.actor),
            cell_text(_cut(json.dumps(e.detail, ensure_ascii=False), ACTION_SHOWN)),
        )
    return trail


def _history_lines(history: dict[str, Any]) -> list[str]:
    """The customer's other cases, escalations, notes and linked accounts, counted; then
    the notes."""
    lines = [
        f"Customer history: {len(history['cases'])} case(s), "
        f"{history['escalations']} escalation(s), {len(history['notes'])} note(s), "
        f"{history['linked_accounts']} linked account(s)"
    ]
    for actor, at, text in history["notes"]:
        lines.append(f"  note by {cell_text(actor)} at {at:%Y-%m-%d %H:%M} UTC: {cell_text(text)}")
    return lines
