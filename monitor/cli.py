"""The ``inchannel`` command line. Exit codes: 0 ok, 1 failure/unhealthy, 2 bad config,
130 Ctrl-C.

The commands live in monitor.commands, one module per command or group, and load what
they need with monitor.commands.loading; this module is the group that runs them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.exc import DBAPIError

from monitor import __version__
from monitor.commands.loading import EXIT_CONFIG, settings_or_exit, shown_problem
from monitor.commands.options import config_option, escape_unwritable_output
from monitor.settings import config_path
from monitor.store.db import CannotCreateFolder, driver_error, first_line
from monitor.store.single import CannotLock

EXIT_INTERRUPTED = 130


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class _Commands(click.Group):
    """A database that cannot be reached (down, wrong host, locked) is one line of error
    and exit 1, never a traceback; the daemon's own steps handle it while running. A
    SQLite folder or worker lock file the user may not use is one line and exit 2.
    Ctrl-C is exit 130 (128 + SIGINT, as a shell reports it), not click's 1 of a failure."""

    def invoke(self, ctx: click.Context) -> object:
        escape_unwritable_output()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # The newline ends the terminal's "^C" echo, as click's "Aborted!" did.
            click.echo("\nerror: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except DBAPIError as exc:
            click.echo(f"error: the database cannot be used: {_first_line(exc)}", err=True)
            sys.exit(1)
        except (CannotCreateFolder, CannotLock) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)  # a folder's or a file's owner: restarting cannot fix it


def _first_line(error: DBAPIError) -> str:
    text = first_line(error)
    return text[:300] if text else type(driver_error(error)).__name__


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inchannel")
def main() -> None:
    """inchannel: answer brand mentions on X and Reddit in the customer's own thread."""


@main.command("check-config")
@config_option
def check_config(config_file: Path | None) -> None:
    """Validate the config file and the rule files; exit 2 on any error."""
    settings, engine = settings_or_exit(config_file)
    # Warnings (an allowed redirect, an unreachable rule) are printed but do not fail.
    for warning in (*settings.warnings, *engine.ruleset.warnings):
        click.echo(str(shown_problem(warning, config_file)), err=True)
    path = config_path(config_file)
    counted = f"{_count(len(settings.sources), 'source')}, {_count(len(engine.rules), 'rule')}"
    click.echo(f"{path}: ok ({counted})")


def _register_command_groups() -> None:
    from monitor.commands.answers import answers_group
    from monitor.commands.backfill import backfill_command
    from monitor.commands.cases import cases_group
    from monitor.commands.db import db
    from monitor.commands.feedback import feedback_command
    from monitor.commands.run import run, serve_command
    from monitor.commands.score import score
    from monitor.commands.status import status_command
    from monitor.commands.users import users_group
    from monitor.commands.x import x_group
    from monitor.rules.cli import rules

    # click lists them by name, whatever the order they are added in.
    groups = (db, run, serve_command, x_group, rules, cases_group, score, feedback_command)
    for command in (*groups, status_command, users_group, backfill_command, answers_group):
        main.add_command(command)


_register_command_groups()

if __name__ == "__main__":  # pragma: no cover
    main()
