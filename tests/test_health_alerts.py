"""check_health over SQLite and PostgreSQL with a FakeClock: each alert is queued once per
episode or window, re-sent after realert_minutes, and a recovery ends its episode."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from monitor import alerting, triage
from monitor.alerting import ALERTS_STATE, Alert
from monitor.casework import CaseworkError
from monitor.clock import FakeClock
from monitor.domain import Author, Mention, Platform
from monitor.health_alerts import check_health
from monitor.pipeline import dispatch_outbox, poll_source
from monitor.runtime import Runtime, build_runtime
from monitor.sources import x_usage
from monitor.sources.base import PollResult, SourceError
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Event, Message, SourceState
from monitor.testing import seed_pending_replies
from tests.conftest import RuntimeFactory
from tests.fakes import ScriptedResponder, temporary

OPS = {"ops": {"url": "json://127.0.0.1:9/ops"}, "pager": {"url": "json://127.0.0.1:9/pager"}}
QUIET = {"spike": {"enabled": False}, "silence_hours": 0, "outbox_due_minutes": 0}
_ids = itertools.count(1)


def clock(rt: Runtime) -> FakeClock:
    assert isinstance(rt.clock, FakeClock)
    return rt.clock


def alerts_runtime(make: RuntimeFactory, **alerts: Any) -> Runtime:
    return make(channels=OPS, alerts={"channels": ["ops"], **QUIET, **alerts})


def notes(rt: Runtime) -> list[tuple[str, str]]:
    """(channel, text) of every queued notification, oldest first."""
    with rt.sessions() as session:
        rows = session.scalars(
            select(ActionRow).where(ActionRow.kind == "notify").order_by(ActionRow.id)
        )
        return [(str(r.channel), r.text) for r in rows]


def delivered(rt: Runtime) -> None:
    """Every queued notification taken by its channel, as the dispatcher would."""
    with transaction(rt.sessions) as session:
        session.execute(
            update(ActionRow)
            .where(ActionRow.kind == "notify", ActionRow.status == "pending")
            .values(status="sent")
        )


def seed(
    rt: Runtime,
    *,
    at: datetime,
    n: int = 1,
    label: str = "negative",
    tags: tuple[str, ...] = (),
    source: str = "feed",
    kind: str = "mention",
) -> None:
    """``n`` inbound messages created at ``at``, each in its own case carrying ``tags``."""
    with transaction(rt.sessions) as session:
        for _ in range(n):
            i = next(_ids)
            customer = Customer(
                platform="x",
                platform_user_id=f"u{i}",
                handle=f"user{i}",
                first_seen_at=at,
                last_seen_at=at,
            )
            session.add(customer)
            session.flush()
            case = Case(
                platform="x",
                conversation_id=f"c{i}",
                customer_id=customer.id,
                state="new",
                tags=list(tags),
                opened_at=at,
                updated_at=at,
            )
            session.add(case)
            session.flush()
            message = _message(i, at, label, source, case.id, customer.id)
            message.kind = kind
            session.add(message)


def _message(i: int, at: datetime, label: str, source: str, case: int, who: int) -> Message:
    return Message(
        platform="x",
        external_id=f"m{i}",
        direction="inbound",
        kind="mention",
        source=source,
        customer_id=who,
        case_id=case,
        author_handle=f"user{i}",
        text="@acme this is broken",
        conversation_id=f"c{i}",
        created_at=at,
        ingested_at=at,
        processed=True,
        label=label,
        compound=-0.6 if label == "negative" else 0.5,
    )


class Switch:
    """A source that fails while ``down`` is set (the boundary fake for polls)."""

    name = "feed"

    def __init__(self) -> None:
        self.down = True

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        if self.down:
            raise SourceError("HTTP 503 Service Unavailable")
        return PollResult(mentions=[], cursor=cursor)


def switch_runtime(make: RuntimeFactory, **alerts: Any) -> tuple[Runtime, Switch]:
    rt = make(channels=OPS, alerts={"channels": ["ops", "pager"], **QUIET, **alerts})
    switch = Switch()
    rt.sources["feed"] = switch
    return rt, switch


def test_source_failing_alerts_once_realerts_and_recovers(make_runtime: RuntimeFactory) -> None:
    rt, switch = switch_runtime(make_runtime, realert_minutes=60)
    failing_minutes(rt, switch, 15)  # the episode starts at 09:00
    assert notes(rt) == []
    check_health(rt)
    check_health(rt)
    assert notes(rt) == [
        (
            channel,
            "[inchannel] source feed: failing for 15 min, 5 failed polls: HTTP 503 "
            "Service Unavailable",
        )
        for channel in ("ops", "pager")
    ]
    failing_minutes(rt, switch, 60)
    check_health(rt)
    assert len(notes(rt)) == 4  # realert after 60 min
    delivered(rt)
    switch.down = False
    clock(rt).advance(minutes=30)  # past the backoff
    poll_source(rt, "feed")
    check_health(rt)
    check_health(rt)
    resolved = notes(rt)[4:]
    assert [c for c, _ in resolved] == ["ops", "pager"]
    assert resolved[0][1].startswith(
        "[inchannel] resolved (raised 90 min ago): source feed: failing for 75 min"
    )
    assert collect(rt).alerts == []


def test_a_new_failure_after_recovery_is_a_new_episode(make_runtime: RuntimeFactory) -> None:
    rt, switch = switch_runtime(make_runtime)
    for _ in range(2):
        switch.down = True
        failing_minutes(rt, switch, 20)
        delivered(rt)
        switch.down = False
        clock(rt).advance(minutes=30)  # past the retry backoff
        poll_source(rt, "feed")
        check_health(rt)
    texts = [text.split(":")[0] for channel, text in notes(rt) if channel == "ops"]
    assert texts == ["[inchannel] source feed", "[inchannel] resolved (raised 35 min ago)"] * 2


def failing_now(rt: Runtime) -> tuple[list[str], list[str]]:
    """What status and the health job say about the feed failing: (problems, alerts)."""
    status = collect(rt)
    problems = [p for p in status.problems if p.startswith("source feed")]
    return problems, [a.text for a in status.alerts if a.kind == "source-failing"]


def test_status_and_the_alert_call_a_source_failing_at_the_same_minute(
    make_runtime: RuntimeFactory,
) -> None:
    # Polls every 30 s; the backoff spaces the failures out: 0, 1, 2, 4, 8 min. Three
    # failed polls used to turn status red at minute 2, 13 minutes before any alert.
    rt, _ = switch_runtime(make_runtime)
    for minute in range(16):
        clock(rt).advance(minutes=1 if minute else 0)
        poll_source(rt, "feed")
        check_health(rt)
        problems, alerts = failing_now(rt)
        assert bool(problems) == bool(alerts) == (minute >= 15), minute
    text = "source feed: failing for 15 min, 5 failed polls: HTTP 503 Service Unavailable"
    assert failing_now(rt) == ([text], [text])


class RateLimited:
    """A source whose quota another client spent: one rejected poll, then a long wait."""

    name = "feed"

    def __init__(self, retry_at: datetime) -> None:
        self.retry_at = retry_at

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("429 Too Many Requests", retry_at=self.retry_at)


def failures(rt: Runtime) -> tuple[int, str | None]:
    """The feed's failed polls in a row, and since when it fails."""
    with rt.sessions() as session:
        state = session.scalars(select(SourceState).where(SourceState.name == "feed")).one()
        return state.consecutive_failures, (state.details or {}).get("failing_since")


def test_a_rate_limit_reset_at_the_failure_itself_backs_off(make_runtime: RuntimeFactory) -> None:
    # A reset at the very moment of the failure is no wait left: the source backs off
    # (30 s) instead of being polled again at once against the limit.
    rt, _ = switch_runtime(make_runtime)
    rt.sources["feed"] = RateLimited(clock(rt).now())
    poll_source(rt, "feed")
    poll_source(rt, "feed")  # the same instant: still backing off
    assert failures(rt)[0] == 1
    clock(rt).advance(seconds=30)
    poll_source(rt, "feed")
    assert failures(rt)[0] == 2


def test_a_gap_exactly_at_the_stale_limit_keeps_the_run_of_failures(
    make_runtime: RuntimeFactory,
) -> None:
    # The feed may go 7 min (30 s polls, 120 s lease) past its due poll before status
    # calls it not polled; a failure exactly then extends the run, as status still
    # called the source failing. One more second is a gap, and a new run.
    rt, _ = switch_runtime(make_runtime)
    started = clock(rt).now()
    poll_source(rt, "feed")  # fails; the next poll is due 30 s later
    clock(rt).advance(seconds=30, minutes=7)
    poll_source(rt, "feed")
    assert failures(rt) == (2, started.isoformat())
    clock(rt).advance(minutes=8, seconds=1)  # backed off 1 min, then 7 min and 1 s
    poll_source(rt, "feed")
    assert failures(rt) == (1, clock(rt).now().isoformat())


def test_a_slow_failing_source_is_unhealthy_when_it_alerts(make_runtime: RuntimeFactory) -> None:
    # One failed poll and a 40-minute wait: the alert fired at 15 minutes while status,
    # counting three failed polls in a row, stayed green for the whole wait.
    rt, _ = switch_runtime(make_runtime)
    rt.sources["feed"] = RateLimited(clock(rt).now() + timedelta(minutes=40))
    poll_source(rt, "feed")
    clock(rt).advance(minutes=14)
    check_health(rt)
    assert failing_now(rt) == ([], [])
    clock(rt).advance(minutes=1)
    check_health(rt)
    text = "source feed: failing for 15 min, 1 failed poll: 429 Too Many Requests"
    assert failing_now(rt) == ([text], [text])


def test_a_stopped_source_alerts_as_soon_as_status_reports_it(
    make_runtime: RuntimeFactory,
) -> None:
    class Revoked:
        name = "feed"

        def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
            raise SourceError("401 Unauthorized", permanent=True)

    rt, _ = switch_runtime(make_runtime)
    rt.sources["feed"] = Revoked()
    poll_source(rt, "feed")  # stopped until a worker starts again: nothing will change
    check_health(rt)
    assert failing_now(rt) == (
        ["source feed: stopped: 401 Unauthorized"],
        ["source feed: stopped (permanent error) for 0 min, 1 failed poll: 401 Unauthorized"],
    )


def test_no_failing_source_in_status_when_its_alert_is_off(make_runtime: RuntimeFactory) -> None:
    rt, _ = switch_runtime(make_runtime, source_failing_minutes=0)
    for hour in range(6):
        clock(rt).advance(hours=1 if hour else 0)
        poll_source(rt, "feed")
        check_health(rt)
    assert failing_now(rt) == ([], [])  # 0 turns both off, as for the outbox backlog


def test_silence_on_a_source_that_usually_has_mentions(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    seed(rt, at=now - timedelta(hours=7), label="neutral")  # the last one 7 hours ago
    for day in range(1, 8):  # 6 a day in these hours on each of the last 7 days
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral")
    poll_source(rt, "feed")  # polled, and nothing new
    check_health(rt)
    (sent,) = notes(rt)
    assert sent == (
        "ops",
        "[inchannel] source feed: no mentions for 6 h (usually about 6 in that time)",
    )
    delivered(rt)
    seed(rt, at=now, label="neutral")
    check_health(rt)
    assert notes(rt)[1][1].startswith("[inchannel] resolved (raised 0 min ago): source feed: no")


def test_the_brands_own_posts_do_not_hide_a_silence(make_runtime: RuntimeFactory) -> None:
    """A search that brings in only the brand's own posts has had no customer mention."""
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    for day in range(1, 8):
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral")
    seed(rt, at=now - timedelta(hours=1), n=3, label="neutral", kind="own")
    poll_source(rt, "feed")
    check_health(rt)
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 6 in that time)"
    ]


def test_no_silence_before_the_first_poll_after_a_restart(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    check_health(rt)
    poll_source(rt, "feed")
    down_until = clock(rt).advance(hours=7)  # the daemon was down overnight
    for day in range(1, 8):  # 6 a day in these hours on each of the last 7 days
        seed(rt, at=down_until - timedelta(days=day, hours=3), n=6, label="neutral")
    check_health(rt)  # started again: the mentions of the night are not fetched yet
    assert notes(rt) == []
    poll_source(rt, "feed")  # fetched, and there were none: that is silence
    check_health(rt)
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 6 in that time)"
    ]


def test_a_silence_is_not_resolved_while_the_source_is_not_polled(
    make_runtime: RuntimeFactory,
) -> None:
    # Silence is judged only for sources being polled. One that stops being polled (the
    # daemon down for a while, a long rate-limit wait) has told nothing new: its silence
    # alert must not be "resolved", to be raised again at the next poll.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    for day in range(1, 8):  # 6 a day in these hours on each of the last 7 days
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral")
    poll_source(rt, "feed")
    check_health(rt)
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 6 in that time)"
    ]
    clock(rt).advance(minutes=20)  # the daemon was down
    check_health(rt)  # started again: no poll yet
    poll_source(rt, "feed")  # still nothing
    check_health(rt)
    assert [text for _, text in notes(rt) if "source feed" in text] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 6 in that time)"
    ]


def test_one_failed_poll_does_not_resolve_a_silence(make_runtime: RuntimeFactory) -> None:
    # A failed poll fetches nothing either: the silence it interrupts was sent as
    # "resolved" and raised again by the next successful poll, two notices for nothing.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    switch = Switch()
    switch.down = False
    rt.sources["feed"] = switch
    now = clock(rt).now()
    for day in range(1, 8):  # 6 a day in these hours on each of the last 7 days
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral")
    poll_source(rt, "feed")
    check_health(rt)
    switch.down = True  # one 503
    clock(rt).advance(minutes=1)
    poll_source(rt, "feed")
    check_health(rt)
    switch.down = False
    clock(rt).advance(minutes=5)  # past the retry backoff
    poll_source(rt, "feed")
    check_health(rt)
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 6 in that time)"
    ]
    delivered(rt)
    seed(rt, at=clock(rt).now(), label="neutral")  # a mention still ends it
    check_health(rt)
    assert notes(rt)[1][1].startswith("[inchannel] resolved (raised 6 min ago): source feed")


class Once(Switch):
    """A source that reads one mention at its next poll, then fails while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.waiting: list[Mention] = []

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        if self.down:
            raise SourceError("HTTP 503 Service Unavailable")
        mentions, self.waiting = self.waiting, []
        return PollResult(mentions=mentions, cursor=cursor)


def test_a_mention_ends_a_silence_even_if_the_next_poll_fails(
    make_runtime: RuntimeFactory,
) -> None:
    # Customers wrote again, then a poll failed before the next check: the silence was
    # held as it stood ("no mentions for 6 h") and re-sent every realert_minutes for as
    # long as the polls failed, though a mention had come in.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    source = Once()
    rt.sources["feed"] = source
    now = clock(rt).now()
    for day in range(1, 8):  # 6 a day in these hours on each of the last 7 days
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral")
    poll_source(rt, "feed")
    check_health(rt)
    delivered(rt)
    who = Author(id="a1", handle="customer1")
    source.waiting = [Mention(Platform.X, "w1", who, "@acme hello?", now, "w1")]
    clock(rt).advance(seconds=20)
    poll_source(rt, "feed")  # the mention is stored
    source.down = True
    clock(rt).advance(seconds=30)
    poll_source(rt, "feed")  # one 503 before the health check
    check_health(rt)
    assert [text.split(":")[0] for _, text in notes(rt)] == [
        "[inchannel] source feed",
        "[inchannel] resolved (raised 0 min ago)",
    ]


def test_a_quiet_source_is_not_silent(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    for day in range(1, 8):  # 4 a day in these hours: below silence_min_expected
        seed(rt, at=now - timedelta(days=day, hours=3), n=4, label="neutral")
    check_health(rt)
    assert notes(rt) == []


def test_no_mentions_at_the_hours_that_never_have_any_is_not_silence(
    make_runtime: RuntimeFactory,
) -> None:
    # 40 mentions a day, all twelve hours away from now: 280 a week would be 10 per
    # 6 hours on average, but none of them fall in these hours of the day.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    for day in range(0, 8):
        seed(rt, at=now - timedelta(days=day, hours=12), n=40, label="neutral")
    check_health(rt)
    assert notes(rt) == []


def test_a_source_quiet_every_weekend_is_not_silent_on_saturday(
    make_runtime: RuntimeFactory,
) -> None:
    # 10 mentions in these hours on each weekday, none at weekends: the week's average
    # (50 / 7 = 7.1) paged every Saturday and Sunday. The same day a week ago had none.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    saturday = datetime(2026, 11, 21, 14, 0, tzinfo=UTC)
    # From the Friday before the baseline: a source watched for a week, not one first
    # mentioned on Monday (five days of history, no weekend in them to go by).
    for day in range(1, 9):
        if (saturday - timedelta(days=day)).weekday() < 5:
            seed(rt, at=saturday - timedelta(days=day, hours=3), n=10, label="neutral")
    clock(rt).set(saturday)
    poll_source(rt, "feed")
    check_health(rt)
    assert notes(rt) == []
    clock(rt).set(saturday + timedelta(days=2))  # Monday: a week ago had 10
    poll_source(rt, "feed")
    check_health(rt)
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 7 in that time)"
    ]


def test_a_source_younger_than_a_week_is_compared_with_the_days_it_has(
    make_runtime: RuntimeFactory,
) -> None:
    # With silence_baseline_days 7 the same weekday a week ago had no mentions (the
    # source did not exist yet): expected 0, and no silence alert for its first week.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    seed(rt, at=now - timedelta(days=3, hours=12), label="neutral")  # its first mention
    for day in range(1, 4):  # 9 in these hours on each of the 3 days it has existed
        seed(rt, at=now - timedelta(days=day, hours=3), n=9, label="neutral")
    poll_source(rt, "feed")
    check_health(rt)
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source feed: no mentions for 6 h (usually about 9 in that time)"
    ]


def test_a_source_without_a_whole_baseline_day_is_not_silent(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], "spike": {"enabled": False}})
    now = clock(rt).now()
    # Its first mentions came 29 h ago, inside yesterday's window: no day to compare with.
    seed(rt, at=now - timedelta(hours=29), n=40, label="neutral")
    poll_source(rt, "feed")
    check_health(rt)
    assert notes(rt) == []


def test_outbox_backlog_alerts_and_recovers(make_runtime: RuntimeFactory) -> None:
    rt = alerts_runtime(make_runtime, outbox_backlog=3, outbox_due_minutes=0)
    seed_pending_replies(rt.sessions, 3, at=clock(rt).now())
    check_health(rt)
    check_health(rt)
    assert notes(rt) == [
        ("ops", "[inchannel] outbox backing up: 3 actions waiting, the oldest due 0 min ago")
    ]
    delivered(rt)
    while dispatch_outbox(rt):
        pass
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 0 min ago): outbox backing up")


def test_a_clock_set_back_does_not_say_raised_minus_minutes_ago(
    make_runtime: RuntimeFactory,
) -> None:
    # NTP stepping the clock back (or a worker whose clock runs ahead raising it) put
    # the alert's start after now: "resolved (raised -10 min ago)".
    rt = alerts_runtime(make_runtime, outbox_backlog=2, outbox_due_minutes=0)
    seed_pending_replies(rt.sessions, 2, at=clock(rt).now())
    check_health(rt)
    delivered(rt)
    while dispatch_outbox(rt):
        pass
    clock(rt).advance(minutes=-10)
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 0 min ago): outbox")


def test_a_backlog_waiting_for_its_retries_is_not_called_overdue(
    make_runtime: RuntimeFactory,
) -> None:
    # Every action waits for a retry after a channel outage: none is due yet, and the
    # text said "the oldest due -10 min ago". Failed sends backing off are a backlog.
    rt = alerts_runtime(make_runtime, outbox_backlog=3, outbox_due_minutes=15)
    seed_pending_replies(rt.sessions, 3, at=clock(rt).now() + timedelta(minutes=10))
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).values(status="failed", attempts=2))
    assert (collect(rt).outbox_backlog, collect(rt).outbox_held) == (3, 0)
    check_health(rt)
    assert notes(rt) == [
        ("ops", "[inchannel] outbox backing up: 3 actions waiting, the next due in 10 min")
    ]


def test_replies_held_for_a_rate_limit_reset_are_no_backlog(
    make_runtime: RuntimeFactory,
) -> None:
    """A 429 with a reset (or the day's X write budget) gives the replies back until it:
    held, not a backlog, and counting them paged about a dispatcher doing its job."""
    rt = alerts_runtime(make_runtime, outbox_backlog=3, outbox_due_minutes=15)
    seed_pending_replies(rt.sessions, 4, at=clock(rt).now())
    responder = ScriptedResponder()
    rt.responders[Platform.X] = responder
    reset = clock(rt).now() + timedelta(hours=2)
    responder.fail_next(*(temporary("429", retry_after=reset, rate_limited=True),) * 3)
    while dispatch_outbox(rt):
        pass
    assert len(responder.posts) == 1
    status = collect(rt)
    assert (status.outbox["failed"], status.outbox_backlog, status.outbox_held) == (3, 0, 3)
    check_health(rt)
    assert notes(rt) == []
    clock(rt).set(reset + timedelta(minutes=1))  # due, and the dispatcher does not run
    status = collect(rt)
    assert (status.outbox_backlog, status.outbox_held) == (3, 0)
    check_health(rt)
    assert notes(rt) == [
        ("ops", "[inchannel] outbox backing up: 3 actions waiting, the oldest due 1 min ago")
    ]


def test_negative_spike_once_per_window_overall_and_per_tag(
    make_runtime: RuntimeFactory,
) -> None:
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3})
    now = clock(rt).now()
    for hour in range(1, 25):  # baseline: 1 negative mention an hour
        seed(rt, at=now - timedelta(hours=hour, minutes=30))
    seed(rt, at=now - timedelta(hours=30), n=50)  # before the baseline: not counted
    seed(rt, at=now - timedelta(minutes=20), n=5, label="positive")
    seed(rt, at=now - timedelta(minutes=10), n=9, tags=("billing",))
    check_health(rt)
    assert notes(rt) == []  # 9 < min_count
    seed(rt, at=now - timedelta(minutes=5), n=1, tags=("billing", "app"))
    check_health(rt)
    clock(rt).advance(minutes=30)
    check_health(rt)  # same clock-aligned window: no second alert
    assert [t for _, t in notes(rt)] == [
        "[inchannel] spike: 10 negative mentions in the last 60 min (usually 1.0; baseline 24 h)",
        "[inchannel] spike in tag 'billing': 10 negative mentions in the last 60 min "
        "(usually none; baseline 24 h)",
    ]
    seed(rt, at=clock(rt).now() - timedelta(minutes=1), n=10)
    clock(rt).advance(minutes=30)  # the next window, still spiking overall
    check_health(rt)
    assert [t.split(":")[0] for _, t in notes(rt)[2:]] == ["[inchannel] spike"]


def test_x_budget_warning_goes_to_alert_and_budget_channels(
    make_runtime: RuntimeFactory,
) -> None:
    x = {"user_id": "1", "budget": {"reads_per_day": 100, "notify": ["pager"]}}
    rt = make_runtime(channels=OPS, x=x, alerts={"channels": ["ops"], **QUIET})
    with transaction(rt.sessions) as session:
        x_usage.add_usage(session, x_usage.READS, clock(rt).now(), 79)
    check_health(rt)
    assert notes(rt) == []
    with transaction(rt.sessions) as session:
        x_usage.add_usage(session, x_usage.READS, clock(rt).now(), 1)
    check_health(rt)
    clock(rt).advance(hours=2)
    check_health(rt)
    text = "[inchannel] X reads budget 80% used today (80 of 100)"
    assert notes(rt) == [("ops", text), ("pager", text)]


def test_yesterdays_x_budget_warning_still_waiting_is_not_sent_today(
    make_runtime: RuntimeFactory,
) -> None:
    # The ops channel was down from the evening: its "80% used today" went out when it
    # came back the next morning, of a day long over, beside today's own budget.
    x = {"user_id": "1", "budget": {"reads_per_day": 100, "notify": ["pager"]}}
    rt = make_runtime(channels=OPS, x=x, alerts={"channels": ["ops"], **QUIET})
    evening = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
    clock(rt).set(evening)
    with transaction(rt.sessions) as session:
        x_usage.add_usage(session, x_usage.READS, evening, 80)
    check_health(rt)
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).where(ActionRow.channel == "pager").values(status="sent"))
    clock(rt).set(evening + timedelta(hours=3))  # the next UTC day
    check_health(rt)
    with rt.sessions() as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        assert [(r.channel, r.status) for r in rows] == [("ops", "suppressed"), ("pager", "sent")]


class TickingClock:
    """A wall clock that moves on one second at each reading, as a real one does."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        current, self._now = self._now, self._now + timedelta(seconds=1)
        return current


def test_an_x_budget_check_just_before_midnight_reads_that_days_usage(
    make_runtime: RuntimeFactory,
) -> None:
    # The check took its time at 23:59:59 and read the usage with a second reading of
    # the clock, already the next UTC day's (none spent yet): the 80% warning was missed.
    x = {"user_id": "1", "budget": {"reads_per_day": 100}}
    first = make_runtime(channels=OPS, x=x, alerts={"channels": ["ops"], **QUIET})
    before_midnight = datetime(2026, 11, 20, 23, 59, 59, tzinfo=UTC)
    with transaction(first.sessions) as session:
        x_usage.add_usage(session, x_usage.READS, before_midnight, 80)
    rt = build_runtime(first.settings, clock=TickingClock(before_midnight))
    try:
        check_health(rt)
    finally:
        rt.engine.dispose()
    assert notes(first) == [("ops", "[inchannel] X reads budget 80% used today (80 of 100)")]


def test_without_channels_alerts_are_logged_and_recorded(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rt = make_runtime(alerts={**QUIET, "outbox_backlog": 1})
    seed_pending_replies(rt.sessions, 1, at=clock(rt).now())
    with caplog.at_level(logging.WARNING, logger="inchannel.alerts"):
        check_health(rt)
        check_health(rt)
    assert [r.getMessage() for r in caplog.records] == [
        "alert=outbox-backlog key=outbox-backlog outbox backing up: 1 action waiting, "
        "the oldest due 0 min ago"
    ]
    assert notes(rt) == []
    with rt.sessions() as session:
        (event,) = session.scalars(select(Event).where(Event.kind == "alert"))
    assert (event.case_id, event.detail["alert"], event.detail["channels"]) == (
        None,
        "outbox-backlog",
        [],
    )


def test_workers_checking_at_once_alert_once(make_runtime: RuntimeFactory) -> None:
    first = alerts_runtime(make_runtime, outbox_backlog=1)
    seed_pending_replies(first.sessions, 1, at=first.clock.now())
    workers = [build_runtime(first.settings, clock=FakeClock()) for _ in range(3)]
    barrier = threading.Barrier(len(workers))

    def run(rt: Runtime) -> None:
        barrier.wait()
        check_health(rt)

    threads = [threading.Thread(target=run, args=(rt,)) for rt in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rt in workers:
        rt.engine.dispose()
    assert len(notes(first)) == 1
    with first.sessions() as session:
        events = session.scalars(select(Event).where(Event.kind == "alert")).all()
    assert len(events) == 1


def test_status_shows_active_alerts(make_runtime: RuntimeFactory) -> None:
    rt = alerts_runtime(make_runtime, outbox_backlog=1)
    seed_pending_replies(rt.sessions, 1, at=clock(rt).now())
    check_health(rt)
    (alert,) = collect(rt).alerts
    assert (alert.kind, alert.since, alert.sent) == ("outbox-backlog", clock(rt).now(), 1)
    assert ALERTS_STATE not in [s.name for s in collect(rt).sources]  # not a source
    assert asdict(collect(rt))["alerts"][0]["key"] == "outbox-backlog"


def test_the_state_lock_makes_a_second_worker_wait(make_runtime: RuntimeFactory) -> None:
    """Worker B must not read the active alerts while worker A may still add to them."""
    rt = make_runtime()
    now = clock(rt).now()
    alert = Alert("outbox-backlog", "outbox-backlog", "outbox backing up")
    a_locked, b_read = threading.Event(), threading.Event()
    seen: dict[str, set[str]] = {}
    with transaction(rt.sessions) as session:
        alerting.lock_state(session, now)  # the row exists, as after the first check

    def worker(name: str) -> None:
        with transaction(rt.sessions) as session:
            previous = alerting.lock_state(session, now)
            seen[name] = set(previous)
            plan = alerting.reconcile(previous, [alert], now=now, realert=None)
            alerting.save_state(session, plan.active)
            if name == "a":
                a_locked.set()
                # With the lock B cannot read yet, so this wait runs out; without it,
                # B would read the old state here and alert a second time.
                b_read.wait(timeout=1)
            else:
                b_read.set()

    a = threading.Thread(target=worker, args=("a",))
    a.start()
    assert a_locked.wait(timeout=10)
    worker("b")
    a.join()
    assert seen == {"a": set(), "b": {"outbox-backlog"}}


def test_budget_stop_and_warning_share_one_channel_list(make_runtime: RuntimeFactory) -> None:
    from monitor.sources.x_build import budget_channels

    x = {"user_id": "1", "budget": {"notify": ["pager", "ops"]}}
    rt = make_runtime(channels=OPS, x=x, alerts={"channels": ["ops"]})
    assert budget_channels(rt.settings) == ("ops", "pager")


def failing_minutes(rt: Runtime, switch: Switch, minutes: int) -> None:
    """The feed failing, polled and checked each minute for ``minutes`` (the backoff
    skips some polls, as in the daemon)."""
    for _ in range(minutes):
        poll_source(rt, "feed")
        check_health(rt)
        clock(rt).advance(minutes=1)


def test_a_failure_before_downtime_is_not_failing_for_the_whole_gap(
    make_runtime: RuntimeFactory,
) -> None:
    # A source failed for 5 minutes when the daemon stopped; started again a day later,
    # status and the alert said "failing for 1440 min" before the first poll had run.
    rt, switch = switch_runtime(make_runtime)
    failing_minutes(rt, switch, 5)
    clock(rt).advance(days=1)
    check_health(rt)  # started again: no poll yet
    assert failing_now(rt) == ([], [])
    poll_source(rt, "feed")  # still failing: its failing time starts now
    check_health(rt)
    assert failing_now(rt) == ([], [])
    failing_minutes(rt, switch, 15)
    check_health(rt)
    text = "source feed: failing for 15 min, 5 failed polls: HTTP 503 Service Unavailable"
    assert failing_now(rt) == ([text], [text])
    assert [t for c, t in notes(rt) if c == "ops"] == [f"[inchannel] {text}"]


def test_a_failing_alert_is_not_resolved_by_downtime(make_runtime: RuntimeFactory) -> None:
    # The alert raised before the daemon stopped stays one episode while the source
    # still fails after the restart: no "resolved" notice, no second alert.
    rt, switch = switch_runtime(make_runtime, realert_minutes=0)
    failing_minutes(rt, switch, 16)
    clock(rt).advance(days=1)
    check_health(rt)  # started again: no poll yet
    status = collect(rt)
    assert not [p for p in status.problems if "failing for" in p]
    assert [a.text for a in status.alerts] == [
        "source feed: not polled for 1448 min after failing, 5 failed polls: "
        "HTTP 503 Service Unavailable"
    ]
    failing_minutes(rt, switch, 20)  # the first poll fails: failing for 0, 1, ... 19 min
    assert len(notes(rt)) == 2  # the alert, to ops and pager, once
    delivered(rt)
    switch.down = False
    clock(rt).advance(minutes=30)  # past the backoff
    poll_source(rt, "feed")
    check_health(rt)
    ops = [t for c, t in notes(rt) if c == "ops"]
    assert len(ops) == 2
    assert ops[1].startswith("[inchannel] resolved (raised 1491 min ago): source feed")


def _waiting(rt: Runtime, n: int, *, due: datetime | None = None) -> None:
    """The first ``n`` seeded replies waiting (due ``due``, as seeded if None), the rest
    sent: a dispatcher working through a backlog that keeps filling."""
    with transaction(rt.sessions) as session:
        rows = session.scalars(
            select(ActionRow).where(ActionRow.kind == "reply").order_by(ActionRow.id)
        ).all()
        for i, row in enumerate(rows):
            row.status = "pending" if i < n else "sent"
            row.next_attempt_at = due or row.next_attempt_at


def test_an_outbox_hovering_at_its_threshold_does_not_flap(make_runtime: RuntimeFactory) -> None:
    # A backlog drained about as fast as it fills crossed outbox_backlog every few
    # minutes: each crossing was a new alert and each dip a "resolved" notice.
    rt = alerts_runtime(make_runtime, outbox_backlog=6, outbox_due_minutes=0)
    seed_pending_replies(rt.sessions, 6, at=clock(rt).now())
    check_health(rt)
    for _ in range(3):
        # With the alert's own notification, 4: under the threshold, not under half.
        _waiting(rt, 3)
        clock(rt).advance(minutes=1)
        check_health(rt)
        _waiting(rt, 6)
        clock(rt).advance(minutes=1)
        check_health(rt)
    assert [t for _, t in notes(rt)] == [
        "[inchannel] outbox backing up: 6 actions waiting, the oldest due 0 min ago"
    ]
    delivered(rt)
    _waiting(rt, 1)  # it has drained: 2 waiting
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 6 min ago): outbox")


def test_an_overdue_outbox_hovering_at_its_threshold_does_not_flap(
    make_runtime: RuntimeFactory,
) -> None:
    rt = alerts_runtime(make_runtime, outbox_backlog=0, outbox_due_minutes=10)
    start = clock(rt).now()
    seed_pending_replies(rt.sessions, 1, at=start)
    clock(rt).advance(minutes=10)
    check_health(rt)  # 10 min overdue
    _waiting(rt, 1, due=start + timedelta(minutes=2))  # the next one, 8 min overdue
    check_health(rt)
    assert len(notes(rt)) == 1
    delivered(rt)
    _waiting(rt, 1, due=start + timedelta(minutes=6))
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 0 min ago): outbox")


def test_no_resolved_notice_where_the_alert_never_went_out(
    make_runtime: RuntimeFactory,
) -> None:
    # The pager channel was down while the alert was raised and resolved: its retried
    # alert and the "resolved" notice raced when it came back, the notice often first,
    # and the alert then reported a failure long over as current.
    rt, switch = switch_runtime(make_runtime)
    failing_minutes(rt, switch, 16)
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).where(ActionRow.channel == "ops").values(status="sent"))
    switch.down = False
    clock(rt).advance(minutes=30)  # past the backoff
    poll_source(rt, "feed")
    check_health(rt)
    with rt.sessions() as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        shown = [(r.channel, r.status, r.text.split(":")[0]) for r in rows]
    assert shown == [
        ("ops", "sent", "[inchannel] source feed"),
        ("pager", "suppressed", "[inchannel] source feed"),
        ("ops", "pending", "[inchannel] resolved (raised 31 min ago)"),
    ]
    with rt.sessions() as session:
        event = session.scalars(select(Event).where(Event.kind == "alert_resolved")).one()
    assert event.detail["channels"] == ["ops"]


def test_an_alert_given_up_on_its_channel_cannot_be_retried_once_it_has_ended(
    make_runtime: RuntimeFactory,
) -> None:
    # The pager was down past notify_retry_hours, so its copy of the alert went dead;
    # the source then recovered. A lead retrying the dead one from status or the
    # Health page paged everyone about a failure already over, with no "resolved".
    rt = make_runtime(
        channels=OPS,
        alerts={"channels": ["ops", "pager"], **QUIET, "realert_minutes": 0},
        dispatch={"notify_retry_hours": 1},
    )
    switch = Switch()
    rt.sources["feed"] = switch
    failing_minutes(rt, switch, 16)
    with transaction(rt.sessions) as session:
        session.execute(update(ActionRow).where(ActionRow.channel == "ops").values(status="sent"))
    for _ in range(8):  # the pager refuses for 80 minutes
        dispatch_outbox(rt)
        clock(rt).advance(minutes=10)
    with rt.sessions() as session:
        (paged,) = session.scalars(select(ActionRow).where(ActionRow.channel == "pager"))
    assert paged.status == "dead"
    switch.down = False
    poll_source(rt, "feed")
    check_health(rt)
    assert notes(rt)[-1][1].startswith("[inchannel] resolved")
    with pytest.raises(CaseworkError, match="is suppressed, not dead"):
        triage.retry_action(rt, paged.id, user="lena")


def test_a_source_taken_out_of_the_config_is_not_called_recovered(
    make_runtime: RuntimeFactory, tmp_path: Any
) -> None:
    # An operator disabled a source stopped by revoked credentials: the team was told
    # "resolved: source feed: failing ...", as if it polled again.
    rt, switch = switch_runtime(make_runtime)
    failing_minutes(rt, switch, 16)
    delivered(rt)
    feed = {"name": "feed", "type": "replay", "path": str(tmp_path / "feed0.jsonl")}
    later = make_runtime(
        channels=OPS,
        alerts={"channels": ["ops", "pager"], **QUIET},
        sources=[{**feed, "enabled": False}],
    )
    clock(later).set(clock(rt).now())
    check_health(later)
    ended = [t for c, t in notes(later) if c == "ops"][1]
    assert ended.startswith(
        "[inchannel] ended, source feed no longer configured (raised 1 min ago): "
        "source feed: failing"
    )


class ShoutingSwitch(Switch):
    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("HTTP 403: @everyone @here read the docs")


def test_an_alert_quoting_an_api_error_pings_nobody(make_runtime: RuntimeFactory) -> None:
    # An API's error body is not ours: "@everyone" in it pinged the whole chat channel
    # through the alert, as a customer's mention text no longer does.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], **QUIET})
    rt.sources["feed"] = ShoutingSwitch()
    failing_minutes(rt, rt.sources["feed"], 15)  # type: ignore[arg-type]
    check_health(rt)
    ((_, text),) = notes(rt)
    assert "@everyone" not in text
    assert "@here" not in text
    assert "@\u200beveryone @\u200bhere read the docs" in text


class LinkingSwitch(Switch):
    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        if self.down:
            body = "[reset your token](https://evil.example/login) ![](https://evil.example/p.png)"
            raise SourceError(f"HTTP 400: {body}")
        return PollResult(mentions=[], cursor=cursor)


def test_an_alert_quoting_an_api_error_shows_a_links_address(
    make_runtime: RuntimeFactory,
) -> None:
    # Discord and Mattermost render an alert as Markdown: "[text](url)" in an API's error
    # body showed as a link hiding its address, and "![](url)" loaded the image when the
    # alert was read. A customer's excerpt made them inert; the alerts only stopped pings.
    rt = make_runtime(channels=OPS, alerts={"channels": ["ops"], **QUIET})
    switch = LinkingSwitch()
    rt.sources["feed"] = switch
    failing_minutes(rt, switch, 15)
    check_health(rt)
    delivered(rt)  # a recovery notice goes where the alert went
    switch.down = False
    clock(rt).advance(minutes=30)  # past the backoff
    poll_source(rt, "feed")
    check_health(rt)
    alert, resolved = [text for _, text in notes(rt)]
    assert resolved.startswith("[inchannel] resolved")
    for text in (alert, resolved):
        assert "](" not in text
        assert "[reset your token]\u200b(https://evil.example/login)" in text
        assert "![]\u200b(https://evil.example/p.png)" in text
