"""SQLite: a writer waiting for the write lock gets it between a job's batches.

Every unit of work holds SQLite's write lock from its start. A job working through a
backlog (processing: batch after batch, 50 a run) commits and begins again within
microseconds, and SQLite's busy wait (a look every 100 ms or so) almost never came in
between: a person's action on the dashboard, dispatch, the SLA check all failed with
"database is locked" once the busy timeout passed, no batch being slow.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import Event
from tests.conftest import RuntimeFactory

# Long enough that SQLite's own wait gives up many times over while the batches run.
GIVE_UP_AFTER_SECONDS = 10.0


def batch(rt: Runtime) -> None:
    """One unit of work of the job: a few hundred rows written, then committed."""
    with transaction(rt.sessions) as session:
        session.add_all(
            Event(case_id=None, kind="batch", actor="system", detail={}, at=rt.clock.now())
            for _ in range(300)
        )


def test_a_colleague_writes_while_a_job_runs_batch_after_batch(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks rows, not the database")
    # The daemon and the dashboard share the runtime (`inchannel run` serves it).
    rt = make_runtime(database={"url": db_url, "busy_timeout_ms": 300})
    outcome: list[str] = []

    def colleague() -> None:
        try:
            with transaction(rt.sessions) as session:
                session.add(
                    Event(case_id=None, kind="note", actor="lena", detail={}, at=rt.clock.now())
                )
            outcome.append("ok")
        except OperationalError as exc:
            outcome.append(str(exc.orig))

    thread = threading.Thread(target=colleague)
    with transaction(rt.sessions):  # a batch under way as the colleague acts
        thread.start()
    # The job goes on, batch after batch, until the colleague is done (or a bound far
    # beyond its timeout: a wall clock only to end a failing test, never to wait).
    until = time.monotonic() + GIVE_UP_AFTER_SECONDS
    while thread.is_alive() and time.monotonic() < until:
        batch(rt)
    thread.join()
    assert outcome == ["ok"]
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).where(Event.kind == "note")) == 1
