"""``inchannel run --once``: one cycle, stopped as the daemon is stopped, its source
leases released whatever happens; exit 1 if a job failed."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from monitor.daemon import Running
    from monitor.runtime import Runtime

log = logging.getLogger("inchannel")


def run_once(rt: Runtime) -> None:
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
