"""``inchannel run`` (the daemon, or one cycle with --once) and ``inchannel serve`` (the
dashboard alone)."""

from __future__ import annotations

import logging
import socket
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.commands.loading import (
    EXIT_CONFIG,
    config_or_exit,
    migrated_or_exit,
    settings_or_exit,
    upgrade_config_option,
)
from monitor.commands.options import config_option
from monitor.commands.run_once import run_once
from monitor.logs import setup_logging
from monitor.settings import Settings

if TYPE_CHECKING:
    from monitor.rules.engine import RuleEngine
    from monitor.runtime import Runtime

log = logging.getLogger("inchannel")


@click.command()
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
    from monitor.store.db import NeedsUpgrade
    from monitor.store.single import AnotherWorker, only_worker

    try:
        with only_worker(settings.database.url):
            _run(settings, rules, once=once, dry_run=dry_run, serve=serve, config_file=config_file)
    except AnotherWorker as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)  # not 2: under systemd, a restart racing the old process's exit retries
    except NeedsUpgrade as exc:  # the SQLite file does not exist yet
        click.echo(f"error: {exc.advice(upgrade_config_option(config_file))}", err=True)
        sys.exit(1)


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
    from monitor.runtime import build_runtime, settled

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
    _clock_or_exit(rt)
    _x_account_or_exit(rt)
    resume_stopped_sources(rt)
    with settled(rt):
        _work(rt, once=once, serve=serve)


def _work(rt: Runtime, *, once: bool, serve: bool | None) -> None:
    if once:
        try:
            run_once(rt)
        finally:
            rt.engine.dispose()  # close the pool's connections before the process ends
        return
    if rt.settings.web.enabled if serve is None else serve:
        _serve_in_thread(rt)
    from monitor.daemon import run_forever

    if run_forever(rt):
        # A job still running after the stop's grace was left behind (the log names it):
        # systemd shows the stop as failed, as it would its SIGKILL.
        sys.exit(1)


def _clock_or_exit(rt: Runtime) -> None:
    """Exit 1 before any work starts when this host's clock is too far from the
    PostgreSQL server's (monitor.clock_skew): it would take over other workers' live
    leases and claims, and post replies twice."""
    from monitor.clock_skew import startup_problem

    problem = startup_problem(rt.engine, rt.settings)
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        # Not 2: systemd's Restart=on-failure tries again every RestartSec, so the
        # worker starts by itself once NTP has set the clock right.
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


@click.command("serve")
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
