"""``inchannel backfill SOURCE --since DATE``: import history, decide it, post nothing."""

from __future__ import annotations

import signal
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from monitor.backfill import BackfillReport, backfill, backfillable
from monitor.commands.options import config_option, utc_moment
from monitor.runtime import Runtime
from monitor.signal_handlers import handled
from monitor.sources.base import BackfillRefused, Window

EXIT_FAILED, EXIT_USAGE = 1, 2
PROBLEMS_SHOWN = 20


@click.command("backfill")
@click.argument("source")
@click.option(
    "--since", required=True, callback=utc_moment, help="Date/time, UTC unless an offset."
)
@click.option(
    "--until", callback=utc_moment, help="Exclusive, UTC unless an offset (default: no bound)."
)
@config_option
def backfill_command(
    source: str, since: datetime, until: datetime | None, config_file: Path | None
) -> None:
    """Import SOURCE's mentions from --since through the pipeline without answering them.

    Decisions are recorded and the actions they would have queued are stored as
    `suppressed`; cases opened are tagged `backfill` and resolved. Safe next to a running
    daemon and safe to rerun: stored mentions are skipped.
    """
    from monitor.commands.case_options import runtime

    window = Window(since, until)
    if window.until is not None and window.since >= window.until:
        _refuse("--since must be before --until")
    rt = runtime(config_file)
    if window.since >= rt.clock.now():
        _refuse("--since is in the future")
    try:
        backfillable(rt, source)
        with _stopping_as_on_ctrl_c():
            report = _run(rt, source, window)
    except BackfillRefused as exc:
        _refuse(str(exc))
    finally:
        rt.engine.dispose()
    _summary(report)
    if report.failure:
        click.echo(f"error: {report.failure}", err=True)
        sys.exit(EXIT_FAILED)


def _refuse(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_USAGE)


@contextmanager
def _stopping_as_on_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP (`timeout`, systemd-run, a closed SSH session) stop the backfill
    as Ctrl-C does: by their default the process died, and the pages fetched, on X read
    and billed, were thrown away with the --since/--until that goes on. A SIGHUP the
    process was started ignoring (`nohup`) stays ignored."""

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    with handled((signal.SIGTERM, signal.SIGHUP), interrupt, left_if_ignored=(signal.SIGHUP,)):
        yield


def _run(rt: Runtime, source: str, window: Window) -> BackfillReport:
    # The platform cannot say how many mentions a window holds: while fetching, a
    # counter; once everything is fetched, a bar over the import.
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    console = Console(stderr=True)
    # Off a terminal (cron, a log collector) there is nothing to animate, and rich ends
    # a progress display there with a blank line: every run's stderr was not empty.
    off = not console.is_terminal
    with Progress(*columns, console=console, transient=True, disable=off) as progress:
        task: TaskID = progress.add_task(f"{source}: fetching", total=None)

        def advance(report: BackfillReport) -> None:
            if not report.importing:
                # "412/?": mentions fetched so far, of a total nobody knows yet.
                progress.update(task, completed=report.fetched)
                return
            text = f"{source}: importing oldest first, {report.ingested} new"
            progress.update(
                task, description=text, total=report.to_import, completed=report.imported
            )

        return backfill(rt, source, window, on_page=advance)


def _summary(report: BackfillReport) -> None:
    decided = ", ".join(f"{k} {v}" for k, v in sorted(report.decisions.items())) or "none"
    lines = [
        f"fetched: {report.fetched}",
        f"ingested: {report.ingested}",
        f"duplicates skipped: {report.duplicates}",
        f"cases opened: {report.cases_opened}",
        f"joined live cases (not decided): {report.joined_live}",
        f"joined cases resolved after they were written (not decided): {report.joined_resolved}",
        f"left to the daemon (written after its last poll): {report.left_to_daemon}",
        f"decisions: {decided}",
        f"actions suppressed: {report.suppressed}",
    ]
    click.echo("\n".join(lines + problem_lines(report.problems)))


def problem_lines(problems: list[str]) -> list[str]:
    # Every distinct line, not only the first: a Reddit listing cut off before --since
    # says so here, and the user must see that the window was not fully covered.
    counted = Counter(problems)  # in first-seen order
    distinct = list(counted)
    if not distinct:
        return []
    shown = [_times(line, counted[line]) for line in distinct[:PROBLEMS_SHOWN]]
    if len(distinct) > PROBLEMS_SHOWN:
        shown.append(f"  ... and {len(distinct) - PROBLEMS_SHOWN} more")
    return [f"problems: {len(distinct)}", *shown]


def _times(line: str, count: int) -> str:
    # The same line from several pages (thread context failing page after page) once.
    return f"  {line} (x{count})" if count > 1 else f"  {line}"
