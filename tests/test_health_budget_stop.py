"""The X read budget stop is a planned wait, not a failing source: no "source failing"
alert until midnight, and failures after it count from the end of the stop. Through the
real X source against the local FakeAPI (no sleeping: the clock is a FakeClock)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from monitor.health_alerts import check_health
from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.sources import x_usage
from monitor.status import collect
from monitor.store.db import transaction
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI
from tests.test_health_alerts import OPS, QUIET, clock, notes
from tests.xapi import MENTIONS, body, ok, problem, tweet, x_section

MIDNIGHT = datetime(2026, 11, 21, tzinfo=UTC)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    started = time.monotonic()
    with FakeAPI() as server:
        yield server
    assert time.monotonic() - started < 20  # the hours below are FakeClock hours


def budget_runtime(make: RuntimeFactory, api: FakeAPI, reads: int = 305) -> Runtime:
    return make(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        responders={
            "x": {"type": "recording", "path": None},
            "reddit": {"type": "recording", "path": None},
        },
        x=x_section(api, budget={"reads_per_day": reads, "writes_per_day": 5}),
        channels=OPS,
        alerts={"channels": ["ops"], **QUIET, "realert_minutes": 60},
    )


def failing_notes(rt: Runtime) -> list[str]:
    return [text for _, text in notes(rt) if "failing" in text]


def run_until(rt: Runtime, end: datetime, step: timedelta) -> None:
    """The daemon's poll and health jobs, every ``step``."""
    while clock(rt).now() < end:
        clock(rt).advance(seconds=step.total_seconds())
        poll_source(rt, "mentions")
        check_health(rt)


def test_the_budget_stop_is_no_failing_source(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    # 10 posts read, then X answers 503 (the next day, once the budget is back).
    api.add("GET", MENTIONS, ok(body([tweet(i) for i in range(1, 11)])), problem(503, "down"))
    rt = budget_runtime(make_runtime, api)
    poll_source(rt, "mentions")  # at 09:15 a page of 100 and its includes (300) would pass 305
    run_until(rt, MIDNIGHT - timedelta(minutes=15), timedelta(minutes=15))
    assert failing_notes(rt) == []
    assert collect(rt).problems == []
    run_until(rt, MIDNIGHT + timedelta(minutes=14), timedelta(minutes=1))
    assert failing_notes(rt) == []  # failing since 00:00, not since 09:05
    run_until(rt, MIDNIGHT + timedelta(minutes=15), timedelta(minutes=1))
    (alert,) = failing_notes(rt)
    assert alert.startswith("[inchannel] source mentions: failing for 15 min, ")


def test_earlier_failures_and_the_budget_stop_leave_status_healthy(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add(
        "GET",
        MENTIONS,
        ok(body([tweet(i) for i in range(1, 11)])),
        problem(503, "down"),
        problem(503, "down"),
    )
    rt = budget_runtime(make_runtime, api, reads=315)
    for _ in range(3):  # 10 posts read, then two failed polls (30 s and 60 s backoffs)
        poll_source(rt, "mentions")
        clock(rt).advance(minutes=1)
    with transaction(rt.sessions) as session:  # another X source read 10 more today
        x_usage.add_usage(session, x_usage.READS, clock(rt).now(), 10)
    poll_source(rt, "mentions")  # 20 + a page and its includes would pass 315: the third "failure"
    process_pending(rt)  # the 10 posts read are decided, as the daemon does meanwhile
    clock(rt).set(MIDNIGHT - timedelta(hours=1))
    assert collect(rt).sources[0].consecutive_failures == 3
    assert collect(rt).problems == []


def test_the_budget_warning_comes_before_the_stop_with_a_small_budget(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A page of 100 and its includes may read 300: at 600 a day the source stops once
    # 300 are read, half the budget, so the 80% warning came never (or after the stop).
    api.add("GET", MENTIONS, ok(body([tweet(i) for i in range(1, 11)])))
    rt = budget_runtime(make_runtime, api, reads=600)
    with transaction(rt.sessions) as session:  # another X source read 290 today
        x_usage.add_usage(session, x_usage.READS, clock(rt).now(), 290)
    check_health(rt)
    assert notes(rt) == []
    for _ in range(3):  # 300 read (one page still fits), 310, then the stop
        poll_source(rt, "mentions")
        check_health(rt)
        clock(rt).advance(minutes=2)
    texts = [text for channel, text in notes(rt) if channel == "ops"]
    assert len(texts) == 2
    assert texts[0] == (
        "[inchannel] X reads budget 50% used today (300 of 600): polling stops once "
        "a page of 300 posts no longer fits"
    )
    assert texts[1].startswith("X reads budget reached for 2026-11-20")
