"""A daemon job that fails on every run shows in `inchannel status`, not only in the log."""

from __future__ import annotations

from datetime import datetime

from monitor.clock import FakeClock
from monitor.daemon import build_scheduler, guarded
from monitor.health_alerts import check_health
from monitor.status import collect
from tests.conftest import RuntimeFactory, mention


class BrokenOnce(FakeClock):
    """A clock whose next reading fails once armed: the first thing every job does."""

    armed = False

    def now(self) -> datetime:
        if self.armed:
            self.armed = False
            raise RuntimeError("clock unavailable\nsecond line")
        return super().now()


def failing_step() -> bool:
    raise RuntimeError("no such table: cases")


def test_a_failing_job_is_unhealthy_until_it_runs_again(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    sla = guarded("sla", rt, failing_step, recorded=True)
    sla()
    rt.clock.advance(seconds=30)  # type: ignore[attr-defined]
    sla()
    assert collect(rt).problems == [
        "job sla: 2 failed runs in a row, the last 0 min ago: RuntimeError: no such table: cases"
    ]
    recovered = guarded("sla", rt, lambda: False, recorded=True)
    recovered()  # another worker, which never failed, writes nothing
    assert not collect(rt).healthy
    # The failing worker itself recovers: the next run after its failure succeeds.
    steps = iter([failing_step, lambda: False])
    flaky = guarded("sla", rt, lambda: next(steps)(), recorded=True)
    flaky()
    assert not collect(rt).healthy
    flaky()
    assert collect(rt).healthy


def test_an_old_failure_is_no_longer_reported(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    guarded("dispatch", rt, failing_step, recorded=True)()
    rt.clock.advance(minutes=11)  # type: ignore[attr-defined]
    # The worker that failed is gone; nothing else about dispatch is wrong.
    assert [p for p in collect(rt).problems if p.startswith("job")] == []


def test_a_failing_health_job_is_not_reported_as_no_daemon(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    check_health(rt)  # the heartbeat of a running daemon
    health = guarded("health", rt, failing_step, recorded=True)
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
