"""Loading what a command needs, or exiting with why: the config (2 when it is wrong),
the rules, and a database at this version's schema (1 when it is not)."""

from __future__ import annotations

import logging
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from sqlalchemy import Engine

from monitor.logs import setup_logging
from monitor.settings import CONFIG_ENV, Settings, config_path, load_settings
from monitor.store.db import NeedsUpgrade, NotMigratedError, engine_for, require_migrated
from monitor.yamlpos import ConfigError, Problem

if TYPE_CHECKING:
    from monitor.rules.engine import RuleEngine

EXIT_CONFIG = 2


def fail_config(error: ConfigError, config_file: Path | None = None) -> NoReturn:
    for problem in error.problems:
        click.echo(str(shown_problem(problem, config_file)), err=True)
    errors = sum(not p.warning for p in error.problems)
    click.echo(f"{errors} error(s) in the configuration", err=True)
    sys.exit(EXIT_CONFIG)


def shown_problem(problem: Problem, config_file: Path | None) -> Problem:
    """The problem with its file named as the config file was: the rule, list and
    answers files are found from the config's folder resolved, so they came in full
    beside a config path typed relative (``config/inchannel.yaml`` and
    ``/srv/acme/config/rules/a.yaml``). A config given in full keeps every path in full."""
    file = Path(problem.file)
    if config_path(config_file).is_absolute() or not file.is_absolute():
        return problem
    try:
        return replace(problem, file=os.path.relpath(file, Path.cwd().resolve()))
    except (OSError, ValueError):  # the current directory is gone; another drive
        return problem


def settings_or_exit(config_file: Path | None) -> tuple[Settings, RuleEngine]:
    """The config and the rules loaded from it, or exit 2. Loaded once and handed on:
    a second load could read other files (a `git pull` meanwhile) and fail past here."""
    settings = config_or_exit(config_file)
    try:
        # Rules are part of the configuration: a broken rule file must also fail fast.
        from monitor.runtime import build_rule_engine

        return settings, build_rule_engine(settings)
    except ConfigError as exc:
        fail_config(exc, config_file)


def config_or_exit(config_file: Path | None) -> Settings:
    """The config file alone, or exit 2; the rule files are not read. Serve and the case
    and user commands build their runtime with ``rules_optional``: a broken rules commit
    is when people answer by hand."""
    path = config_path(config_file)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        fail_config(_whence(exc, path, config_file), config_file)
    # Every command logs in the configured format (JSON lines, escaped plain text);
    # those that print their results show warnings and errors only. `run` and `serve`
    # set the configured level once the rules are loaded.
    quiet = max(logging.getLevelName(settings.logging.level), logging.WARNING)
    setup_logging(quiet, json_lines=settings.logging.json_lines)
    return settings


def _whence(error: ConfigError, path: Path, config_file: Path | None) -> ConfigError:
    """A config file that is missing, with where its name came from when no --config
    gave it: a first command run outside the checkout named a file nobody typed."""
    if config_file is not None or path.exists():
        return error
    if os.environ.get(CONFIG_ENV):
        whence = f"from {CONFIG_ENV}"
    else:
        whence = (
            "the default config file, in the current directory: give --config FILE or set "
            f"{CONFIG_ENV}"
        )
    problems = [
        replace(p, message=f"{p.message} ({whence})") if p.file == str(path) else p
        for p in error.problems
    ]
    return ConfigError(problems)


def database_without_rules(config_file: Path | None) -> tuple[Settings, Engine]:
    """The config and a migrated database, or exit (2, 1). The rules are not loaded: the
    commands that report a rejected rules change (`status`, `rules status`) must work
    while the files are broken."""
    settings = config_or_exit(config_file)
    engine = engine_for(settings.database)
    migrated_or_exit(engine, config_file)
    return settings, engine


def upgrade_config_option(config_file: Path | None) -> str:
    """The `` --config FILE`` for advice to run `inchannel db upgrade`: $INCHANNEL_CONFIG
    reaches `db upgrade` as it reached the refused command; --config does not."""
    return "" if config_file is None else f" --config {shlex.quote(str(config_file))}"


def migrated_or_exit(engine: Engine, config_file: Path | None) -> None:
    """Exit 1, naming the command to run, unless the database is at this version's
    schema: on an older one every read of a new column fails, and on a newer one (a
    rolled-back release) writes could lose data.

    The first connection is made here, so the engine is disposed of when the command
    ends, however it ends: a pool left to the garbage collector kept its PostgreSQL
    session open until it ran, and in tests its ResourceWarning failed whichever test
    came next (`run` refused by its database's mode, `serve` by a taken port)."""
    context = click.get_current_context(silent=True)
    if context is not None:
        context.call_on_close(engine.dispose)
    try:
        require_migrated(engine)
    except NeedsUpgrade as exc:
        engine.dispose()
        click.echo(f"error: {exc.advice(upgrade_config_option(config_file))}", err=True)
        sys.exit(1)
    except NotMigratedError as exc:
        engine.dispose()
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
