"""The daemon's own jobs (process, dispatch, sla, health) failing, where status sees it.

A job that raises is logged and runs again at its next interval (monitor.daemon). A job
that fails on every run used to show only in the logs: a failing health job even read as
"no health checks: is the daemon running?", because its heartbeat is written in the
transaction the failure rolls back. Failures are kept in a ``@job:<name>`` row of
``source_state`` (the pattern of the ``@rules`` row), in a transaction of their own.

Every worker runs every job, and processing and dispatch claim their rows with SKIP
LOCKED: one worker can fail on every run (a batch it cannot decide, a host of its own
with a bad clock or an old release) while the others succeed on other rows. So the row
keeps one report per worker (``details["workers"]``): its failed runs in a row, the
last one, its error, and by when it would fail again if it still failed. **A job is
failing while some worker's report is open**, and a report ends

- with that worker's next successful run of the job;
- when that worker stops cleanly (:func:`withdraw`): a stopped worker fails nothing;
- with any worker's successful run once the report is overdue (the worker was killed,
  or started again under a new worker id, and fails the job no more);
- in status, 10 minutes after its last failure if nobody ran the job since (plus
  workers.run_once_every_minutes under cron: the next `run --once` is that far off).

One worker's success therefore never hides another's ongoing failures. Rows exist only
once a job has failed, and the success path is cheap (:class:`Recorder`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.store.db import driver_error, first_line, transaction
from monitor.store.models import SourceState
from monitor.store.queries import locked_source_state

JOB_STATE_PREFIX = "@job:"
# Status reports a failure while it is this recent, even if nobody settles it: long
# enough to outlast the slowest job's interval (a minute), short enough that a job whose
# only worker died failing stops being reported soon after.
FAILING_RECENT = timedelta(minutes=10)
ERROR_CHARS = 300
# In a @job: row's details: the open reports, by worker id.
WORKERS = "workers"
# A worker that still fails a job fails it again within two of its intervals (a run is
# skipped while a slow one ends) plus this much for a slow failing run (a lock wait).
SLOW_RUN = timedelta(minutes=1)
# A worker that has not failed a job reads its row this often (sooner when a report it
# saw falls due): to settle the overdue reports of workers that are gone.
LOOK_EVERY = timedelta(minutes=1)
# A run that neither fails nor ends (a send or a read stuck in a network call, a lock
# never granted) records nothing above, and the job looked healthy while it did no work.
# Each batch (one call of a job's step) is bounded: a dispatch batch stops starting
# sends at half workers.stale_claim_seconds, the others take seconds. One running this
# long is stuck (the dispatch job's limit is at least workers.stale_claim_seconds).
HUNG_AFTER = timedelta(minutes=10)
# In a @job: row's details: by worker id, its stuck batch (HungRun).
HUNG = "hung"
# The worker's health job renews its marks every minute: one not renewed for this long
# was left by a worker that is gone (or whose health job is stuck: status says so).
HUNG_SEEN = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class WorkerReport:
    """One worker's current run of failures of one job."""

    failures: int
    last_failed_at: datetime
    error: str
    # If the worker still fails the job, it will have failed again by then.
    again_by: datetime

    def encode(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "last_failed_at": self.last_failed_at.isoformat(),
            "error": self.error,
            "again_by": self.again_by.isoformat(),
        }

    @staticmethod
    def decode(raw: Any) -> WorkerReport | None:
        try:
            report = WorkerReport(
                int(raw["failures"]),
                datetime.fromisoformat(raw["last_failed_at"]),
                str(raw["error"]),
                datetime.fromisoformat(raw["again_by"]),
            )
        except (KeyError, TypeError, ValueError):
            return None  # not ours to read; dropped at the next write
        # A time without its zone (a hand edit, a bad restore) cannot be compared with
        # now: status, the health job and the job's next success raised TypeError on it.
        # Unreadable as well, as a source's stored times are (ingest.aware_time).
        if report.last_failed_at.tzinfo is None or report.again_by.tzinfo is None:
            return None
        return report


@dataclass(frozen=True, slots=True)
class JobFailing:
    job: str
    failures: int  # over the failing workers
    last_failed_at: datetime
    error: str  # the last failure's
    workers: int = 1

    def problem(self, now: datetime) -> str:
        minutes = int((now - self.last_failed_at).total_seconds() // 60)
        runs = f"{self.failures} failed run{'s' if self.failures != 1 else ''} in a row"
        if self.workers > 1:
            runs += f" on {self.workers} workers"
        return f"job {self.job}: {runs}, the last {minutes} min ago: {self.error}"


@dataclass(frozen=True, slots=True)
class HungRun:
    """One worker's batch of a job that has run past its limit, as its health job saw it."""

    since: datetime
    seen_at: datetime
    every: float  # the job's interval in seconds, for the problem's words

    def encode(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "seen_at": self.seen_at.isoformat(),
            "every": self.every,
        }

    @staticmethod
    def decode(raw: Any) -> HungRun | None:
        try:
            run = HungRun(
                datetime.fromisoformat(raw["since"]),
                datetime.fromisoformat(raw["seen_at"]),
                float(raw["every"]),
            )
        except (KeyError, TypeError, ValueError):
            return None
        if run.since.tzinfo is None or run.seen_at.tzinfo is None:
            return None  # cannot be compared with now (WorkerReport.decode)
        return run

    def problem(self, job: str, worker: str, now: datetime) -> str:
        minutes = int((now - self.since).total_seconds() // 60)
        return (
            f"job {job}: a run has been stuck for {minutes} min on worker {worker} "
            f"(one batch, started {self.since:%H:%M} UTC, has not ended; "
            f"the job runs every {self.every:g} s)"
        )


def hung_runs(details: Mapping[str, Any] | None, now: datetime) -> dict[str, HungRun]:
    """The stuck batches a ``@job:`` row holds whose workers' health jobs still see them."""
    raw = (details or {}).get(HUNG)
    if not isinstance(raw, dict):
        return {}
    decoded = {str(w): HungRun.decode(r) for w, r in raw.items()}
    return {w: r for w, r in decoded.items() if r is not None and now - r.seen_at <= HUNG_SEEN}


def store_hung(
    sessions: sessionmaker[Session], job: str, worker: str, now: datetime, run: HungRun | None
) -> None:
    """Store ``worker``'s stuck batch of ``job``, or clear its mark (``run`` None)."""
    with transaction(sessions) as session:
        row = locked_source_state(session, state_name(job))
        # The marks of workers gone meanwhile are dropped: nobody renews them.
        runs = {w: r for w, r in hung_runs(row.details, now).items() if w != worker}
        if run is not None:
            runs[worker] = run
        row.details = {**(row.details or {}), HUNG: {w: r.encode() for w, r in runs.items()}}


def state_name(job: str) -> str:
    return f"{JOB_STATE_PREFIX}{job}"


def job_of(state: str) -> str | None:
    return state.removeprefix(JOB_STATE_PREFIX) if state.startswith(JOB_STATE_PREFIX) else None


def describe(error: BaseException) -> str:
    """One bounded line: the error's type and the first line of its (driver's) message."""
    name, line = type(driver_error(error)).__name__, first_line(error)
    return (f"{name}: {line}" if line else name)[:ERROR_CHARS]


def reports_of(
    details: Mapping[str, Any] | None, failures: int, last_at: datetime | None, error: str | None
) -> dict[str, WorkerReport]:
    """The open reports of a ``@job:`` row. A row an older release wrote has only its
    count: one report of no known worker, overdue at once (settled by any success)."""
    raw = (details or {}).get(WORKERS)
    if isinstance(raw, dict):
        decoded = {str(w): WorkerReport.decode(r) for w, r in raw.items()}
        return {w: r for w, r in decoded.items() if r is not None}
    if failures > 0 and last_at is not None:
        return {"": WorkerReport(failures, last_at, error or "", last_at)}
    return {}


def record_failure(
    sessions: sessionmaker[Session], job: str, worker: str, report: WorkerReport
) -> None:
    with transaction(sessions) as session:
        row = locked_source_state(session, state_name(job))
        reports = {**_reports(row), worker: report}
        _save(row, reports)
        row.last_poll_at = report.last_failed_at
        row.last_error = report.error


def settle(sessions: sessionmaker[Session], job: str, worker: str, now: datetime) -> list[datetime]:
    """After ``worker`` ran ``job`` successfully: end its own report and the overdue
    ones. Reads the row and writes only if that ends a report. Returns when the
    remaining reports fall due."""
    name = state_name(job)
    with sessions() as session:
        row = session.get(SourceState, name)
        seen = _reports(row) if row is not None else {}
        if not _ended(seen, worker, now):
            return [r.again_by for r in seen.values()]
    with transaction(sessions) as session:
        row = locked_source_state(session, name)  # read again: another worker may have written
        reports = _reports(row)
        ended = _ended(reports, worker, now)
        kept = {w: r for w, r in reports.items() if w not in ended}
        _save(row, kept)
        row.last_success_at = now
        return [r.again_by for r in kept.values()]


def withdraw(sessions: sessionmaker[Session], worker: str) -> None:
    """At a clean stop: end this worker's reports, whose runs have ended, and clear its
    stuck marks: a batch still stuck when the stop gave up on it ends with the process,
    and status reported a worker gone as stuck until its mark lapsed (HUNG_SEEN)."""
    with sessions() as session:
        query = select(SourceState).where(SourceState.name.startswith(JOB_STATE_PREFIX))
        names = [
            row.name
            for row in session.scalars(query)
            if worker in _reports(row) or worker in _marks(row.details)
        ]
    for name in names:
        with transaction(sessions) as session:
            row = locked_source_state(session, name)
            _save(row, {w: r for w, r in _reports(row).items() if w != worker})
            marks = {w: r for w, r in _marks(row.details).items() if w != worker}
            row.details = {**(row.details or {}), HUNG: marks}


def _marks(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """The stuck marks as stored, by worker, lapsed ones too (hung_runs leaves them out)."""
    raw = (details or {}).get(HUNG)
    return {str(w): r for w, r in raw.items()} if isinstance(raw, dict) else {}


def failing(
    state: str, reports: Mapping[str, WorkerReport], now: datetime, between_runs: timedelta
) -> JobFailing | None:
    """The job a ``@job:`` state row names, if a worker's report of it is recent.
    ``between_runs`` (workers.between_runs): under cron a job fails again only at the
    next `run --once`, so a failure stays recent that much longer; zero for a daemon."""
    job = job_of(state)
    recent_for = FAILING_RECENT + between_runs
    recent = [r for r in reports.values() if now - r.last_failed_at <= recent_for]
    if job is None or not recent:
        return None
    last = max(recent, key=lambda r: r.last_failed_at)
    total = sum(r.failures for r in recent)
    return JobFailing(job, total, last.last_failed_at, last.error, len(recent))


@dataclass
class Recorder:
    """One worker's runs of one job, written where status sees them.

    The success path runs every few seconds, so it mostly touches nothing: it writes
    only to end a report, and it reads the row after this worker's own failures, at its
    first success (a worker started again finds the reports of the one it replaced),
    and then at most every LOOK_EVERY, or when a report it saw falls due.
    """

    sessions: sessionmaker[Session]
    job: str
    worker: str
    every: timedelta  # the job's interval
    failures: int = 0  # this worker's failed runs in a row
    look_at: datetime | None = None  # None: at the next success
    hung_after: timedelta = HUNG_AFTER
    # The running batch's start, read by the worker's health job (:meth:`look`).
    batch_since: datetime | None = None
    marked: bool = False  # a HungRun of this worker's is stored

    def began(self, now: datetime) -> None:
        self.batch_since = now

    def ended(self, now: datetime) -> None:
        self.batch_since = None
        if self.marked:
            self.marked = False
            store_hung(self.sessions, self.job, self.worker, now, None)

    def look(self, now: datetime) -> None:
        """From another thread (the health job): mark the running batch if it is stuck,
        renew the mark while it stays so, and clear a mark the batch's end left behind
        (it ended while this looked)."""
        since = self.batch_since
        if since is not None and now - since > self.hung_after:
            run = HungRun(since, now, self.every.total_seconds())
            store_hung(self.sessions, self.job, self.worker, now, run)
            self.marked = True
        elif self.marked:
            self.marked = False
            store_hung(self.sessions, self.job, self.worker, now, None)

    def failed(self, error: BaseException, now: datetime) -> None:
        self.failures += 1
        again_by = now + 2 * self.every + SLOW_RUN
        report = WorkerReport(self.failures, now, describe(error), again_by)
        record_failure(self.sessions, self.job, self.worker, report)

    def succeeded(self, now: datetime) -> None:
        if not self.failures and self.look_at is not None and now < self.look_at:
            return
        due = settle(self.sessions, self.job, self.worker, now)
        self.failures = 0
        self.look_at = min([now + LOOK_EVERY, *due])


def _reports(row: SourceState) -> dict[str, WorkerReport]:
    return reports_of(row.details, row.consecutive_failures, row.last_poll_at, row.last_error)


def _ended(reports: Mapping[str, WorkerReport], worker: str, now: datetime) -> set[str]:
    return {w for w, r in reports.items() if w == worker or r.again_by <= now}


def _save(row: SourceState, reports: Mapping[str, WorkerReport]) -> None:
    """The reports, and the count the sources' listing shows: failures over them. An
    older release's count (the report of no known worker) is replaced."""
    kept = {w: r for w, r in sorted(reports.items()) if w}
    row.details = {**(row.details or {}), WORKERS: {w: r.encode() for w, r in kept.items()}}
    row.consecutive_failures = sum(r.failures for r in kept.values())
