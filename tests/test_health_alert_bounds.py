"""The edges of the health alerts' thresholds, each as a user meets it: the count or time
exactly at a limit alerts (or recovers) the way the docs say, not one step later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from monitor.health_alerts import check_health
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import ActionRow
from monitor.testing import seed_pending_replies
from tests.conftest import RuntimeFactory
from tests.test_health_alerts import (
    OPS,
    Switch,
    _waiting,
    alerts_runtime,
    clock,
    delivered,
    notes,
    seed,
)


def test_an_outbox_down_to_exactly_half_its_threshold_recovers(
    make_runtime: RuntimeFactory,
) -> None:
    # "Once raised, until both are down to half their threshold": at half it is over.
    rt = alerts_runtime(make_runtime, outbox_backlog=6, outbox_due_minutes=0)
    seed_pending_replies(rt.sessions, 6, at=clock(rt).now())
    check_health(rt)
    delivered(rt)  # a recovery notice goes only where the alert went
    _waiting(rt, 3)
    assert collect(rt).outbox_backlog == 3
    clock(rt).advance(minutes=1)
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 1 min ago): outbox")


def test_an_outbox_overdue_exactly_half_its_limit_recovers(make_runtime: RuntimeFactory) -> None:
    rt = alerts_runtime(make_runtime, outbox_backlog=0, outbox_due_minutes=10)
    start = clock(rt).now()
    seed_pending_replies(rt.sessions, 1, at=start)
    clock(rt).advance(minutes=10)
    check_health(rt)  # 10 min overdue: raised
    delivered(rt)
    _waiting(rt, 1, due=start + timedelta(minutes=5))  # the next one, 5 min overdue
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 0 min ago): outbox")


def test_a_source_quiet_every_weekend_is_not_silent_on_sunday(
    make_runtime: RuntimeFactory,
) -> None:
    # Its first mention was looked for from one day before the baseline, a Saturday with
    # none: the source counted as first mentioned on Monday, that day's hours as part
    # watched, and without last Sunday to go by 40 mentions in 5 days paged on Sunday.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    sunday = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    for day in range(1, 22):  # three weeks of weekdays, 10 in these hours each
        if (sunday - timedelta(days=day)).weekday() < 5:
            seed(rt, at=sunday - timedelta(days=day, hours=3), n=10, label="neutral")
    clock(rt).set(sunday)
    poll_source(rt, "feed")
    check_health(rt)
    assert notes(rt) == []


def test_the_next_due_in_a_part_minute_rounds_up(make_runtime: RuntimeFactory) -> None:
    rt = alerts_runtime(make_runtime, outbox_backlog=1, outbox_due_minutes=0)
    # A failed send backing off for another 90 s: "in 1 min" would be too soon.
    seed_pending_replies(rt.sessions, 1, at=clock(rt).now() + timedelta(seconds=90))
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).values(status="failed", attempts=1))
    check_health(rt)
    assert [t for _, t in notes(rt)] == [
        "[inchannel] outbox backing up: 1 action waiting, the next due in 2 min"
    ]


def silence_runtime(make: RuntimeFactory, **alerts: Any) -> Runtime:
    return make(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}, **alerts})


def silences(rt: Runtime) -> list[str]:
    poll_source(rt, "feed")  # polled, and nothing new
    check_health(rt)
    return [text for _, text in notes(rt)]


def test_a_source_with_exactly_the_minimum_every_day_is_silent(
    make_runtime: RuntimeFactory,
) -> None:
    rt = silence_runtime(make_runtime)
    now = clock(rt).now()
    for day in range(1, 9):  # 5 in these hours each day, from before the baseline
        seed(rt, at=now - timedelta(days=day, hours=3), n=5, label="neutral")
    assert silences(rt) == [
        "[inchannel] source feed: no mentions for 6 h (usually about 5 in that time)"
    ]


def test_a_silence_longer_than_a_day_compares_with_days_it_does_not_overlap(
    make_runtime: RuntimeFactory,
) -> None:
    # 30 h are compared with the 30 h ending at this time 2 days ago: yesterday's would
    # reach into the silent hours themselves.
    rt = silence_runtime(make_runtime, silence_hours=30, silence_baseline_days=1)
    now = clock(rt).now()
    seed(rt, at=now - timedelta(hours=100), label="neutral")  # watched for days
    seed(rt, at=now - timedelta(hours=60), n=10, label="neutral")  # 2 days ago only
    assert silences(rt) == [
        "[inchannel] source feed: no mentions for 30 h (usually about 10 in that time)"
    ]


def test_a_day_whose_hours_begin_at_the_first_mention_counts(
    make_runtime: RuntimeFactory,
) -> None:
    # Watched from the first moment of the week-old day's hours: that day counts, and
    # with it the 7 days average 36 / 7, at least 5; without it 24 / 6 is 4.
    rt = silence_runtime(make_runtime)
    now = clock(rt).now()
    seed(rt, at=now - timedelta(days=7, hours=6), label="neutral")  # its first mention
    seed(rt, at=now - timedelta(days=7, hours=3), n=11, label="neutral")
    for day in range(1, 7):
        seed(rt, at=now - timedelta(days=day, hours=3), n=4, label="neutral")
    assert silences(rt) == [
        "[inchannel] source feed: no mentions for 6 h (usually about 5 in that time)"
    ]


def test_a_mention_at_the_end_of_a_days_hours_is_not_counted_in_them(
    make_runtime: RuntimeFactory,
) -> None:
    # The hours compared end where the same hours today begin, as [since, until): 34
    # in 7 days is under 5 a day, and a 35th at yesterday's very time is not one of them.
    rt = silence_runtime(make_runtime)
    now = clock(rt).now()
    for day in range(1, 9):
        seed(rt, at=now - timedelta(days=day, hours=3), n=4 if day == 1 else 5, label="neutral")
    seed(rt, at=now - timedelta(days=1), label="neutral")
    assert silences(rt) == []


def test_a_source_whose_last_poll_failed_is_not_judged_silent(
    make_runtime: RuntimeFactory,
) -> None:
    # A failed poll fetched nothing: no mentions since says nothing about the customers.
    rt = silence_runtime(make_runtime)
    switch = Switch()
    switch.down = False
    rt.sources["feed"] = switch
    now = clock(rt).now()
    for day in range(1, 9):
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral")
    poll_source(rt, "feed")
    switch.down = True  # one 503 before the first check
    clock(rt).advance(minutes=1)
    assert silences(rt) == []
