"""`inchannel status` and `inchannel_healthy` when nothing polls: a source not polled for
max(3 intervals, workers.lease_seconds) + 5 min, a source never polled while the daemon
runs, and health checks that stopped. The feed polls every 30 s and the lease is 120 s,
so its limit is 7 min."""

from __future__ import annotations

from datetime import datetime, timedelta

from monitor.clock import FakeClock
from monitor.health_alerts import check_health
from monitor.metrics import state_families
from monitor.pipeline import poll_source, run_cycle
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, SourceError
from monitor.status import NOT_STARTED, collect, limits_from
from tests.conftest import RuntimeFactory, mention


def clock(rt: Runtime) -> FakeClock:
    assert isinstance(rt.clock, FakeClock)
    return rt.clock


def healthy_gauge(rt: Runtime) -> float:
    stale = limits_from(rt.settings).stale_after
    families = state_families(collect(rt), stale)
    (gauge,) = [m for m in families if m.name == "inchannel_healthy"]
    return gauge.samples[0].value


def test_a_source_nobody_polls_is_unhealthy(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    clock(rt).advance(minutes=7)
    assert collect(rt).problems == []
    clock(rt).advance(minutes=1)
    assert collect(rt).problems == ["source feed: not polled for 8 min"]
    assert healthy_gauge(rt) == 0
    poll_source(rt, "feed")
    assert healthy_gauge(rt) == 1


def test_a_source_waiting_for_its_retry_time_is_not_stale(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    retry_at = clock(rt).now() + timedelta(hours=2)

    class RateLimited:
        name = "feed"

        def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
            raise SourceError("429 Too Many Requests", retry_at=retry_at)

    rt.sources["feed"] = RateLimited()
    poll_source(rt, "feed")
    clock(rt).advance(hours=1, minutes=59)
    poll_source(rt, "feed")  # skipped until the retry time: last_poll_at stays
    # Waiting, not stale; failing all the same (a rate limit counts, as for the alert).
    assert collect(rt).problems == [
        "source feed: failing for 119 min, 1 failed poll: 429 Too Many Requests"
    ]
    clock(rt).set(retry_at + timedelta(minutes=8))  # nobody polled after the wait
    assert collect(rt).problems == ["source feed: not polled for 128 min"]


def test_a_source_never_polled_while_the_daemon_runs(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    clock(rt).advance(hours=3)
    # No daemon has run on this database yet: that is what status says.
    assert collect(rt).problems == [NOT_STARTED]
    for _ in range(8):  # the health job runs each minute; no poll job does
        check_health(rt)
        clock(rt).advance(minutes=1)
    check_health(rt)
    assert collect(rt).problems == ["source feed: never polled; the daemon has been up for 8 min"]
    poll_source(rt, "feed")
    assert collect(rt).problems == []


def test_a_daemon_started_after_downtime_has_time_for_its_first_poll(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1)])
    check_health(rt)
    poll_source(rt, "feed")
    clock(rt).advance(hours=1)  # the daemon was down: status said so (no health checks)
    check_health(rt)  # started again; its first poll is still to come
    assert collect(rt).problems == []
    for _ in range(8):  # the health job runs each minute; no poll job does
        clock(rt).advance(minutes=1)
        check_health(rt)
    assert collect(rt).problems == [
        "source feed: not polled for 68 min; the daemon has been up for 8 min"
    ]
    poll_source(rt, "feed")
    assert collect(rt).problems == []


def test_a_gap_in_the_health_checks_starts_a_new_run(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    check_health(rt)
    clock(rt).advance(hours=1)  # the daemon was down
    check_health(rt)
    started = clock(rt).now()
    clock(rt).advance(minutes=4)
    check_health(rt)
    status = collect(rt)
    assert (status.health_running_since, status.health_checked_at) == (started, clock(rt).now())
    assert status.problems == []  # up 4 min: the feed's first poll may still come


def test_health_checks_that_stopped_are_unhealthy(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    check_health(rt)
    poll_source(rt, "feed")
    clock(rt).advance(minutes=5)
    poll_source(rt, "feed")
    assert collect(rt).problems == []
    clock(rt).advance(minutes=1)
    poll_source(rt, "feed")  # polls go on, the health job does not
    assert collect(rt).problems == ["health checks: none for 6 min (is the daemon running?)"]


def test_run_once_from_cron_every_4_minutes_stays_healthy(make_runtime: RuntimeFactory) -> None:
    """docs/operations.md: `run --once` from cron is healthy at most every 4 minutes; a
    longer gap reads as a daemon that stopped (health checks, then the sources)."""
    rt = make_runtime([mention(n) for n in range(1, 6)])
    for _ in range(5):
        run_cycle(rt)
        clock(rt).advance(minutes=4, seconds=50)
        assert collect(rt).problems == []
    clock(rt).advance(minutes=10)
    problems = collect(rt).problems
    assert problems[0] == "source feed: not polled for 14 min"
    assert problems[1].startswith("health checks: none for 14 min")


def test_an_x_source_is_late_only_once_its_lease_could_have_lapsed(
    make_runtime: RuntimeFactory,
) -> None:
    """An X source's lease outlasts its slowest poll (30 s of pages, then the page under
    way: 2 requests of up to 2 x 60 s, and 30 s for the database): 300 s here. Late
    after 7 min, a killed worker's source was reported not polled while its lease still
    held it."""
    x = {
        "user_id": "783214",
        "bearer_token": "bearer-secret",
        "api_base_url": "http://127.0.0.1:9",
        "timeout_seconds": 60,
    }
    source = {"name": "mentions", "type": "x_mentions", "interval_seconds": 60}
    rt = make_runtime(sources=[source], x=x)
    assert limits_from(rt.settings).stale_after["mentions"] == timedelta(minutes=10)
