"""`inchannel status` for `inchannel run --once` from cron: with workers.run_once_every_minutes
set to the cron line's interval, every staleness limit grows by it, so status stays
healthy between runs that come on time and turns unhealthy once a run is overdue. The
feed polls every 30 s and the lease is 120 s: a daemon's feed is late after 7 min."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor import clock_skew, notifications
from monitor.clock import FakeClock
from monitor.domain import Platform
from monitor.health_alerts import check_health
from monitor.pipeline import poll_source, run_once
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from tests.conftest import RuntimeFactory, mention
from tests.fakes import ScriptedResponder, temporary
from tests.test_clock_skew import POSTGRES_ONLY
from tests.test_dispatch_notify import closed_port
from tests.test_health_alerts import OPS, notes
from tests.test_job_failures import BrokenOnce, worker
from tests.test_processing_poison import REFUND, refusing


def clock(rt: Runtime) -> FakeClock:
    assert isinstance(rt.clock, FakeClock)
    return rt.clock


def every(minutes: float) -> dict[str, float]:
    return {"run_once_every_minutes": minutes}


def test_cron_every_10_minutes_is_healthy_between_runs(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(n) for n in range(1, 6)], workers=every(10))
    for _ in range(4):
        assert run_once(rt).failed == ()
        clock(rt).advance(minutes=10)  # the next run is due now
        assert collect(rt).problems == []
    status = collect(rt)
    # One unbroken run of health checks: the daemon's start is the first cron run's.
    assert status.health_running_since == clock(rt).now() - timedelta(minutes=40)


def test_cron_run_overdue_is_unhealthy(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)], workers=every(10))
    run_once(rt)
    clock(rt).advance(minutes=15)  # a run missed; the one after may still be slow
    assert collect(rt).problems == []
    clock(rt).advance(minutes=1)
    assert collect(rt).problems == ["health checks: none for 16 min (is the daemon running?)"]
    clock(rt).advance(minutes=2)  # the feed's limit: 7 min + 10 min
    assert collect(rt).problems == [
        "source feed: not polled for 18 min",
        "health checks: none for 18 min (is the daemon running?)",
    ]


def test_a_source_failing_across_cron_runs_is_failing(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Each run's failure continues the run of failures from the one before: a gap of
    the cron interval is the schedule, not downtime that starts a new run."""
    broken = [{"name": "feed", "type": "replay", "path": str(tmp_path / "missing.jsonl")}]
    rt = make_runtime(sources=broken, workers=every(10))
    for _ in range(3):
        run_once(rt)
        clock(rt).advance(minutes=10)
    (problem,) = collect(rt).problems
    assert problem.startswith("source feed: failing for 30 min, 3 failed polls: cannot")


def test_mentions_left_for_the_next_run_are_not_late(make_runtime: RuntimeFactory) -> None:
    """Stored undecided between runs (a backfill leaves live mentions for the daemon):
    the next run decides them, so they are late only after the cron interval too."""
    rt = make_runtime([mention(1), mention(2)], workers=every(30))
    check_health(rt)  # the run before
    poll_source(rt, "feed")  # stored, not decided
    clock(rt).advance(minutes=39)
    assert not any(p.startswith("processing:") for p in collect(rt).problems)
    clock(rt).advance(minutes=2)
    assert "processing: 2 messages not decided, the oldest stored 41 min ago" in (
        collect(rt).problems
    )


def test_a_daemon_keeps_its_limits(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    run_once(rt)
    clock(rt).advance(minutes=6)
    assert collect(rt).problems == ["health checks: none for 6 min (is the daemon running?)"]


def test_a_job_failing_on_every_cron_run_is_failing_between_runs(
    make_runtime: RuntimeFactory,
) -> None:
    """A failure is recent until the next run was due, plus the daemon's 10 minutes:
    one 10 minutes old went green between runs 15 minutes apart that all failed."""
    rt = make_runtime(sources=[], workers=every(15))
    broken = rt.clock = BrokenOnce()
    for n in range(3):
        broken.armed, broken.skip = True, 1  # the rules check's reading, then processing's
        failed = run_once(worker(rt, f"cron:{n}:abcdef")).failed  # a new process each run
        assert failed == ("process: RuntimeError: clock unavailable",)
        broken.advance(minutes=14)  # the next run is due in a minute
        assert collect(rt).problems == [
            "job process: 1 failed run in a row, the last 14 min ago: "
            "RuntimeError: clock unavailable"
        ]
        broken.advance(minutes=1)


@POSTGRES_ONLY
@pytest.mark.parametrize(
    ("minutes", "reported_at", "lapsed_at"), [(0, 4, 6), (15, 19, 21)], ids=["daemon", "cron"]
)
def test_a_skew_measured_by_a_cron_run_is_reported_until_the_next_run_is_overdue(
    make_runtime: RuntimeFactory, minutes: float, reported_at: int, lapsed_at: int
) -> None:
    """A run whose health job found its clock skewed; the next runs on that host refuse
    to start (`run --once` checks the clock first) and renew nothing. Its report lapsed
    5 minutes after it, though the next run was only due 15 minutes after it."""
    rt = make_runtime(workers={"stale_claim_seconds": 120, **every(minutes)})
    with transaction(rt.sessions) as session:
        database_now = session.execute(select(func.now())).scalar_one()
    for age, reported in ((reported_at, True), (lapsed_at, False)):
        # Measured ``age`` minutes ago on the database's clock, the one the check reads.
        skew = clock_skew.Skew(200.0, 0.01, database_now - timedelta(minutes=age))
        with transaction(rt.sessions) as session:
            clock_skew.record(session, "cron:1:abcdef", skew, rt.settings)
        skews = [p for p in collect(rt).problems if p.startswith("clock skew:")]
        assert len(skews) == (1 if reported else 0), (age, skews)


def test_an_action_due_just_after_a_cron_run_waits_for_the_next(
    make_runtime: RuntimeFactory,
) -> None:
    """A rate limit's reset a minute after a run: the action is sent by the next run, 20
    minutes on. Status and the "outbox backing up" alert (one limit, 15 minutes overdue)
    called that working setup unhealthy from 16 minutes after the run."""
    quiet = {"channels": ["ops"], "spike": {"enabled": False}, "silence_hours": 0}
    rt = make_runtime(
        [mention(1, "@acme the site is down")], workers=every(20), channels=OPS, alerts=quiet
    )
    responder = ScriptedResponder()
    rt.responders[Platform.X] = responder
    reset = clock(rt).now() + timedelta(minutes=1)
    responder.fail_next(temporary("429", retry_after=reset, rate_limited=True))
    assert run_once(rt).failed == ()
    assert responder.posts == []
    clock(rt).advance(minutes=19)  # due 18 min ago; the next run is due in a minute
    assert collect(rt).problems == []
    check_health(rt)  # the alert's check at the same moment
    assert notes(rt) == []
    clock(rt).advance(minutes=1)
    assert run_once(rt).failed == ()
    assert len(responder.posts) == 1
    assert collect(rt).problems == []


def test_a_notification_that_failed_at_one_run_waits_for_the_next(
    make_runtime: RuntimeFactory,
) -> None:
    """A channel refused a notification once, at a run: its retry comes with the next
    run, 20 minutes on. Status called that "failing" (exit 1) from 15 minutes after the
    run, one refusal read as a channel that keeps refusing. Still refused by the next
    run, it is reported at outbox_due_minutes plus the interval, as the outbox's limit."""
    channel = {"ops": {"url": f"json://127.0.0.1:{closed_port()}/hooks/ops"}}
    rt = make_runtime(sources=[], channels=channel, workers=every(20))
    with transaction(rt.sessions) as session:
        notifications.enqueue(
            session, case=None, text="alert", key="k1", actor="system",
            now=clock(rt).now(), channels=["ops"],
        )  # fmt: skip
    assert run_once(rt).failed == ()  # refused: it backs off until the next run
    clock(rt).advance(minutes=19)  # the next run is due in a minute
    assert collect(rt).problems == []
    clock(rt).advance(minutes=1)
    assert run_once(rt).failed == ()  # refused again
    clock(rt).advance(minutes=14)
    assert collect(rt).problems == []
    clock(rt).advance(minutes=1)  # 15 + 20 minutes undelivered
    (problem,) = collect(rt).problems
    assert problem.startswith("notifications to channel 'ops': 1 failing, the oldest undelivered")


def test_messages_failing_together_at_every_run_are_reported_between_runs(
    make_runtime: RuntimeFactory,
) -> None:
    """Rules failing every message at a run: status said so for 10 minutes after it,
    then read as healthy until the next run, 20 minutes on, failed again."""
    rt = make_runtime([mention(1, text=REFUND), mention(2, text=REFUND)], workers=every(20))
    with refusing(rt.engine, "refund-or-billing"):
        for _ in range(2):
            assert run_once(rt).failed != ()
            clock(rt).advance(minutes=19)  # the next run is due in a minute
            assert len(together(rt)) == 1
            clock(rt).advance(minutes=1)
    clock(rt).advance(minutes=10)  # 10 + 20 minutes after the last try
    assert len(together(rt)) == 1
    clock(rt).advance(minutes=1)  # the run overdue: nobody tries them
    assert together(rt) == []


def together(rt: Runtime) -> list[str]:
    every_tried = "processing: every message tried has failed"
    return [p for p in collect(rt).problems if p.startswith(every_tried)]


@POSTGRES_ONLY
def test_a_cron_run_on_a_clock_set_right_ends_the_earlier_runs_skew_on_its_host(
    make_runtime: RuntimeFactory,
) -> None:
    """Each `run --once` is a new worker id, and a run cleared only its own entry: the
    report of the run before it, on the same host's clock now set right, stayed for 5
    minutes plus the interval. One host's clock says nothing of another's: a run on
    host a leaves host b's skew reported."""
    rt = make_runtime(workers={"stale_claim_seconds": 120, **every(15)})
    with transaction(rt.sessions) as session:
        database_now = session.execute(select(func.now())).scalar_one()
    earlier = database_now - timedelta(minutes=1)
    for worker_id in ("host-a:41:aaaaaa", "host-b:42:bbbbbb"):
        with transaction(rt.sessions) as session:
            skewed = clock_skew.Skew(200.0, 0.01, earlier)
            clock_skew.record(session, worker_id, skewed, rt.settings)
    # A slow round trip (20 s either way, the bound 15 s) may hide a skew: it ends none.
    for later_run, uncertainty, skews in (("43:cccccc", 20.0, 2), ("44:dddddd", 0.01, 1)):
        with transaction(rt.sessions) as session:
            in_step = clock_skew.Skew(0.5, uncertainty, database_now)
            clock_skew.record(session, f"host-a:{later_run}", in_step, rt.settings)
        reported = [p for p in collect(rt).problems if p.startswith("clock skew:")]
        assert len(reported) == skews, reported
    assert reported[0].startswith("clock skew: worker host-b:42:bbbbbb's clock is 200 s ahead")
