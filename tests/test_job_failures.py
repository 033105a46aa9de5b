"""A daemon job that fails on every run shows in `inchannel status`, not only in the log."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from monitor.clock import FakeClock
from monitor.daemon import build_scheduler, guarded, run_forever
from monitor.domain import Action, Platform
from monitor.health_alerts import check_health
from monitor.jobstate import HungRun, store_hung
from monitor.pipeline import run_once
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import SourceState
from responders.base import SendResult
from tests.conftest import RuntimeFactory, mention
from tests.fakes import ScriptedResponder


class BrokenOnce(FakeClock):
    """A clock whose next reading fails once armed (after ``skip`` more): the first
    thing every job does."""

    armed = False
    skip = 0

    def now(self) -> datetime:
        if self.armed and self.skip:
            self.skip -= 1
        elif self.armed:
            self.armed = False
            raise RuntimeError("clock unavailable\nsecond line")
        return super().now()


def failing_step() -> bool:
    raise RuntimeError("no such table: cases")


def test_a_failing_job_is_unhealthy_until_it_runs_again(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    sla = guarded("sla", rt, failing_step, recorded_every=30)
    sla()
    rt.clock.advance(seconds=30)  # type: ignore[attr-defined]
    sla()
    assert collect(rt).problems == [
        "job sla: 2 failed runs in a row, the last 0 min ago: RuntimeError: no such table: cases"
    ]
    other = replace(rt, worker_id="host-b:1:bbbbbb")
    guarded("sla", other, lambda: False, recorded_every=30)()
    assert not collect(rt).healthy  # another worker's success: this one may still fail
    # The failing worker itself recovers: its next successful run ends its report.
    steps = iter([failing_step, lambda: False])
    flaky = guarded("sla", rt, lambda: next(steps)(), recorded_every=30)
    flaky()
    assert not collect(rt).healthy
    flaky()
    assert collect(rt).healthy


def test_an_old_failure_is_no_longer_reported(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    guarded("dispatch", rt, failing_step, recorded_every=5)()
    rt.clock.advance(minutes=11)  # type: ignore[attr-defined]
    # The worker that failed is gone; nothing else about dispatch is wrong.
    assert [p for p in collect(rt).problems if p.startswith("job")] == []


def test_a_failing_health_job_is_not_reported_as_no_daemon(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    check_health(rt)  # the heartbeat of a running daemon
    health = guarded("health", rt, failing_step, recorded_every=60)
    for _ in range(6):
        rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
        health()
    assert collect(rt).problems == [
        "job health: 6 failed runs in a row, the last 0 min ago: RuntimeError: no such table: cases"
    ]
    rt.clock.advance(minutes=11)  # and then no worker runs it at all
    assert collect(rt).problems == ["health checks: none for 17 min (is the daemon running?)"]


def test_the_scheduled_steps_record_their_failures(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    clock = rt.clock = BrokenOnce()
    scheduler = build_scheduler(rt)
    jobs = {job.id: job.func for job in scheduler.get_jobs()}
    for name in ("process", "dispatch", "sla", "health"):
        clock.armed = True
        jobs[name]()
    problems = collect(rt).problems
    assert [p.split(":")[0] for p in problems] == [
        "job dispatch",
        "job health",
        "job process",
        "job sla",
    ]
    assert problems[0].endswith("RuntimeError: clock unavailable")  # one line, bounded


# --- several workers, restarts (docs/operations.md: a job fails while a worker keeps failing it)

FAILED = "RuntimeError: no such table: cases"


def job(rt: Runtime, name: str, step: Callable[[], bool]) -> Callable[[], None]:
    """The daemon's wrapper for job ``name`` on worker ``rt`` (dispatch runs every 5 s)."""
    return guarded(name, rt, step, recorded_every=5)


def worker(rt: Runtime, worker_id: str) -> Runtime:
    """Another worker on the same database and clock."""
    return replace(rt, worker_id=worker_id)


def job_problems(rt: Runtime) -> list[str]:
    return [p for p in collect(rt).problems if p.startswith("job ")]


def test_a_worker_started_again_settles_the_failures_of_the_one_it_replaced(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1)])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    killed = job(worker(rt, "host-a:100:aaaaaa"), "dispatch", failing_step)
    killed()  # 09:00:00, then the worker is killed (SIGKILL: no clean stop)
    clock.advance(seconds=20)
    restarted = job(worker(rt, "host-a:200:bbbbbb"), "dispatch", lambda: False)
    restarted()
    # Not yet: a worker still failing would fail again within two runs and a minute.
    assert job_problems(rt) == [
        f"job dispatch: 1 failed run in a row, the last 0 min ago: {FAILED}"
    ]
    clock.set(datetime(2026, 11, 20, 9, 1, 5, tzinfo=UTC))
    restarted()
    assert len(job_problems(rt)) == 1
    clock.set(datetime(2026, 11, 20, 9, 1, 10, tzinfo=UTC))  # 2 x 5 s + 1 min: it is gone
    restarted()
    assert collect(rt).healthy


def test_a_clean_stop_withdraws_the_workers_failures(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    job(rt, "sla", failing_step)()
    assert len(job_problems(rt)) == 1
    rt.stopping.set()  # SIGTERM: the daemon stops after the running step
    run_forever(rt)
    assert job_problems(rt) == []


def test_a_clean_stop_clears_the_workers_stuck_marks(make_runtime: RuntimeFactory) -> None:
    """A worker stopped with a batch its health job had marked stuck (a stop that left
    the batch behind after its grace) withdrew its failures but not the mark: status
    said "a run has been stuck ... on worker" of a worker no longer running, unhealthy
    for minutes after a clean stop. Another worker's mark stays."""
    rt = make_runtime([mention(1)])
    now = rt.clock.now()
    stuck = HungRun(now - timedelta(minutes=12), now, 5)
    store_hung(rt.sessions, "dispatch", rt.worker_id, now, stuck)
    store_hung(rt.sessions, "dispatch", "host-b:1:bbbbbb", now, stuck)
    assert len(job_problems(rt)) == 2
    rt.stopping.set()  # SIGTERM: the daemon stops after the running step
    run_forever(rt)
    assert job_problems(rt) == [
        "job dispatch: a run has been stuck for 12 min on worker host-b:1:bbbbbb "
        f"(one batch, started {now - timedelta(minutes=12):%H:%M} UTC, has not ended; "
        "the job runs every 5 s)"
    ]


def test_one_workers_success_never_hides_anothers_failures(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    stuck = job(worker(rt, "host-a:1:aaaaaa"), "process", failing_step)
    fine = job(worker(rt, "host-b:1:bbbbbb"), "process", lambda: False)
    for _ in range(60):  # five minutes: one worker fails each run, the other succeeds
        stuck()
        clock.advance(seconds=2)
        fine()
        clock.advance(seconds=3)
    assert job_problems(rt) == [
        f"job process: 60 failed runs in a row, the last 0 min ago: {FAILED}"
    ]
    also = job(worker(rt, "host-c:1:cccccc"), "process", failing_step)
    also()
    assert job_problems(rt) == [
        f"job process: 61 failed runs in a row on 2 workers, the last 0 min ago: {FAILED}"
    ]


def test_successful_runs_read_once_a_minute_and_write_only_to_settle(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1)])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    start = clock.now()
    seen: list[tuple[float, str]] = []

    @event.listens_for(rt.engine, "before_cursor_execute")
    def on_statement(*args: Any) -> None:
        statement = str(args[2])
        if "source_state" in statement:
            seen.append(((clock.now() - start).total_seconds(), statement.split()[0]))

    fine = job(worker(rt, "host-b:1:bbbbbb"), "process", lambda: False)
    for _ in range(120):  # ten minutes of runs every 5 s, and no failure anywhere
        fine()
        clock.advance(seconds=5)
    assert seen == [(60.0 * minute, "SELECT") for minute in range(10)]
    job(worker(rt, "host-a:1:aaaaaa"), "process", failing_step)()  # at 600 s, then killed
    seen.clear()
    for _ in range(24):
        fine()
        clock.advance(seconds=5)
    # It looks when the report would be renewed (600 + 2 x 5 + 60 s), and settles it.
    # (The INSERT of a missing row takes SQLite's write lock before the locked read.)
    assert [w for w in seen if w[1] != "SELECT"] == [(670.0, "INSERT"), (670.0, "UPDATE")]
    assert sorted({at for at, _ in seen}) == [600.0, 660.0, 670.0]
    assert collect(rt).healthy


def test_a_count_an_older_release_left_is_read_and_settled(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    with transaction(rt.sessions) as session:  # one shared count, no reports by worker
        session.add(
            SourceState(
                name="@job:sla",
                consecutive_failures=3,
                last_poll_at=rt.clock.now(),
                last_error=FAILED,
                items_total=0,
                details={},
            )
        )
    assert job_problems(rt) == [f"job sla: 3 failed runs in a row, the last 0 min ago: {FAILED}"]
    guarded("sla", rt, lambda: False, recorded_every=30)()  # the upgraded worker runs it
    assert collect(rt).healthy


def test_run_once_records_its_jobs_and_the_next_cron_run_settles_them(
    make_runtime: RuntimeFactory,
) -> None:
    """`run --once` runs each job as the daemon does: a failure is reported for status
    and the other jobs still run; the next run (a new process, a new worker id) that
    succeeds ends the report, as a restarted daemon's does."""
    rt = make_runtime(sources=[])
    clock = rt.clock = BrokenOnce()
    # The first reading is the rules check's (it records the version run); the next,
    # processing's.
    clock.armed, clock.skip = True, 1
    report = run_once(rt)
    assert report.failed == ("process: RuntimeError: clock unavailable",)
    assert job_problems(rt) == [
        "job process: 1 failed run in a row, the last 0 min ago: RuntimeError: clock unavailable"
    ]
    assert collect(rt).health_checked_at is not None  # the health job ran after it
    clock.advance(minutes=4)
    assert run_once(worker(rt, "cron:2:bbbbbb")).failed == ()
    assert job_problems(rt) == []


def test_an_outage_logs_one_traceback_a_job_then_one_line_a_run_and_the_end(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A database away for ten minutes failed dispatch 120 times, each with its
    traceback; now the first failure has it, the same failure again is one line, another
    failure has its own, and the first success after them says the job works again."""
    rt = make_runtime([mention(1)])
    steps = iter([failing_step, failing_step, other_failure, lambda: False, lambda: False])
    dispatch = guarded("dispatch", rt, lambda: next(steps)(), recorded_every=5)
    with caplog.at_level(logging.INFO, logger="inchannel.daemon"):
        for _ in range(5):
            dispatch()
    lines = [
        (r.getMessage(), r.exc_info is not None)
        for r in caplog.records
        if r.name == "inchannel.daemon"
    ]
    first = "job=dispatch failed; its next run starts from what was committed"
    assert lines == [
        (first, True),
        (f"job=dispatch failed again (2 runs in a row): {FAILED}", False),
        (first, True),  # not the same failure: its traceback is news
        ("job=dispatch works again after 3 failed runs", False),
    ]


def other_failure() -> bool:
    raise ValueError("another failure")


def test_a_report_time_without_a_zone_is_unreadable_not_a_crash(
    make_runtime: RuntimeFactory,
) -> None:
    """A stored failure time without its zone (a hand edit, a bad restore) cannot be
    compared with now: status, the health check and the job's next success raised
    TypeError on it. It is read as no report, as an unreadable source time is; the
    other workers' reports still count, and the next write drops it."""
    rt = make_runtime([mention(1)])
    now = rt.clock.now()
    naive = now.replace(tzinfo=None).isoformat()
    good = {"failures": 2, "last_failed_at": now.isoformat(), "error": FAILED}
    with transaction(rt.sessions) as session:
        session.add(
            SourceState(
                name="@job:sla",
                consecutive_failures=5,
                last_poll_at=now,
                last_error=FAILED,
                items_total=0,
                details={
                    "workers": {
                        "host-a:1:aaaaaa": {
                            "failures": 3,
                            "last_failed_at": naive,
                            "error": FAILED,
                            "again_by": naive,
                        },
                        "host-b:1:bbbbbb": {**good, "again_by": now.isoformat()},
                    }
                },
            )
        )
    assert job_problems(rt) == [f"job sla: 2 failed runs in a row, the last 0 min ago: {FAILED}"]
    check_health(rt)  # the health job reads the same row
    rt.clock.advance(seconds=1)  # type: ignore[attr-defined]
    guarded("sla", rt, lambda: False, recorded_every=30)()  # settles the overdue report
    assert collect(rt).healthy
    with rt.sessions() as session:
        row = session.get(SourceState, "@job:sla")
        assert row is not None
        assert row.details["workers"] == {}


# --- a job that hangs (a send stuck in a network call) is reported, not only one that fails


class StuckResponder(ScriptedResponder):
    """A platform that takes the reply and never answers, until released."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = threading.Event()
        self.release = threading.Event()

    def send(self, action: Action) -> SendResult:
        self.sending.set()
        self.release.wait(30)
        return super().send(action)


def test_a_job_stuck_in_one_run_is_unhealthy_until_it_ends(make_runtime: RuntimeFactory) -> None:
    """A run that never ends neither fails nor succeeds: nothing was recorded, and
    status said healthy while no reply went out. Every worker's health job looks at its
    own jobs and reports a batch running past the limit."""
    rt = make_runtime([mention(1, "@acme the app is down")])
    responder = StuckResponder()
    rt.responders[Platform.X] = responder
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    jobs = {job.id: job.func for job in build_scheduler(rt).get_jobs()}
    jobs["poll:feed"]()
    jobs["process"]()
    dispatch = threading.Thread(target=jobs["dispatch"])
    dispatch.start()
    try:
        assert responder.sending.wait(10)
        clock.advance(minutes=9)
        jobs["health"]()
        assert job_problems(rt) == []  # a slow send, not yet a stuck one
        clock.advance(minutes=3)
        jobs["health"]()
        assert job_problems(rt) == [
            f"job dispatch: a run has been stuck for 12 min on worker {rt.worker_id} "
            "(one batch, started 09:00 UTC, has not ended; the job runs every 5 s)"
        ]
        clock.advance(minutes=4)  # the worker was killed: its health job looks no more
        assert job_problems(rt) == []
        jobs["health"]()
        assert len(job_problems(rt)) == 1
    finally:
        responder.release.set()
        dispatch.join(10)
    assert job_problems(rt) == []  # the run ended
    assert responder.posts  # and sent its reply
    jobs["health"]()
    assert job_problems(rt) == []
