"""The long-running daemon: APScheduler jobs that call the step functions."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.job import Job
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import jobs, jobstate
from monitor.clock import Clock
from monitor.dispatch import dispatch_outbox
from monitor.health_alerts import check_health
from monitor.ingest import lease_seconds, poll_source, release_leases
from monitor.processing import process_pending
from monitor.rules.reload import RELOAD_SECONDS, RuleReloader
from monitor.runtime import Runtime
from monitor.signal_handlers import handled
from monitor.sla import check_sla

log = logging.getLogger("inchannel.daemon")

# One job run drains at most this many batches, so other jobs get their turn.
MAX_BATCHES_PER_RUN = 50
# How often the main thread looks for jobs a clock stepped back left far ahead.
CLOCK_WATCH_SECONDS = 5.0
# Room for the scheduler's own lateness before a next run counts as too far ahead.
CLOCK_SLACK = timedelta(seconds=1)
# A stop waits this long for the jobs running (a send or a poll under way), then releases
# the leases and withdraws the job reports all the same, and exits: a job stuck in a
# network call or a lock held the stop until systemd SIGKILLed the worker (its default
# TimeoutStopSec is 90 s), and a killed worker's leases and reports outlive it.
STOP_GRACE_SECONDS = 60.0
# How often a stop waiting for jobs reads the clock again.
STOP_WAIT_STEP = 0.5
# The recorded jobs a clock skew pauses (the polls hand their leases over instead).
SKEW_PAUSED = frozenset({"process", "dispatch", "sla"})
# The signals that stop a worker (SIGHUP: the terminal of a foreground run closed).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Running:
    """The jobs running in this process, and since when (by the runtime's clock)."""

    def __init__(self) -> None:
        self._since: dict[str, datetime] = {}
        self._changed = threading.Condition()

    @contextmanager
    def job(self, name: str, now: datetime) -> Iterator[None]:
        with self._changed:
            self._since[name] = now
        try:
            yield
        finally:
            with self._changed:
                self._since.pop(name, None)
                self._changed.notify_all()

    def now(self) -> dict[str, datetime]:
        with self._changed:
            return dict(self._since)

    def wait(self, clock: Clock, seconds: float, *, since: datetime) -> dict[str, datetime]:
        """Wait until no job runs or ``seconds`` have gone by on ``clock`` from ``since``
        (the moment the wait was announced: time gone by after the announcement counts);
        returns the jobs still running. Only the clock's steps forward count: a deadline
        on the wall clock, stepped back an hour (NTP), held the stop an hour past
        systemd's patience."""
        waited, last = 0.0, since
        with self._changed:
            while self._since and waited < seconds:
                self._changed.wait(min(seconds - waited, STOP_WAIT_STEP))
                now = clock.now()
                waited += max((now - last).total_seconds(), 0.0)
                last = now
            return dict(self._since)


class DaemonThreads(BaseExecutor):  # type: ignore[misc]
    """Each job run in a daemon thread of its own. APScheduler's ThreadPoolExecutor
    (concurrent.futures) joins its threads as the interpreter exits, stuck ones too, so
    a worker that gave up waiting for a stuck job still never exited."""

    def __init__(self) -> None:
        super().__init__()
        self._threads: set[threading.Thread] = set()
        # Not `_lock`: APScheduler sets its own executor lock under that name at start.
        self._threads_lock = threading.Lock()

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def run() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)
            finally:
                with self._threads_lock:
                    self._threads.discard(thread)

        thread = threading.Thread(target=run, name=f"job {job.id}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def shutdown(self, wait: bool = True) -> None:
        if wait:  # as APScheduler's own executors do
            with self._threads_lock:
                threads = list(self._threads)
            for thread in threads:
                thread.join()


def guarded(
    name: str,
    rt: Runtime,
    step: Callable[[], bool],
    *,
    recorded_every: float | None = None,
    recorders: list[jobstate.Recorder] | None = None,
    running: Running | None = None,
    paused: threading.Event | None = None,
) -> Callable[[], None]:
    """Run ``step`` until it has no more work; a failure is logged, never fatal. With
    ``recorded_every`` (the job's interval in seconds), failures are also reported where
    `inchannel status` sees them (monitor.jobs, monitor.jobstate); polls record their own,
    per source. The job's recorder is added to ``recorders``, which the health job looks
    at for a batch that is stuck. ``running`` tells a stop which jobs it waits for.
    While ``paused`` is set the job runs no batch (jobs.run_job)."""
    recorder = None
    if recorded_every is not None:
        recorder = jobs.recorder_for(rt, name, recorded_every)
        if recorders is not None:
            recorders.append(recorder)

    streak = jobs.Streak()

    def job() -> None:
        with running.job(name, rt.clock.now()) if running is not None else nullcontext():
            jobs.run_job(
                rt,
                name,
                step,
                recorder,
                max_batches=MAX_BATCHES_PER_RUN,
                streak=streak,
                paused=paused,
            )

    return job


def poll_unless_skewed(rt: Runtime, name: str) -> Callable[[], bool]:
    """The poll job's step: ``poll_source``, or while this host's clock is skewed, the
    release of the source's lease. Kept, it held the source from every worker until it
    expired, and a clock ahead had written that expiry as much too late. Released here
    and not by the health job that finds the skew: a poll of the source may be under way
    in this job's thread, and another worker would poll it at the same time (on X,
    billed twice). This job runs one instance at a time, so no poll of it is under way."""

    def step() -> bool:
        if not rt.clock_skewed.is_set():
            return poll_source(rt, name)
        if release_leases(rt, [name]):
            log.warning("source=%s lease released: this host's clock is skewed", name)
        return False

    return step


def build_scheduler(rt: Runtime, running: Running | None = None) -> BackgroundScheduler:
    # misfire_grace_time=None: a run that starts late (a busy or suspended host) runs
    # late, once (coalesce), rather than being dropped as missed.
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )
    for config in rt.settings.sources:
        if config.name not in rt.sources:
            continue
        scheduler.add_job(
            guarded(
                f"poll:{config.name}", rt, poll_unless_skewed(rt, config.name), running=running
            ),
            "interval",
            seconds=config.interval_seconds,
            jitter=max(1, int(config.interval_seconds * 0.1)),
            id=f"poll:{config.name}",
            next_run_time=rt.clock.now(),
        )
    recorders: list[jobstate.Recorder] = []

    def health() -> bool:
        # Before the check, so that its alerts and status read the same stuck jobs. A
        # stuck health job is told by its heartbeat going stale.
        jobs.look_for_stuck(rt, recorders)
        return check_health(rt)

    steps: dict[str, Callable[[], bool]] = {
        "process": lambda: process_pending(rt),
        "dispatch": lambda: dispatch_outbox(rt),
        "sla": lambda: check_sla(rt),
        "health": health,
    }
    for name, seconds in jobs.recorded_intervals(rt.settings).items():
        scheduler.add_job(
            guarded(
                name,
                rt,
                steps[name],
                recorded_every=seconds,
                recorders=recorders,
                running=running,
                # Paused while this host's clock is too far from the database server's
                # (monitor.clock_skew): a skewed one takes over the other workers' live
                # claims, and one ahead marks SLA deadlines missed before they pass. The
                # health job goes on measuring, and the jobs run again once it is back.
                paused=rt.clock_skewed if name in SKEW_PAUSED else None,
            ),
            "interval",
            seconds=seconds,
            id=name,
            next_run_time=rt.clock.now(),
        )
    # --- rules issue: hot reload of the rule files ---
    reloader = RuleReloader(rt)
    scheduler.add_job(
        guarded("rules-reload", rt, reloader.check, running=running),
        "interval",
        seconds=RELOAD_SECONDS,
        id="rules-reload",
        next_run_time=rt.clock.now(),
    )
    # A thread for every job (each runs one instance at most): APScheduler's default pool
    # of 10 let ten slow polls hold processing and dispatch back until they ended.
    scheduler.add_executor(DaemonThreads())
    return scheduler


def _release_leases(rt: Runtime) -> None:
    """Hand our sources to the other workers at once; with the database away (a stop
    during an outage) they wait for the leases to expire, and the stop is still clean."""
    try:
        release_leases(rt)
    except Exception as exc:
        log.warning(
            "could not release this worker's source leases (other workers take them "
            "once they expire, within %g s): %s",
            max((lease_seconds(rt, name) for name in rt.sources), default=0.0),
            jobstate.describe(exc),
        )


def _withdraw_reports(rt: Runtime) -> None:
    """A worker that stops fails no job any more: its reports end with it (a killed
    worker's are settled by the others' next successful runs; monitor.jobstate)."""
    try:
        jobstate.withdraw(rt.sessions, rt.worker_id)
    except Exception as exc:
        log.warning("could not withdraw this worker's job failures: %s", jobstate.describe(exc))


@contextmanager
def stopping_on_signals(rt: Runtime) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP (the terminal of a foreground run closed) set
    ``rt.stopping``: the running step finishes, no other starts. A SIGHUP or SIGINT the
    process was started ignoring stays ignored. The previous handlers are given back at
    the end."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal=%s stopping after the running step", signal.Signals(signum).name)
        rt.stopping.set()

    # SIGTERM always stops.
    with handled(STOP_SIGNALS, stop, left_if_ignored=(signal.SIGINT, signal.SIGHUP)):
        yield


def pull_in_after_clock_step(scheduler: BackgroundScheduler, now: datetime) -> list[str]:
    """Run now the jobs whose next run is further ahead than one interval; returns their ids.

    The scheduler keeps each next run as a time on the wall clock: once the clock is
    stepped back (NTP correcting a host whose clock ran ahead), every next run is that
    far ahead, and no job ran, no poll and no send, until the clock had caught up."""
    pulled = []
    for job in scheduler.get_jobs():
        trigger, next_run = job.trigger, job.next_run_time
        if not isinstance(trigger, IntervalTrigger) or next_run is None:
            continue
        furthest = now + trigger.interval + timedelta(seconds=trigger.jitter or 0) + CLOCK_SLACK
        if next_run > furthest:
            job.modify(next_run_time=now)
            pulled.append(str(job.id))
    return pulled


def run_forever(rt: Runtime, *, on_started: Callable[[], None] | None = None) -> list[str]:
    """Run until SIGINT/SIGTERM/SIGHUP; the running steps finish before the process exits,
    unless they take more than STOP_GRACE_SECONDS. Returns the jobs then left running."""
    running = Running()
    scheduler = build_scheduler(rt, running)
    with stopping_on_signals(rt):
        scheduler.start()
        log.info("daemon started sources=%s", ",".join(rt.sources) or "-")
        if on_started is not None:
            on_started()
        try:
            while True:
                # The system clock, not rt.clock: it is the one the scheduler reads.
                pulled = pull_in_after_clock_step(scheduler, datetime.now(UTC))
                if pulled:
                    log.warning(
                        "the clock went back: jobs %s run now, not once it has caught up",
                        ",".join(pulled),
                    )
                if rt.stopping.wait(CLOCK_WATCH_SECONDS):
                    break
        finally:
            scheduler.shutdown(wait=False)
            left = wait_for_jobs(rt, running)
            _release_leases(rt)
            _withdraw_reports(rt)
            log.info("daemon stopped")
    return left


def wait_for_jobs(rt: Runtime, running: Running) -> list[str]:
    """Wait up to STOP_GRACE_SECONDS for the running jobs; returns those still running,
    whose threads (daemon threads) end with the process. A reply one was sending stays
    claimed: after workers.stale_claim_seconds another worker looks for it in the thread
    before it is ever sent again (monitor.dispatch). A poll's cursor is written only
    under its lease (monitor.ingest), which the stop then releases."""
    busy = running.now()
    if not busy:
        return []
    started = rt.clock.now()
    log.info(
        "stopping: waiting up to %g s for the jobs running: %s",
        STOP_GRACE_SECONDS,
        _listed(busy, started),
    )
    left = running.wait(rt.clock, STOP_GRACE_SECONDS, since=started)
    if left:
        log.error(
            "stopping without the jobs still running after %g s: %s",
            STOP_GRACE_SECONDS,
            _listed(left, rt.clock.now()),
        )
    return sorted(left)


def _listed(since: dict[str, datetime], now: datetime) -> str:
    return ", ".join(
        f"{name} (running for {(now - at).total_seconds():.0f} s)"
        for name, at in sorted(since.items())
    )
