"""``inchannel x``: X (Twitter) API usage, cost and source health in detail (issue 7)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy.orm import Session

from monitor.commands.loading import database_without_rules
from monitor.commands.options import config_option


@click.group("x")
def x_group() -> None:
    """X (Twitter) API usage, budget and source health."""


@x_group.command("status")
@config_option
def x_status(config_file: Path | None) -> None:
    """Today's X reads/writes against the budget, projected cost, rate limits, gaps."""
    # Usage is facts in the database: no rules needed, and a migrated schema is.
    settings, engine = database_without_rules(config_file)
    from monitor.clock import SystemClock
    from monitor.sources.x_status import status_lines

    with Session(engine) as session:
        for line in status_lines(session, settings, SystemClock().now()):
            click.echo(line)
    engine.dispose()
