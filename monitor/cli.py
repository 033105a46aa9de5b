"""The ``inchannel`` command line. Exit codes: 0 ok, 1 failure/unhealthy, 2 bad config,
130 Ctrl-C."""

from __future__ import annotations

import logging
import os
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor import __version__
from monitor.commands.options import config_option, escape_unwritable_output
from monitor.database_settings import Database
from monitor.logs import setup_logging
from monitor.settings import CONFIG_ENV, Settings, config_path, load_settings
from monitor.store.db import (
    MOVE_DATA,
    CannotCreateFolder,
    CannotDowngrade,
    NeedsUpgrade,
    NotMigratedError,
    NotUtf8,
    current_revision,
    downgrade,
    driver_error,
    engine_for,
    first_line,
    head_revision,
    require_known_revision,
    require_migrated,
    require_utf8,
    sqlite_file_missing,
    upgrade,
)
from monitor.store.single import CannotLock
from monitor.yamlpos import ConfigError, Problem, substitute_env_in_url

if TYPE_CHECKING:
    from monitor.daemon import Running
    from monitor.rules.engine import RuleEngine
    from monitor.runtime import Runtime

log = logging.getLogger("inchannel")

EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


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


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


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
    rolled-back release) writes could lose data."""
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


@main.group()
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
    where = engine.url.render_as_string(hide_password=True)
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
    from monitor.store.single import DOWNGRADE, RUN, AnotherWorker, only_worker

    settings = config_or_exit(config_file)
    engine = engine_for(settings.database)
    if sqlite_file_missing(engine):
        engine.dispose()
        where = engine.url.render_as_string(hide_password=True)
        click.echo(
            f"error: the database {where} does not exist yet: there is no revision to go back from",
            err=True,
        )
        sys.exit(1)
    try:
        with only_worker(settings.database.url, role=DOWNGRADE):
            was = downgrade(engine, revision)
    except AnotherWorker as exc:
        if exc.role == RUN:
            click.echo(
                f"error: an inchannel run (pid {exc.holder}) is using {exc.path}: stop it "
                "before going back; it would run on a schema older than its code",
                err=True,
            )
        else:
            click.echo(f"error: {exc}", err=True)
        sys.exit(1)
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
    target_url = _target_url_or_exit(target_url)
    try:
        # The target waits on a locked file as long as the configured database does.
        database = settings.database
        target_database = Database(
            url=target_url, echo=database.echo, busy_timeout_ms=database.busy_timeout_ms
        )
    except ValidationError as exc:
        click.echo(f"error: --to: {exc.errors()[0]['msg'].removeprefix('Value error, ')}", err=True)
        sys.exit(2)
    from monitor.store.single import COPY, RUN, AnotherWorker, only_worker

    source, target = engine_for(settings.database), engine_for(target_database)
    try:
        # Held for the whole copy: what a worker writes meanwhile or after would be
        # missing from the copy, and a worker starting during it is turned away.
        with only_worker(settings.database.url, role=COPY):
            counts = copy_database(source, target)
    except AnotherWorker as exc:
        if exc.role != RUN:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        click.echo(
            f"error: an inchannel run (pid {exc.holder}) is using {exc.path}: stop it "
            "before copying; what it writes meanwhile or later would not be in the copy",
            err=True,
        )
        sys.exit(1)
    except SourceNeedsUpgrade as exc:
        click.echo(f"error: {exc.advice(upgrade_config_option(config_file))}", err=True)
        sys.exit(1)
    except CopyError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    finally:
        source.dispose()
        target.dispose()
    for table, count in counts.items():
        click.echo(f"{table}: {count} rows")
    click.echo(f"copied into {target.url.render_as_string(hide_password=True)}")


def _target_url_or_exit(written: str) -> str:
    """``db copy --to`` with its ${NAME} references read as ``database.url``'s are; a
    variable that is not set (or a stray ``${``) exits 2."""
    url, problems = substitute_env_in_url(written)
    if problems:
        click.echo(f"error: --to: {problems[0]}", err=True)
        sys.exit(EXIT_CONFIG)
    return url


@main.command()
@config_option
@click.option("--once", is_flag=True, help="Run one full cycle (poll, process, dispatch) and exit.")
@click.option("--dry-run", is_flag=True, help="Record would-be posts instead of posting.")
@click.option(
    "--serve/--no-serve", default=None, help="Also serve the dashboard (default: web.enabled)."
)
def run(config_file: Path | None, once: bool, dry_run: bool, serve: bool | None) -> None:
    """Run the daemon until SIGINT/SIGTERM/SIGHUP (or one cycle with --once)."""
    if once and serve:  # the cycle ends the process: there is no dashboard to serve
        raise click.UsageError("--once and --serve cannot be used together")
    settings, rules = settings_or_exit(config_file)
    setup_logging(settings.logging.level, json_lines=settings.logging.json_lines)
    for warning in settings.warnings:
        log.warning("config: %s", warning)
    # As a hot reload logs them: a rule found unreachable at start was told to no one.
    for warning in rules.ruleset.warnings:
        log.warning("rules: %s", warning)
    from monitor.store.single import AnotherWorker, only_worker

    try:
        with only_worker(settings.database.url):
            _run(settings, rules, once=once, dry_run=dry_run, serve=serve, config_file=config_file)
    except AnotherWorker as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)  # not 2: under systemd, a restart racing the old process's exit retries


def _run(
    settings: Settings,
    rules: RuleEngine,
    *,
    once: bool,
    dry_run: bool,
    serve: bool | None,
    config_file: Path | None,
) -> None:
    from monitor.ingest import resume_stopped_sources
    from monitor.runtime import build_runtime

    rt = build_runtime(settings, dry_run=dry_run, rules=rules)
    migrated_or_exit(rt.engine, config_file)
    if not once:
        _serve_metrics_or_exit(rt)  # metrics.port: a listener for workers without the dashboard
    from monitor.store.run_mode import ModeConflict, claim_mode

    try:
        # The demo posts nowhere, yet marks what it records as sent, as a dry run does.
        claim_mode(rt.sessions, dry_run=dry_run, demo=settings.is_demo)
    except ModeConflict as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)  # the wrong database for this mode: restarting cannot help
    _announce(settings, dry_run)
    _x_account_or_exit(rt)
    resume_stopped_sources(rt)
    if once:
        try:
            _run_once(rt)
        finally:
            rt.engine.dispose()  # close the pool's connections before the process ends
        return
    if settings.web.enabled if serve is None else serve:
        _serve_in_thread(rt)
    from monitor.daemon import run_forever

    if run_forever(rt):
        # A job still running after the stop's grace was left behind (the log names it):
        # systemd shows the stop as failed, as it would its SIGKILL.
        sys.exit(1)


def _x_account_or_exit(rt: Runtime) -> None:
    """Exit 2 before any work starts when x.oauth2_user_token is another account's than
    x.user_id (responders.x.XResponder.check_account): its replies would be re-sent
    after a crash and read back as customers' posts. Only a posting X responder checks."""
    from monitor.domain import Platform
    from monitor.sources.x_settings import XResponderConfig

    if not isinstance(rt.settings.responders.get("x"), XResponderConfig):
        return  # no X responder (nor tweepy to import): nothing is posted as anyone
    from responders.x import XResponder

    responder = rt.responders.get(Platform.X)
    if not isinstance(responder, XResponder):
        return  # --dry-run records instead
    problem = responder.check_account()
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_CONFIG)


def _serve_metrics_or_exit(rt: Runtime) -> None:
    """Exit 1 before any work starts when the metrics listener cannot have its address."""
    from monitor.metrics import CannotServeMetrics, serve_metrics

    try:
        serve_metrics(rt)
    except CannotServeMetrics as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _announce(settings: Settings, dry_run: bool) -> None:
    if settings.is_demo:
        log.info(
            "demo mode: replay sources and the recording responder; no credentials are "
            "needed and nothing is posted to any platform"
        )
    elif dry_run:
        log.info("dry run: every responder records instead of posting")


def _run_once(rt: Runtime) -> None:
    """One cycle; exit 1 if a job failed. Each failure is logged and recorded as the
    daemon's are, so `inchannel status` reports it between cron runs."""
    from monitor.daemon import Running, stopping_on_signals
    from monitor.pipeline import run_once

    started = time.perf_counter()
    running = Running()
    # SIGTERM (a cron `timeout`, a stopped systemd unit) killed the process mid-send,
    # its leases held: as the daemon, the running step finishes and the rest is skipped.
    with stopping_on_signals(rt), _stuck_step_left_after_the_grace(rt, running):
        try:
            report = run_once(rt, running)
        finally:
            # Ctrl-C or a crash mid-cycle: the next `run --once` (cron) must not wait out
            # this process's leases before polling again.
            leases_held = _release_leases(rt)
    log.info(
        "cycle done polls=%d process_batches=%d dispatch_batches=%d duration_ms=%.1f",
        report.polls,
        report.process_batches,
        report.dispatch_batches,
        (time.perf_counter() - started) * 1000,
    )
    if report.failed:
        n = len(report.failed)
        listed = "; ".join(report.failed)
        click.echo(f"error: run --once: {n} job{'s' if n != 1 else ''} failed: {listed}", err=True)
    if rt.stopping.is_set():
        click.echo("error: run --once: stopped by a signal before the cycle finished", err=True)
    if leases_held:
        click.echo(f"error: run --once: {leases_held}", err=True)
    if report.failed or rt.stopping.is_set() or leases_held:
        sys.exit(1)


@contextmanager
def _stuck_step_left_after_the_grace(rt: Runtime, running: Running) -> Iterator[None]:
    """Once a stop signal comes, wait for the running step as the daemon's stop does
    (STOP_GRACE_SECONDS), then release the leases and exit 1 without it: a step stuck
    in a network call or a lock held the stop for ever, and `timeout` sends its SIGTERM
    once. The step runs in the main thread, which nothing can make leave it: the
    process ends under it (os._exit), as the daemon's ends under its job threads."""
    if threading.current_thread() is not threading.main_thread():
        yield  # no signal handlers either (signal_handlers.handled)
        return
    # The signal is read from the wakeup fd, not from rt.stopping: the kernel may hand it
    # to a thread of a native library (OpenBLAS), and Python runs the handler only once
    # the main thread runs again, which a stuck step never lets it do.
    woken, wake = socket.socketpair()
    wake.setblocking(False)
    previous = signal.set_wakeup_fd(wake.fileno(), warn_on_full_buffer=False)
    finished = threading.Event()
    watcher = threading.Thread(
        target=_watch_for_a_stop, args=(rt, running, woken, finished), name="stop", daemon=True
    )
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        signal.set_wakeup_fd(previous)
        wake.send(b"\0")  # no signal's number: the watcher ends now, not at its next look
        watcher.join()
        woken.close()
        wake.close()


def _watch_for_a_stop(
    rt: Runtime, running: Running, woken: socket.socket, finished: threading.Event
) -> None:
    from monitor.daemon import STOP_GRACE_SECONDS, STOP_SIGNALS, wait_for_jobs

    while not rt.stopping.is_set():
        caught = woken.recv(64)
        if finished.is_set():
            return
        if any(number in STOP_SIGNALS for number in caught):
            rt.stopping.set()  # the handler may not run until the step returns
    left = wait_for_jobs(rt, running)
    if not left or finished.is_set():
        return  # the step ended in time: the run ends as usual
    click.echo(
        f"error: run --once: stopped by a signal; the steps still running after "
        f"{STOP_GRACE_SECONDS:g} s were left behind: {', '.join(left)}",
        err=True,
    )
    leases_held = _release_leases(rt)
    if leases_held:
        click.echo(f"error: run --once: {leases_held}", err=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


def _release_leases(rt: Runtime) -> str | None:
    """Release this run's source leases; with the database away, why they are still
    held (the error left the run's own report unsaid). ``None`` once released."""
    from monitor.ingest import lease_seconds, release_leases
    from monitor.jobstate import describe

    try:
        release_leases(rt)
    except DBAPIError as exc:
        longest = max((lease_seconds(rt, name) for name in rt.sources), default=0.0)
        return (
            "could not release the source leases (the next run polls those sources once "
            f"the leases expire, within {longest:g} s): {describe(exc)}"
        )
    return None


def _serve_in_thread(rt: Runtime) -> None:
    from monitor.web.server import serve

    sock = _listen_or_exit(rt.settings)
    # The daemon's rules-reload job keeps rt.rules current for the dashboard too.
    kwargs = {"sock": sock, "reload_rules": False}
    thread = threading.Thread(target=serve, args=(rt,), kwargs=kwargs, name="web", daemon=True)
    thread.start()


def _listen_or_exit(settings: Settings) -> socket.socket:
    """Exit 1 before any work starts when the dashboard cannot have its address."""
    from monitor.web.server import CannotListen, listen

    try:
        return listen(settings.web.host, settings.web.port)
    except CannotListen as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command("serve")
@config_option
def serve_command(config_file: Path | None) -> None:
    """Serve the dashboard only (the daemon runs elsewhere on the same database).

    Broken rule files are a warning here, not an exit: cases can still be worked. A
    database not at this version's schema is exit 1 (run `inchannel db upgrade`)."""
    settings = config_or_exit(config_file)
    setup_logging(settings.logging.level, json_lines=settings.logging.json_lines)
    from monitor.runtime import build_runtime
    from monitor.web.server import serve

    rt = build_runtime(settings, rules_optional=True)
    migrated_or_exit(rt.engine, config_file)  # as a worker does
    _warn_without_rules(rt)
    serve(rt, sock=_listen_or_exit(settings))


def _warn_without_rules(rt: Runtime) -> None:
    # One line per error, as check-config prints it: journald keeps each line apart.
    problems = rt.rules_error.problems if rt.rules_error else []
    for problem in problems:
        if not problem.warning:
            click.echo(f"warning: rules not loaded, serving without them: {problem}", err=True)


# --- X (issue 7): usage, cost and source health in detail ---
@main.group("x")
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


# --- end X ---


def _register_command_groups() -> None:
    from monitor.commands.answers import answers_group
    from monitor.commands.backfill import backfill_command
    from monitor.commands.cases import cases_group
    from monitor.commands.feedback import feedback_command
    from monitor.commands.score import score
    from monitor.commands.status import status_command
    from monitor.commands.users import users_group
    from monitor.rules.cli import rules

    main.add_command(rules)
    main.add_command(cases_group)
    main.add_command(score)
    main.add_command(feedback_command)
    main.add_command(status_command)
    main.add_command(users_group)
    main.add_command(backfill_command)
    main.add_command(answers_group)


_register_command_groups()

if __name__ == "__main__":  # pragma: no cover
    main()
