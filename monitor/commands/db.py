"""``inchannel db``: create, inspect, migrate back and copy the database schema."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from pydantic import ValidationError
from sqlalchemy import Engine

from monitor.commands.loading import EXIT_CONFIG, config_or_exit, upgrade_config_option
from monitor.commands.options import config_option
from monitor.database_settings import Database
from monitor.store.db import (
    MOVE_DATA,
    CannotDowngrade,
    NeedsUpgrade,
    NotMigratedError,
    NotUtf8,
    current_revision,
    downgrade,
    engine_for,
    head_revision,
    require_known_revision,
    require_utf8,
    shown_url,
    sqlite_file_missing,
    upgrade,
)
from monitor.yamlpos import substitute_env_in_url

if TYPE_CHECKING:
    from monitor.store.single import AnotherWorker


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@config_option
def db_upgrade(config_file: Path | None) -> None:
    """Create or migrate the database schema to this version."""
    settings = config_or_exit(config_file)
    engine = engine_for(settings.database)
    try:
        require_known_revision(engine)
        upgrade(engine)
        click.echo(f"database at revision {current_revision(engine)}")
    except NotMigratedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()  # close the pool's connections before the process ends


@db.command("current")
@config_option
def db_current(config_file: Path | None) -> None:
    """Show the schema revision of the database and of this version."""
    settings = config_or_exit(config_file)
    engine = engine_for(settings.database)
    # Asked before connecting: SQLite creates the file it opens, and only `db upgrade`
    # may (README), or `status` then found an empty database nobody had set up.
    missing = sqlite_file_missing(engine)
    try:
        current = None if missing else current_revision(engine)
        refused = None if current is None else _encoding_refused(engine)
    finally:
        engine.dispose()
    shown = "does not exist yet" if missing else current or "no schema"
    click.echo(f"database: {shown}; this version: {head_revision()}")
    if refused:
        click.echo(f"error: {refused}", err=True)
    if current != head_revision() or refused:
        sys.exit(1)


def _encoding_refused(engine: Engine) -> str | None:
    """Why every other command refuses this database (not in UTF8), or None: an
    up-to-date revision alone read as ready to run."""
    where = shown_url(engine)
    with engine.connect() as conn:
        try:
            require_utf8(conn, f"the database {where}: its", MOVE_DATA)
        except NotUtf8 as exc:
            return str(exc)
    return None


@db.command("downgrade")
@config_option
@click.argument("revision")
def db_downgrade(config_file: Path | None, revision: str) -> None:
    """Migrate the database schema back to REVISION, an earlier one (e.g. 0006).

    Run it with the release that migrated the database, before installing the older
    one; stop the workers and the dashboard first."""
    from monitor.store.single import DOWNGRADE, AnotherWorker, only_worker

    settings = config_or_exit(config_file)
    engine = engine_for(settings.database)
    if sqlite_file_missing(engine):
        engine.dispose()
        where = shown_url(engine)
        click.echo(
            f"error: the database {where} does not exist yet: there is no revision to go back from",
            err=True,
        )
        sys.exit(1)
    try:
        with only_worker(settings.database.url, role=DOWNGRADE):
            was = downgrade(engine, revision)
    except AnotherWorker as exc:
        _exit_for_another_worker(
            exc, "before going back; it would run on a schema older than its code"
        )
    except (NotMigratedError, CannotDowngrade) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        engine.dispose()
    done = "already" if was == revision else f"(was {was})"
    click.echo(f"database at revision {revision} {done}")


@db.command("copy")
@config_option
@click.option(
    "--to",
    "target_url",
    required=True,
    help="Database URL to copy into (empty); ${NAME} is read from the environment.",
)
def db_copy(config_file: Path | None, target_url: str) -> None:
    """Copy the configured database into another one, e.g. SQLite into PostgreSQL.

    Stop the daemon first. The target is migrated and must be empty; afterwards point
    database.url at it. Give the password as ${NAME} (quoted from the shell), not in
    the command line, where ps and the shell's history show it.
    """
    from monitor.store.copy import CopyError, SourceNeedsUpgrade, copy_database

    # Schema work needs no rules: a bad rules commit must not block an upgrade or a move.
    settings = config_or_exit(config_file)
    target_database = _target_database_or_exit(settings.database, target_url)
    from monitor.store.single import COPY, AnotherWorker, only_worker

    source, target = engine_for(settings.database), engine_for(target_database)
    try:
        # Held for the whole copy: what a worker writes meanwhile or after would be
        # missing from the copy, and a worker starting during it is turned away.
        with only_worker(settings.database.url, role=COPY):
            counts = copy_database(source, target)
    except AnotherWorker as exc:
        _exit_for_another_worker(
            exc, "before copying; what it writes meanwhile or later would not be in the copy"
        )
    except (SourceNeedsUpgrade, NeedsUpgrade) as exc:
        # NeedsUpgrade: the worker lock refused a SQLite source that does not exist yet.
        needs = exc if isinstance(exc, SourceNeedsUpgrade) else SourceNeedsUpgrade(exc)
        click.echo(f"error: {needs.advice(upgrade_config_option(config_file))}", err=True)
        sys.exit(1)
    except CopyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        source.dispose()
        target.dispose()
    for table, count in counts.items():
        click.echo(f"{table}: {count} rows")
    click.echo(f"copied into {shown_url(target)}")


def _exit_for_another_worker(exc: AnotherWorker, stop_it: str) -> NoReturn:
    """Exit 1 for a worker lock held by another process; a run holding it is told to
    stop first, ``stop_it`` saying when and why."""
    from monitor.store.single import RUN

    if exc.role != RUN:
        click.echo(f"error: {exc}", err=True)
    else:
        message = f"an inchannel run (pid {exc.holder}) is using {exc.path}: stop it {stop_it}"
        click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _target_database_or_exit(database: Database, written: str) -> Database:
    """``db copy --to`` as a database setting, or exit 2. The target waits on a locked
    file as long as the configured database does."""
    url = _target_url_or_exit(written)
    try:
        return Database(url=url, echo=database.echo, busy_timeout_ms=database.busy_timeout_ms)
    except ValidationError as exc:
        click.echo(f"error: --to: {exc.errors()[0]['msg'].removeprefix('Value error, ')}", err=True)
        sys.exit(EXIT_CONFIG)


def _target_url_or_exit(written: str) -> str:
    """``db copy --to`` with its ${NAME} references read as ``database.url``'s are; a
    variable that is not set (or a stray ``${``) exits 2."""
    url, problems = substitute_env_in_url(written)
    if problems:
        click.echo(f"error: --to: {problems[0]}", err=True)
        sys.exit(EXIT_CONFIG)
    return url
