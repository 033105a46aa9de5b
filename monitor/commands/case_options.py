"""What every ``inchannel cases`` command shares: --config and --as, the runtime, and
how a command prints a refusal and a stored text."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape

from monitor import casework
from monitor.casework import CaseworkError
from monitor.commands.options import config_option, terminal_text
from monitor.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _default_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def common(func: F) -> F:
    return config_option(func)


def user_option(func: F) -> F:
    return click.option(
        "--as",
        "user",
        default=_default_user,
        show_default="login name",
        callback=_actor_name,
        help="Who is acting (recorded in the audit trail).",
    )(func)


def _actor_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    # As long as a dashboard user's name: the audit trail's column holds no more, and
    # PostgreSQL refuses (SQLite stores) a longer one, which `db copy` would then trip on.
    name = value.strip()
    if not 1 <= len(name) <= MAX_ACTOR:
        raise click.BadParameter(f"1 to {MAX_ACTOR} characters, not {len(name)}")
    # A byte that is no UTF-8 (a Latin-1 terminal's "é") arrives as an unpaired
    # surrogate, which the driver cannot send: refused here, not as a traceback.
    if not casework.storable(name):
        raise click.BadParameter(casework.UNSTORABLE)
    # The audit trail keeps the name as typed, for every reader: on the dashboard's case
    # page a bidi override reversed it and the rest of its line, and an ESC or a C1
    # code is no one's name, only what a paste or a script let through.
    unprintable = next((c for c in name if not c.isprintable()), None)
    if unprintable is not None:
        raise click.BadParameter(f"contains the unprintable character {unprintable!a}")
    return name


MAX_ACTOR = 64


def runtime(config_file: Path | None) -> Runtime:
    """Broken rule files do not stop case work; what needs the rules refuses on its own."""
    from monitor.commands.loading import config_or_exit, migrated_or_exit
    from monitor.runtime import build_runtime

    rt = build_runtime(config_or_exit(config_file), rules_optional=True)
    migrated_or_exit(rt.engine, config_file)  # which disposes of the engine at the end
    return rt


def cell_text(text: str) -> str:
    """Stored text (mentions, handles, notes, errors) as a table cell shows it: no
    markup, and nothing a terminal would act on (an escape sequence in a mention)."""
    return escape(terminal_text(text))


def run(action: Callable[[], T]) -> T:
    try:
        return action()
    except CaseworkError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
