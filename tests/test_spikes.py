"""A spike alerts at most once per window_minutes per scope, wherever the clock's hour
boundaries fall (check_health over SQLite and PostgreSQL with a FakeClock)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from monitor.alerting import ALERTS_STATE, Downtime, downtime, failing_periods, recorded_backfills
from monitor.backfill import BackfillReport, backfill
from monitor.clock import Clock
from monitor.domain import Author, Mention, Platform
from monitor.health_alerts import check_health
from monitor.ingest import poll_source
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, SourceError, Window
from monitor.sources.replay import ReplaySource
from monitor.spikes import baseline_of, negative_counts
from monitor.store.db import transaction
from monitor.store.models import ActionRow, SourceState
from tests.conftest import RuntimeFactory, mention, write_jsonl
from tests.test_health_alerts import (
    OPS,
    QUIET,
    _ids,
    _message,
    alerts_runtime,
    clock,
    notes,
    seed,
)

BEFORE_THE_HOUR = datetime(2026, 11, 20, 9, 59, 30, tzinfo=UTC)


def spike_notes(rt: Runtime) -> list[str]:
    return [text for _, text in notes(rt) if text.startswith("[inchannel] spike")]


def check_at(rt: Runtime, moment: datetime) -> None:
    clock(rt).set(moment)
    check_health(rt)


def test_a_burst_just_before_the_hour_alerts_once(make_runtime: RuntimeFactory) -> None:
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3})
    clock(rt).set(BEFORE_THE_HOUR)
    seed(rt, at=BEFORE_THE_HOUR - timedelta(seconds=20), n=10, tags=("billing",))
    check_health(rt)
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=1))  # 10:00:30: still in the window
    assert spike_notes(rt) == [
        "[inchannel] spike: 10 negative mentions in the last 60 min (usually none; baseline 24 h)",
        "[inchannel] spike in tag 'billing': 10 negative mentions in the last 60 min "
        "(usually none; baseline 24 h)",
    ]


def test_a_spike_that_ends_and_returns_within_the_window_stays_quiet(
    make_runtime: RuntimeFactory,
) -> None:
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    clock(rt).set(BEFORE_THE_HOUR)
    # A day of history: with none, the first burst would be the whole baseline.
    seed(rt, at=BEFORE_THE_HOUR - timedelta(days=1), label="neutral")
    seed(rt, at=BEFORE_THE_HOUR - timedelta(seconds=20), n=10)
    check_health(rt)  # sent at 09:59:30
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=59, seconds=45))  # the burst left
    seed(rt, at=clock(rt).now(), n=10)
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=59, seconds=55))  # a new burst
    assert len(spike_notes(rt)) == 1
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=60))  # a window since the last one
    assert len(spike_notes(rt)) == 2
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=119))
    assert len(spike_notes(rt)) == 2


def test_a_watched_tag_is_matched_as_cases_store_it(make_runtime: RuntimeFactory) -> None:
    # Rules lower-case the tags they set ("VIP" is stored as "vip"); the same tag listed
    # as written in the rules matched no case, and its spikes were never reported.
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": [" VIP"]})
    clock(rt).set(BEFORE_THE_HOUR)
    seed(rt, at=BEFORE_THE_HOUR - timedelta(minutes=5), n=10, tags=("vip",))
    check_health(rt)
    assert spike_notes(rt)[1:] == [
        "[inchannel] spike in tag 'vip': 10 negative mentions in the last 60 min "
        "(usually none; baseline 24 h)"
    ]


def test_the_backfill_marker_tag_is_no_topic_to_watch(make_runtime: RuntimeFactory) -> None:
    """With ``tags: true`` every topic tag is watched, but ``backfill`` only marks
    imported history: a backfill up to now raised "spike in tag 'backfill'"."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3})
    clock(rt).set(BEFORE_THE_HOUR)
    seed(rt, at=BEFORE_THE_HOUR - timedelta(minutes=5), n=10, tags=("backfill", "billing"))
    check_health(rt)
    assert [text.split(":")[0] for text in spike_notes(rt)] == [
        "[inchannel] spike",
        "[inchannel] spike in tag 'billing'",
    ]


def test_the_backfill_tag_listed_by_name_is_watched(make_runtime: RuntimeFactory) -> None:
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": ["backfill"]})
    clock(rt).set(BEFORE_THE_HOUR)
    seed(rt, at=BEFORE_THE_HOUR - timedelta(minutes=5), n=10, tags=("backfill",))
    check_health(rt)
    assert spike_notes(rt)[1].startswith("[inchannel] spike in tag 'backfill': 10 negative")


def test_a_new_install_compares_with_the_history_it_has(make_runtime: RuntimeFactory) -> None:
    """Installed 3 hours ago, 20 negative mentions every hour: no spike. The baseline
    was the 40 of the two hours before the window spread over 24 hours (1.7 an hour),
    so a steady brand "spiked" at 20 for its first day."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    now = clock(rt).now()
    for hour in range(3):
        seed(rt, at=now - timedelta(hours=hour, minutes=30), n=20)
    # The week-old post a reply answered, stored to show the thread: not history.
    with transaction(rt.sessions) as session:
        parent = _message(next(_ids), now - timedelta(days=7), "neutral", "feed", 1, 1)
        parent.direction, parent.case_id, parent.customer_id = "context", None, None
        session.add(parent)
    check_health(rt)
    assert spike_notes(rt) == []
    seed(rt, at=now - timedelta(minutes=10), n=40)  # 60 in the window: 3x the usual 20
    check_health(rt)
    assert spike_notes(rt) == [
        "[inchannel] spike: 60 negative mentions in the last 60 min (usually 20.0; "
        "baseline 24 h, 2 h of history)"
    ]


class Backlog:
    """A source read newest first, as X's search and Reddit's listings are: after
    downtime each poll reads the newest ``page`` mentions not read yet and stops at a
    rate limit, its sweep unfinished, until it reaches the ones read before."""

    name = "feed"

    def __init__(self, page: int = 100) -> None:
        self.page = page
        self.unread: list[Mention] = []  # oldest first
        self._n = itertools.count(1)

    def post(self, at: datetime, n: int) -> None:
        for _ in range(n):
            i = next(self._n)
            who = Author(id=f"a{i}", handle=f"customer{i}")
            text = "@acme this is broken, worst service ever"
            self.unread.append(Mention(Platform.X, f"b{i}", who, text, at, f"b{i}"))
        self.unread.sort(key=lambda m: m.created_at)

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        page, self.unread = self.unread[-self.page :], self.unread[: -self.page]
        done = not self.unread
        reset = None if done else now + timedelta(minutes=15)
        return PollResult(mentions=page, cursor=cursor, caught_up=done, rate_limit_reset_at=reset)


def backlog_runtime(make_runtime: RuntimeFactory) -> tuple[Runtime, Backlog]:
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    source = Backlog()
    rt.sources["feed"] = source
    return rt, source


def poll_and_check(rt: Runtime) -> None:
    poll_source(rt, "feed")
    while process_pending(rt):
        pass
    check_health(rt)


def test_no_spike_while_a_backlog_is_read_newest_first(make_runtime: RuntimeFactory) -> None:
    """Stopped for 30 hours, a brand with a steady 12 negative mentions an hour: the
    first pages after the restart hold the newest mentions, so the current window was
    full while the baseline hours were not read yet, and "spike: 12 ... (usually 3.7)"
    went out on the backlog. The check waits for the sweep to reach the mentions it
    had read before the downtime."""
    rt, source = backlog_runtime(make_runtime)
    now = clock(rt).now()
    seed(rt, at=now - timedelta(days=3), label="neutral")  # watched for days
    for hour in range(30):
        source.post(now - timedelta(hours=hour, minutes=30), 12)
    poll_and_check(rt)  # the newest 100 of 360: about 8 hours
    assert spike_notes(rt) == []
    while source.unread:
        clock(rt).advance(minutes=15)
        poll_and_check(rt)
        assert spike_notes(rt) == []
    source.post(clock(rt).now() - timedelta(minutes=5), 40)  # 3 times the usual 12, and more
    clock(rt).advance(minutes=1)
    poll_and_check(rt)
    assert [note.split(" (")[0] for note in spike_notes(rt)] == [
        "[inchannel] spike: 40 negative mentions in the last 60 min"
    ]


def test_a_spike_still_alerts_while_a_sweep_waits_on_a_rate_limit(
    make_runtime: RuntimeFactory,
) -> None:
    """A crisis is when sweeps meet the rate limit: one that read all there was a
    minute ago, with only this window left unread, holds no spike back."""
    rt, source = backlog_runtime(make_runtime)
    now = clock(rt).now()
    seed(rt, at=now - timedelta(days=1), label="neutral")
    poll_and_check(rt)  # running, caught up: nothing to read
    clock(rt).advance(minutes=1)
    source.post(clock(rt).now() - timedelta(seconds=30), 150)
    poll_and_check(rt)  # 100 read, 50 wait for the reset
    assert [note.split(" (")[0] for note in spike_notes(rt)] == [
        "[inchannel] spike: 100 negative mentions in the last 60 min"
    ]


class Revoked(Backlog):
    """A newest-first source whose credentials are revoked while ``revoked`` is set: a
    permanent error stops it, its sweep left unfinished."""

    revoked = False

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        if self.revoked:
            raise SourceError("HTTP 401 Unauthorized", permanent=True)
        return super().poll(cursor, now=now)


def test_a_source_stopped_mid_sweep_holds_no_spike_back(make_runtime: RuntimeFactory) -> None:
    """A sweep waiting on a rate limit when its credentials were revoked: the source is
    stopped and reads nothing until an operator acts, so its unread backlog can never
    reach the check. The check skipped every minute ("still reading") meanwhile, and a
    crisis on the other sources raised no spike for as long as the source stayed stopped."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    source = Revoked()
    rt.sources["feed"] = source
    now = clock(rt).now()
    for hour in range(30):  # the other sources: a steady 12 an hour, read as they came
        seed(rt, at=now - timedelta(hours=hour, minutes=30), n=12)
    source.post(now - timedelta(hours=2), 150)
    poll_and_check(rt)  # the newest 100; the rest wait for the reset
    source.revoked = True
    clock(rt).advance(minutes=16)  # past the reset: the next poll is refused for good
    poll_and_check(rt)
    seed(rt, at=clock(rt).now() - timedelta(minutes=5), n=60)  # a crisis
    check_health(rt)
    assert [note.split(" (")[0] for note in spike_notes(rt)] == [
        "[inchannel] spike: 72 negative mentions in the last 60 min"
    ]


class Replay(Backlog):
    """A source read oldest first, as a replay file is: each poll reads the oldest
    ``page`` mentions not read yet."""

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        page, self.unread = self.unread[: self.page], self.unread[self.page :]
        done = not self.unread
        return PollResult(mentions=page, cursor=cursor, caught_up=done, newest_first=False)


def test_a_backlog_read_oldest_first_holds_the_check_only_until_the_window(
    make_runtime: RuntimeFactory,
) -> None:
    """Read oldest first, a backlog has its baseline hours read before the current
    window: once the reading reaches the window, a spike in it is real. The check
    waited for the whole backlog, as it must for X and Reddit, and the alert went out
    only once the last page was read."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    source = Replay(page=100)
    rt.sources["feed"] = source
    now = clock(rt).now()
    seed(rt, at=now - timedelta(days=3), label="neutral")  # watched for days
    for hour in range(1, 25):
        source.post(now - timedelta(hours=hour, minutes=30), 4)
    source.post(now - timedelta(minutes=20), 150)  # the window: a crisis
    poll_and_check(rt)  # the 96 baseline mentions and 4 of the window
    assert spike_notes(rt) == []
    poll_and_check(rt)  # 104 of the window read, 46 still waiting
    assert source.unread
    assert [note.split(" (")[0] for note in spike_notes(rt)] == [
        "[inchannel] spike: 104 negative mentions in the last 60 min"
    ]


class Listing(Backlog):
    """A source whose catch-up reads only the newest ``page`` mentions and calls itself
    caught up, as Reddit's ~1,000-item listings and an X sweep cut at ``max_pages`` do
    after a long downtime: the older ones are lost to a gap."""

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        page, self.unread = self.unread[-self.page :], []
        return PollResult(mentions=page, cursor=cursor, caught_up=True)


def down_for_20_hours(make_runtime: RuntimeFactory, *, page: int) -> tuple[Runtime, Listing]:
    """A brand with a steady 12 negative mentions an hour, watched for 30 hours, then
    the daemon down for 20: the catch-up reads the newest ``page`` of the 240 posted."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    source = Listing(page)
    rt.sources["feed"] = source
    stopped = clock(rt).now()
    for hour in range(30):
        seed(rt, at=stopped - timedelta(hours=hour, minutes=30), n=12)
    check_health(rt)  # the daemon's last check before it stopped
    for hour in range(20):
        source.post(stopped + timedelta(hours=hour, minutes=30), 12)
    clock(rt).set(stopped + timedelta(hours=20))
    return rt, source


def test_hours_the_daemon_was_down_are_no_baseline(make_runtime: RuntimeFactory) -> None:
    """The 19 hours of the baseline the daemon was down held only the 12 mentions the
    catch-up could read: the baseline read 3 an hour and the brand's usual 12 "spiked"
    once the catch-up finished."""
    rt, _ = down_for_20_hours(make_runtime, page=24)
    poll_and_check(rt)
    assert spike_notes(rt) == []


def test_a_spike_after_downtime_alerts_against_the_hours_watched(
    make_runtime: RuntimeFactory,
) -> None:
    rt, source = down_for_20_hours(make_runtime, page=60)
    source.post(clock(rt).now() - timedelta(minutes=5), 40)
    poll_and_check(rt)  # 40 + 12 in the window: over 3 times the usual 12
    assert spike_notes(rt) == [
        "[inchannel] spike: 52 negative mentions in the last 60 min (usually 12.0; "
        "baseline 24 h, 19 h of it down)"
    ]


def test_one_window_watched_beside_downtime_is_the_baseline(make_runtime: RuntimeFactory) -> None:
    """3 windows of history, 2 of them down: the one window watched is the baseline,
    the down hours left out (only less than one watched counts the down hours as read)."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    config = rt.settings.alerts.spike
    assert config.window_minutes == 60
    current_from = clock(rt).now() - timedelta(hours=1)
    first = current_from - timedelta(hours=2, minutes=30)
    seed(rt, at=first, n=1)
    down = Downtime(current_from - timedelta(hours=2), current_from)
    with rt.sessions() as session:
        base = baseline_of(session, config, [down], current_from=current_from)
    assert (base.windows, base.left_out, base.down_hours) == (1.0, (down,), 2.0)


def test_the_current_window_runs_from_its_start_up_to_now(make_runtime: RuntimeFactory) -> None:
    """Mentions at the window's start count in it, though a down period ends there (it
    is left out up to its end, exclusive); one dated now is not in it yet."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    config = rt.settings.alerts.spike
    now = clock(rt).now()
    current_from = now - timedelta(minutes=config.window_minutes)
    seed(rt, at=current_from - timedelta(hours=2, minutes=30), n=1)
    seed(rt, at=current_from, n=2)
    seed(rt, at=now, n=4)
    down = Downtime(current_from - timedelta(minutes=30), now + timedelta(hours=1))
    with rt.sessions() as session:
        overall, _ = negative_counts(session, config, now=now, down=[down])
    assert (overall.current, overall.baseline_total, overall.down_hours) == (2, 1, 0.5)


def test_the_down_periods_kept_are_bounded(make_runtime: RuntimeFactory) -> None:
    """A check every 10 minutes (a cron line too far apart) is a downtime each time:
    only those reaching into the baseline are kept, however long it goes on."""
    rt = alerts_runtime(make_runtime, spike={"baseline_hours": 2, "window_minutes": 60})
    for _ in range(100):
        check_health(rt)
        clock(rt).advance(minutes=10)
    check_health(rt)
    with rt.sessions() as session:
        state = session.get(SourceState, ALERTS_STATE)
        assert state is not None
        down = downtime(state.details)
    # The baseline and the window: 3 hours, 18 periods of 10 minutes.
    assert len(down) == 18
    assert {d.end - d.start for d in down} == {timedelta(minutes=10)}
    assert down[-1].end == clock(rt).now()


class Outage(Listing):
    """A source whose polls fail while ``failing`` is set (the platform down, revoked
    credentials); recovered, its catch-up reads the newest ``page`` mentions posted
    meanwhile and calls itself caught up, the older ones lost to a gap."""

    def __init__(self, page: int) -> None:
        super().__init__(page)
        self.failing = True

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        if self.failing:
            raise SourceError("HTTP 503 Service Unavailable")
        return super().poll(cursor, now=now)


def failing_for_10_hours(make_runtime: RuntimeFactory, *, page: int) -> tuple[Runtime, Outage]:
    """A brand with a steady 12 negative mentions an hour, watched for a day; then its
    only source fails for 10 hours while the daemon runs (a check every 4 minutes, no
    downtime), and recovers with the 120 posted meanwhile waiting."""
    rt = alerts_runtime(
        make_runtime, spike={"min_count": 10, "factor": 3, "tags": False, "baseline_hours": 12}
    )
    source = Outage(page)
    rt.sources["feed"] = source
    start = clock(rt).now()
    for hour in range(24):
        seed(rt, at=start - timedelta(hours=hour, minutes=30), n=12)
    for _ in range(10 * 15):
        poll_and_check(rt)
        clock(rt).advance(minutes=4)
    for hour in range(10):
        source.post(start + timedelta(hours=hour, minutes=30), 12)
    source.failing = False
    return rt, source


def recovered(rt: Runtime, source: Outage) -> None:
    """Polled and checked every 4 minutes until the backoff lets the catch-up poll."""
    while source.unread:
        poll_and_check(rt)
        clock(rt).advance(minutes=4)
    check_health(rt)


def test_hours_every_source_failed_are_no_baseline(make_runtime: RuntimeFactory) -> None:
    """The source's polls failed for 10 hours while the daemon ran: those hours held
    none of the brand's mentions but the few the catch-up read, the baseline read about
    2.5 an hour, and the usual 12 "spiked" once the source recovered."""
    rt, source = failing_for_10_hours(make_runtime, page=12)
    recovered(rt, source)
    assert spike_notes(rt) == []


def test_a_spike_after_a_source_failed_alerts_against_the_hours_read(
    make_runtime: RuntimeFactory,
) -> None:
    rt, source = failing_for_10_hours(make_runtime, page=60)
    source.post(clock(rt).now() - timedelta(minutes=5), 40)
    recovered(rt, source)
    # The 36 mentions of the 2.7 hours read before the outage (whole hours' bursts).
    assert spike_notes(rt) == [
        "[inchannel] spike: 52 negative mentions in the last 60 min (usually 13.2; "
        "baseline 12 h, 9.3 h of it with a source failing)"
    ]


def test_the_failing_periods_kept_are_bounded(make_runtime: RuntimeFactory) -> None:
    """A source that fails and recovers every 4 minutes starts a period each time: only
    those reaching into the baseline and the current window are kept."""
    rt = alerts_runtime(make_runtime, spike={"baseline_hours": 1, "window_minutes": 60})
    source = Outage(page=1)
    rt.sources["feed"] = source
    for _ in range(100):
        source.failing = True
        poll_and_check(rt)
        clock(rt).advance(minutes=2)
        check_health(rt)  # failing for 2 minutes
        source.failing = False
        poll_and_check(rt)
        clock(rt).advance(minutes=2)
    with rt.sessions() as session:
        state = session.get(SourceState, ALERTS_STATE)
        assert state is not None
        failing = failing_periods(state.details)
    # 2 hours, a failing run of 2 minutes every 4.
    assert len(failing) == 30
    assert {d.end - d.start for d in failing} == {timedelta(minutes=2)}
    assert failing[0].end > clock(rt).now() - timedelta(hours=2)


def two_sources(make_runtime: RuntimeFactory, feed: Backlog) -> tuple[Runtime, Backlog]:
    """Sources ``feed`` (the brand's busy one) and ``other`` (healthy, nothing to read)."""
    replay = {"type": "replay", "path": "feed0.jsonl"}
    rt = make_runtime(
        channels=OPS,
        alerts={
            "channels": ["ops"],
            **QUIET,
            "spike": {"min_count": 10, "factor": 3, "tags": False, "baseline_hours": 12},
        },
        sources=[{"name": "feed", **replay}, {"name": "other", **replay}],
    )
    other = Backlog()
    other.name = "other"
    rt.sources["feed"], rt.sources["other"] = feed, other
    return rt, other


def poll_both(rt: Runtime) -> None:
    poll_source(rt, "other")
    poll_and_check(rt)


def test_hours_one_source_of_two_failed_are_no_baseline(make_runtime: RuntimeFactory) -> None:
    """The busy source failed for 10 hours while the other one was read: only hours in
    which every source failed were left out, so those 10 hours read as quiet ones (the
    baseline about 2.5 an hour) and the brand's usual 12 "spiked" once it recovered."""
    feed = Outage(page=12)
    rt, _ = two_sources(make_runtime, feed)
    start = clock(rt).now()
    for hour in range(24):
        seed(rt, at=start - timedelta(hours=hour, minutes=30), n=12)
    for _ in range(10 * 15):
        poll_both(rt)
        clock(rt).advance(minutes=4)
    for hour in range(10):
        feed.post(start + timedelta(hours=hour, minutes=30), 12)
    feed.failing = False
    while feed.unread:
        poll_both(rt)
        clock(rt).advance(minutes=4)
    check_health(rt)
    assert spike_notes(rt) == []


def test_a_spike_notice_still_waiting_when_its_window_has_passed_is_not_sent_late(
    make_runtime: RuntimeFactory,
) -> None:
    """The ops channel was down while a burst spiked and died down: its notice,
    retried when the channel came back hours later, told the team of "10 negative
    mentions in the last 60 min" that were long over, as the recovering alerts'
    unsent notices no longer do. It goes out while its window lasts, not after."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    clock(rt).set(BEFORE_THE_HOUR)
    seed(rt, at=BEFORE_THE_HOUR - timedelta(days=1), label="neutral")
    seed(rt, at=BEFORE_THE_HOUR - timedelta(seconds=20), n=10)
    check_health(rt)
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=30))
    assert _statuses(rt) == ["pending"]  # within its window: it may still go out
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=61))
    assert _statuses(rt) == ["suppressed"]


def _statuses(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(ActionRow).where(ActionRow.kind == "notify").order_by(ActionRow.id)
        )
        return [str(r.status) for r in rows]


def test_a_clock_stepped_back_holds_a_spike_notice_one_window_at_most(
    make_runtime: RuntimeFactory,
) -> None:
    """NTP stepped back a clock that ran three hours ahead, after a spike was sent: the
    next notice waited for a window past the send time read off the wrong clock, so a
    crisis still going on raised nothing for three hours and a window. The hold counts
    from the first check after the step: one window, as designed."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    ahead = BEFORE_THE_HOUR + timedelta(hours=3)
    clock(rt).set(ahead)
    seed(rt, at=ahead - timedelta(days=1), label="neutral")
    seed(rt, at=ahead - timedelta(seconds=20), n=10)
    check_health(rt)  # sent at 12:59:30, on the clock that ran ahead
    assert len(spike_notes(rt)) == 1
    seed(rt, at=BEFORE_THE_HOUR - timedelta(seconds=20), n=10)  # the crisis goes on
    check_at(rt, BEFORE_THE_HOUR)  # stepped back: within the window of that send
    assert len(spike_notes(rt)) == 1
    seed(rt, at=BEFORE_THE_HOUR + timedelta(minutes=59), n=10)
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=60))  # a window since the step
    assert len(spike_notes(rt)) == 2


def old_backfill(rt: Runtime) -> None:
    """``inchannel backfill --since 2026-09-01 --until 2026-09-03``, long before the
    daemon first ran: 40 negative mentions of those two days imported."""
    rows = [
        mention(
            i, "@acme this is broken, worst service ever", created_at=f"2026-09-01T{i:02d}:00:00Z"
        )
        for i in range(20)
    ] + [
        mention(
            20 + i,
            "@acme this is broken, worst service ever",
            created_at=f"2026-09-02T{i:02d}:00:00Z",
        )
        for i in range(20)
    ]
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(rt.settings.base_dir / "old.jsonl", rows))
    window = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 3, tzinfo=UTC))
    report = backfill(rt, "feed", window)
    assert (report.ingested, report.failure) == (40, None)


def test_an_old_backfill_is_no_sign_of_when_watching_began(make_runtime: RuntimeFactory) -> None:
    """Watched for 3 hours, 20 negative mentions every hour, after a backfill of two
    days in September: no spike. The history began at the oldest backfilled mention,
    so the 40 mentions of the two hours watched were spread over all 24 and a steady
    brand "spiked" at 20 (usually 1.7) until a day had been watched."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    old_backfill(rt)
    now = clock(rt).now()
    for hour in range(3):
        seed(rt, at=now - timedelta(hours=hour, minutes=30), n=20)
    check_health(rt)
    assert spike_notes(rt) == []
    seed(rt, at=now - timedelta(minutes=10), n=40)  # 60 in the window: 3x the usual 20
    check_health(rt)
    assert spike_notes(rt) == [
        "[inchannel] spike: 60 negative mentions in the last 60 min (usually 20.0; "
        "baseline 24 h, 2 h of history)"
    ]


def test_a_backfill_reaching_the_hours_watched_counts_in_the_baseline(
    make_runtime: RuntimeFactory,
) -> None:
    """A backfill up to now, run after the daemon began watching 3 hours ago: its hours
    were all read, and the baseline spans all 6 of them."""
    rt = alerts_runtime(
        make_runtime, spike={"min_count": 10, "factor": 3, "tags": False, "baseline_hours": 6}
    )
    now = clock(rt).now()
    for hour in range(1, 3):
        seed(rt, at=now - timedelta(hours=hour, minutes=30), n=4)
    text = "@acme this is broken, worst service ever"
    rows = [
        mention(4 * hour + i, text, created_at=f"2026-11-20T0{hour}:30:00Z")
        for hour in range(1, 6)
        for i in range(4)
    ]
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(rt.settings.base_dir / "b.jsonl", rows))
    assert backfill(rt, "feed", Window(now - timedelta(hours=8))).failure is None
    seed(rt, at=now - timedelta(minutes=10), n=16)
    check_health(rt)
    assert spike_notes(rt) == [
        "[inchannel] spike: 16 negative mentions in the last 60 min (usually 4.0; baseline 6 h)"
    ]


def test_a_backfill_ending_where_the_current_window_begins_counts_in_the_baseline(
    make_runtime: RuntimeFactory,
) -> None:
    """A backfill of the 5 hours up to the current window (``until`` exclusive, at the
    window's start), before the daemon read any mention: its hours were all read, and
    the baseline averages them (4 an hour), not zero with min_count alone deciding."""
    rt = alerts_runtime(
        make_runtime, spike={"min_count": 10, "factor": 3, "tags": False, "baseline_hours": 6}
    )
    now = clock(rt).now()
    window_from = now - timedelta(hours=1)
    text = "@acme this is broken, worst service ever"
    rows = [
        mention(
            4 * hour + i,
            text,
            created_at=(window_from - timedelta(hours=hour, minutes=30)).isoformat(),
        )
        for hour in range(5)
        for i in range(4)
    ]
    rt.sources["feed"] = ReplaySource("feed", write_jsonl(rt.settings.base_dir / "b.jsonl", rows))
    report = backfill(rt, "feed", Window(now - timedelta(hours=6), window_from))
    assert (report.ingested, report.failure) == (20, None)
    seed(rt, at=now - timedelta(minutes=10), n=11)  # min_count, not 3x the usual 4
    check_health(rt)
    assert spike_notes(rt) == []
    seed(rt, at=now - timedelta(minutes=10), n=1)
    check_health(rt)
    assert spike_notes(rt) == [
        "[inchannel] spike: 12 negative mentions in the last 60 min (usually 4.0; "
        "baseline 6 h, 5 h of history)"
    ]


def _old_rows() -> list[dict[str, object]]:
    """40 negative mentions of 2026-09-01 and 02, one an hour, newest first (as X and
    Reddit read history)."""
    text = "@acme this is broken, worst service ever"
    rows = [
        mention(24 * day + hour, text, created_at=f"2026-09-0{day + 1}T{hour:02d}:00:00Z")
        for day in range(2)
        for hour in range(20)
    ]
    return rows[::-1]


def _watched_steadily(rt: Runtime) -> None:
    """3 hours watched, 20 negative mentions each: no spike."""
    now = clock(rt).now()
    for hour in range(3):
        seed(rt, at=now - timedelta(hours=hour, minutes=30), n=20)


class FailsAfterOnePage:
    """A source whose history read fails after its first page (an outage mid-backfill)."""

    def __init__(self, inner: ReplaySource) -> None:
        self.name = inner.name
        self.inner = inner

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        pages = self.inner.backfill(window, clock=clock)
        yield next(pages)
        raise SourceError("HTTP 503 Service Unavailable")


def test_an_old_backfill_interrupted_while_importing_is_no_sign_of_when_watching_began(
    make_runtime: RuntimeFactory,
) -> None:
    """Ctrl-C after the first 20 of 40 September mentions were imported: unrecorded,
    they dated the history to September and the 40 mentions of the 2 hours watched were
    spread over 24 windows, a steady 20 an hour "spiking" (usually 1.7)."""
    rt = make_runtime(
        channels=OPS,
        processing={"batch_size": 20},
        alerts={
            "channels": ["ops"],
            **QUIET,
            "spike": {"min_count": 10, "factor": 3, "tags": False},
        },
    )
    path = write_jsonl(rt.settings.base_dir / "old.jsonl", _old_rows())
    rt.sources["feed"] = ReplaySource("feed", path)
    since = datetime(2026, 9, 1, tzinfo=UTC)

    def ctrl_c(report: BackfillReport) -> None:
        if report.importing and report.imported >= 20:
            raise KeyboardInterrupt

    report = backfill(rt, "feed", Window(since, datetime(2026, 9, 3, tzinfo=UTC)), on_page=ctrl_c)
    assert (report.imported, report.to_import) == (20, 40)
    assert report.failure is not None
    with rt.sessions() as session:
        # Read in full up to the first mention not imported (Sept 2, 00:00).
        assert recorded_backfills(session) == [Downtime(since, datetime(2026, 9, 2, tzinfo=UTC))]
    _watched_steadily(rt)
    check_health(rt)
    assert spike_notes(rt) == []


def test_an_old_backfill_whose_source_failed_is_no_sign_of_when_watching_began(
    make_runtime: RuntimeFactory,
) -> None:
    """The source failing after its first (newest) page of September: the 20 mentions
    fetched are imported, and what they span was read; the rest of the window was not."""
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3, "tags": False})
    path = write_jsonl(rt.settings.base_dir / "old.jsonl", _old_rows())
    rt.sources["feed"] = FailsAfterOnePage(ReplaySource("feed", path))  # type: ignore[assignment]
    window = Window(datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 9, 3, tzinfo=UTC))
    report = backfill(rt, "feed", window)
    assert (report.ingested, report.failure) == (20, "HTTP 503 Service Unavailable")
    with rt.sessions() as session:
        [read] = recorded_backfills(session)
    assert read.start == datetime(2026, 9, 2, tzinfo=UTC)
    assert (
        datetime(2026, 9, 2, 19, tzinfo=UTC) < read.end < datetime(2026, 9, 2, 19, 0, 1, tzinfo=UTC)
    )
    _watched_steadily(rt)
    check_health(rt)
    assert spike_notes(rt) == []


def test_an_old_backfill_stopped_between_two_mentions_of_one_second_is_no_sign_of_watching(
    make_runtime: RuntimeFactory,
) -> None:
    """Ctrl-C after 20 of 40 September mentions, the 20th imported and the first not
    imported written in the same second (Reddit gives seconds): the window read ends,
    exclusive, at that second, so the imported one was taken for the daemon's first
    read, the window reached it, and the history began in September again."""
    rt = make_runtime(
        channels=OPS,
        processing={"batch_size": 20},
        alerts={
            "channels": ["ops"],
            **QUIET,
            "spike": {"min_count": 10, "factor": 3, "tags": False},
        },
    )
    text = "@acme this is broken, worst service ever"
    rows = [mention(h, text, created_at=f"2026-09-01T{h:02d}:00:00Z") for h in range(19)]
    rows += [mention(19 + i, text, created_at="2026-09-02T00:00:00Z") for i in range(2)]
    rows += [mention(20 + h, text, created_at=f"2026-09-02T{h:02d}:00:00Z") for h in range(1, 20)]
    path = write_jsonl(rt.settings.base_dir / "old.jsonl", rows[::-1])
    rt.sources["feed"] = ReplaySource("feed", path)
    since = datetime(2026, 9, 1, tzinfo=UTC)

    def ctrl_c(report: BackfillReport) -> None:
        if report.importing and report.imported >= 20:
            raise KeyboardInterrupt

    report = backfill(rt, "feed", Window(since, datetime(2026, 9, 3, tzinfo=UTC)), on_page=ctrl_c)
    assert (report.imported, report.to_import) == (20, 40)
    with rt.sessions() as session:
        assert recorded_backfills(session) == [Downtime(since, datetime(2026, 9, 2, tzinfo=UTC))]
    _watched_steadily(rt)
    check_health(rt)
    assert spike_notes(rt) == []


def test_a_new_tag_spike_is_reported_beside_five_lasting_ones(
    make_runtime: RuntimeFactory,
) -> None:
    # Five tags already alerted and held for their window kept the five places of a
    # check: a sixth tag spiking later in the window was never reported.
    rt = alerts_runtime(make_runtime, spike={"min_count": 10, "factor": 3})
    clock(rt).set(BEFORE_THE_HOUR)
    for tag in ("a1", "a2", "a3", "a4", "a5"):
        seed(rt, at=BEFORE_THE_HOUR - timedelta(minutes=5), n=20, tags=(tag,))
    check_health(rt)
    seed(rt, at=BEFORE_THE_HOUR, n=10, tags=("refunds",))
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=1))
    check_at(rt, BEFORE_THE_HOUR + timedelta(minutes=2))
    tags = [text.split(":")[0] for text in spike_notes(rt)]
    assert tags.count("[inchannel] spike in tag 'refunds'") == 1
    assert len(tags) == 7  # overall, the five, then the sixth: each once in the window
