"""``inchannel status``: is the daemon healthy? Exit 1 when not, for health checks."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import SystemClock
from monitor.commands.options import config_option
from monitor.ingest import is_stopped
from monitor.notifications import inert_line
from monitor.settings import Settings
from monitor.status import Status, collect_from


def _when(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "-"
    seconds = int((now - moment).total_seconds())
    return f"{seconds}s ago" if seconds >= 0 else f"in {-seconds}s"


@click.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON document.")
def status_command(config_file: Path | None, as_json: bool) -> None:
    """Sources, outbox, cases and usage; exit 1 when something is unhealthy."""
    from monitor.commands.loading import database_without_rules
    from monitor.store.db import session_factory

    # A rule change the daemon rejected is one of the problems this health check
    # reports (exit 1), from the database.
    settings, engine = database_without_rules(config_file)
    try:
        healthy = _report(settings, session_factory(engine), as_json)
    finally:
        engine.dispose()  # close the pool's connections before the process ends
    sys.exit(0 if healthy else 1)


def _report(settings: Settings, sessions: sessionmaker[Session], as_json: bool) -> bool:
    status = collect_from(settings, sessions, SystemClock().now())
    if as_json:
        click.echo(json.dumps(_jsonable(asdict(status)) | {"healthy": status.healthy}, indent=2))
        return status.healthy
    # Read before anything is printed: a database failing meanwhile leaves stdout
    # empty (the error alone, exit 1), and the verdict stays the last line.
    usage: list[str] = []
    if settings.x is not None:
        from monitor.sources.x_status import status_lines

        with sessions() as session:
            usage = status_lines(session, settings, status.at)[:2]
    _print(status, usage)
    return status.healthy


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):  # an alert's repeat interval
        return value.total_seconds()
    return value


def _lag(seconds: float | None) -> str:
    return "-" if seconds is None else f"{int(seconds)}s"


def _short(value: Any) -> str:
    # A source's details hold platform text (an error's, a gap's): inert in a terminal.
    return inert_line(json.dumps(value, ensure_ascii=False, default=str), 60)


# Wider than any row: a pipe has no width, and rich took it as 80 columns.
PIPE_WIDTH = 10_000


def _print(status: Status, x_usage: list[str]) -> None:
    # Each line whole, however narrow: a check reads the problems through a pipe.
    console = Console(soft_wrap=True)
    if not console.is_terminal:  # a monitoring agent, cron mail: the table whole too
        console.width = PIPE_WIDTH
    console.print(_sources_table(status))
    for s in status.sources:
        if s.details:
            shown = ", ".join(f"{k}={_short(v)}" for k, v in sorted(s.details.items()))
            console.print(Text(f"  {s.name}: {shown}"))
    for line in _summary_lines(status):
        console.print(line)
    for line in x_usage:
        console.print(Text(line))
    last_check = _when(status.health_checked_at, status.at)
    run_start = _when(status.health_running_since, status.at)
    console.print(f"Health checks: last {last_check}, running since {run_start}")
    _print_verdict(console, status)


SOURCE_COLUMNS = (
    "source",
    "last poll",
    "last success",
    "failures",
    "rate limit reset",
    "cursor lag",
    "next poll",
    "items",
    "worker",
    "last error",
)


def _sources_table(status: Status) -> Table:
    now = status.at
    table = Table(*SOURCE_COLUMNS, title="Sources")
    for s in status.sources:
        table.add_row(
            s.name,
            _when(s.last_poll_at, now),
            _when(s.last_success_at, now),
            str(s.consecutive_failures),
            _when(s.rate_limit_reset_at, now),
            _lag(s.cursor_lag_seconds),
            # A permanent error parks the next poll years ahead: no poll is coming.
            "stopped" if is_stopped(s.next_poll_at, now) else _when(s.next_poll_at, now),
            str(s.items_total),
            Text(s.lease_owner or "-"),
            # An API's error body, not ours: one line, nothing a terminal acts on, and
            # Text, not markup: rich made ":warning:" an emoji and doubled a final "\\".
            Text(inert_line(s.last_error or "", 120)),
        )
    return table


def _summary_lines(status: Status) -> list[str]:
    """Processing, outbox, cases and API usage: one line each (our words and counts only,
    printed as markup)."""
    now = status.at
    oldest = _when(status.oldest_unprocessed_at, now)
    outbox = ", ".join(f"{k} {v}" for k, v in sorted(status.outbox.items()) if v) or "empty"
    queued = f"{status.outbox_backlog} backlog, {status.outbox_held} held for a reset"
    states = ", ".join(f"{k} {v}" for k, v in sorted(status.cases.items()) if v) or "none"
    usage = ", ".join(f"{k} {v}" for k, v in sorted(status.usage_today.items())) or "none"
    return [
        f"Processing: {status.unprocessed} waiting; oldest stored {oldest}",
        f"Outbox: {outbox}; {queued}; oldest due {_when(status.oldest_due_at, now)}",
        f"Cases: {states}; open SLA breaches {status.sla_breaches_open}",
        f"API usage today (UTC): {usage}",
    ]


def _print_verdict(console: Console, status: Status) -> None:
    """The alerts, then the problems or "healthy": the verdict is the last line."""
    for alert in status.alerts:
        since = alert.since.strftime("%Y-%m-%d %H:%M")
        console.print(Text.assemble(("alert:", "yellow"), f" {alert.text} (since {since} UTC)"))
    if status.problems:
        for problem in status.problems:
            console.print(Text.assemble(("unhealthy:", "red"), f" {problem}"))
    else:
        console.print("[green]healthy[/green]")
