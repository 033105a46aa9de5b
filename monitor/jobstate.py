"""The daemon's own jobs (process, dispatch, sla, health) failing, where status sees it.

A job that raises is logged and runs again at its next interval (monitor.daemon). A job
that fails on every run used to show only in the logs: a failing health job even read as
"no health checks: is the daemon running?", because its heartbeat is written in the
transaction the failure rolls back. Each failure is counted in a ``@job:<name>`` row of
``source_state`` (the pattern of the ``@rules`` row), in a transaction of its own; the
first successful run after failures resets the count. Rows exist only once a job has
failed, so a healthy daemon writes nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from monitor.store.db import driver_error, first_line, transaction
from monitor.store.models import SourceState
from monitor.store.queries import insert_state_row

JOB_STATE_PREFIX = "@job:"
# Status reports a job as failing while its last failure is this recent: long enough to
# outlast the slowest job's interval (a minute), short enough that a worker which died
# failing stops being reported soon after.
FAILING_RECENT = timedelta(minutes=10)
ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class JobFailing:
    job: str
    failures: int
    last_failed_at: datetime
    error: str

    def problem(self, now: datetime) -> str:
        minutes = int((now - self.last_failed_at).total_seconds() // 60)
        runs = f"{self.failures} failed run{'s' if self.failures != 1 else ''} in a row"
        return f"job {self.job}: {runs}, the last {minutes} min ago: {self.error}"


def state_name(job: str) -> str:
    return f"{JOB_STATE_PREFIX}{job}"


def job_of(state: str) -> str | None:
    return state.removeprefix(JOB_STATE_PREFIX) if state.startswith(JOB_STATE_PREFIX) else None


def describe(error: BaseException) -> str:
    """One bounded line: the error's type and the first line of its (driver's) message."""
    name, line = type(driver_error(error)).__name__, first_line(error)
    return (f"{name}: {line}" if line else name)[:ERROR_CHARS]


def record_failure(
    sessions: sessionmaker[Session], job: str, error: BaseException, now: datetime
) -> None:
    name = state_name(job)
    with transaction(sessions) as session:
        insert_state_row(session, name)
        session.execute(
            update(SourceState)
            .where(SourceState.name == name)
            .values(
                last_poll_at=now,
                consecutive_failures=SourceState.consecutive_failures + 1,
                last_error=describe(error),
            )
        )


def record_recovery(sessions: sessionmaker[Session], job: str, now: datetime) -> None:
    with transaction(sessions) as session:
        session.execute(
            update(SourceState)
            .where(SourceState.name == state_name(job))
            .values(last_poll_at=now, last_success_at=now, consecutive_failures=0)
        )


def failing(
    state: str, failures: int, last_at: datetime | None, error: str | None, now: datetime
) -> JobFailing | None:
    """The job a ``@job:`` state row names, if it has failed recently."""
    job = job_of(state)
    if job is None or failures <= 0 or last_at is None or now - last_at > FAILING_RECENT:
        return None
    return JobFailing(job, failures, last_at, error or "")
