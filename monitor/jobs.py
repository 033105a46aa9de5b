"""One run of a daemon job, for the scheduler (monitor.daemon) and `run --once` alike.

A job runs its step until the step has no more work. A step that raises fails that run
only: it is logged, the next run starts from what was committed (DESIGN rule 6), and the
recorded jobs report the failure where `inchannel status` sees it (monitor.jobstate). A
`run --once` from cron is a worker that runs each job once, so it records them the
same way: its failures must not read as healthy between runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from monitor import jobstate
from monitor.runtime import Runtime
from monitor.settings import Settings

log = logging.getLogger("inchannel.daemon")

# SLA targets are in minutes; checking every half minute is precise enough.
SLA_INTERVAL_SECONDS = 30
# Alert thresholds are in minutes too; every worker runs it, the @alerts lock dedupes.
HEALTH_INTERVAL_SECONDS = 60

Step = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class JobRun:
    batches: int  # steps called, the failed one included
    error: str | None = None  # jobstate.describe of the failure, None if it succeeded


@dataclass(slots=True)
class Streak:
    """One job's failed runs in a row in this process, for the log: a database away for
    ten minutes failed dispatch 120 times, and each traceback buried the rest. The log
    has a failure's traceback when it is new, one line while it repeats, and the end."""

    failures: int = 0
    last_error: str | None = None

    def failed(self, name: str, error: str) -> None:
        self.failures += 1
        if error == self.last_error:
            log.error("job=%s failed again (%d runs in a row): %s", name, self.failures, error)
        else:
            log.exception("job=%s failed; its next run starts from what was committed", name)
        self.last_error = error

    def succeeded(self, name: str) -> None:
        if self.failures:
            log.info("job=%s works again after %d failed runs", name, self.failures)
        self.failures, self.last_error = 0, None


def recorded_intervals(settings: Settings) -> dict[str, float]:
    """The jobs whose failures status reports, and their intervals in seconds: a report
    is open for about two intervals (monitor.jobstate). Polls are not among them: they
    record their own outcome, per source."""
    return {
        "process": settings.processing.interval_seconds,
        "dispatch": settings.dispatch.interval_seconds,
        "sla": SLA_INTERVAL_SECONDS,
        "health": HEALTH_INTERVAL_SECONDS,
    }


def recorder_for(rt: Runtime, name: str, seconds: float) -> jobstate.Recorder:
    hung_after = jobstate.HUNG_AFTER
    if name == "dispatch":  # a batch may send until half the stale-claim time has passed
        stale_claim = timedelta(seconds=rt.settings.workers.stale_claim_seconds)
        hung_after = max(hung_after, stale_claim)
    every = timedelta(seconds=seconds)
    return jobstate.Recorder(rt.sessions, name, rt.worker_id, every, hung_after=hung_after)


def look_for_stuck(rt: Runtime, recorders: Iterable[jobstate.Recorder]) -> None:
    """Report this worker's jobs stuck in a batch (monitor.jobstate.HUNG_AFTER). Run by
    its health job; a failure to write is logged, and the health check goes on."""
    for recorder in recorders:
        try:
            recorder.look(rt.clock.now())
        except Exception as exc:
            log.warning(
                "job=%s: could not record its state: %s", recorder.job, jobstate.describe(exc)
            )


def run_job(
    rt: Runtime,
    name: str,
    step: Step,
    recorder: jobstate.Recorder | None,
    *,
    max_batches: int,
    streak: Streak | None = None,
    paused: threading.Event | None = None,
) -> JobRun:
    """Call ``step`` until it has no more work (at most ``max_batches`` times, so other
    jobs get their turn); a failure is logged and reported, never raised. ``streak``:
    the job's earlier runs, for the log. While ``paused`` is set no batch starts, and
    nothing is recorded: a skipped batch counted as a success ended the job's failure
    report and logged it working again, though it had not run."""
    streak = streak if streak is not None else Streak()
    batches = 0
    while batches < max_batches and not rt.stopping.is_set():
        if paused is not None and paused.is_set():
            break
        batches += 1
        try:
            if recorder is not None:
                recorder.began(rt.clock.now())
            try:
                more = step()
            finally:
                if recorder is not None:
                    _ended(rt, recorder)
        except Exception as exc:
            streak.failed(name, jobstate.describe(exc))
            if recorder is not None:
                _note(rt, recorder, exc)
            return JobRun(batches, jobstate.describe(exc))
        streak.succeeded(name)
        if recorder is not None:
            _note(rt, recorder, None)
        if not more:
            break
    return JobRun(batches)


def _ended(rt: Runtime, recorder: jobstate.Recorder) -> None:
    """The batch is over: a stuck mark it had is cleared (or, failing that, by the next
    look of the health job, or it lapses)."""
    try:
        recorder.ended(rt.clock.now())
    except Exception as exc:
        log.warning("job=%s: could not record its state: %s", recorder.job, jobstate.describe(exc))


def _note(rt: Runtime, recorder: jobstate.Recorder, error: Exception | None) -> None:
    """Report a failure, or a success (which writes only to end a report). If that
    fails too, the database is down: the log has the job's own error."""
    try:
        if error is None:
            recorder.succeeded(rt.clock.now())
        else:
            recorder.failed(error, rt.clock.now())
    except Exception as exc:
        log.warning("job=%s: could not record its state: %s", recorder.job, jobstate.describe(exc))
