"""Clock skew between a worker's host and the PostgreSQL server: measured with an injected
wall clock (the real one, shifted), refused at start, reported by status and alerted once
by the health job. SQLite (one host) measures nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from monitor import clock_skew
from monitor.clock import FakeClock
from monitor.clock_skew import WallClock, bound_seconds, measure, startup_problem
from monitor.daemon import build_scheduler
from monitor.domain import CaseState, Platform
from monitor.health_alerts import check_health
from monitor.ingest import poll_source
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, Source
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import Case, Customer, Message, SourceState
from monitor.testing import seed_pending_replies
from responders.recording import RecordingResponder
from tests.conftest import RuntimeFactory, mention
from tests.test_health_alerts import delivered, notes
from tests.test_metrics import scrape

POSTGRES_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
# Bound with these settings: half of 120 s is the smallest slack, a quarter of it 15 s.
WORKERS = {"workers": {"stale_claim_seconds": 120}}
OPS = {"ops": {"url": "json://127.0.0.1:9/ops"}}
ALERTS = {
    "channels": ["ops"],
    "spike": {"enabled": False},
    "silence_hours": 0,
    "outbox_due_minutes": 0,
}


def shifted(seconds: float) -> WallClock:
    """The real wall clock, ``seconds`` ahead (negative: behind)."""
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


def test_the_bound_is_a_quarter_of_the_smallest_slack(make_runtime: RuntimeFactory) -> None:
    assert bound_seconds(make_runtime(**WORKERS).settings) == 15
    # The defaults: half the stale-claim time (300 s) or the replay source's lease slack.
    assert bound_seconds(make_runtime().settings) <= 75


def test_sqlite_measures_nothing(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(**WORKERS)
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("one host on SQLite only")
    assert measure(rt.engine, shifted(3600)) is None
    assert startup_problem(rt.engine, rt.settings, shifted(3600)) is None


@POSTGRES_ONLY
def test_clocks_in_step_start(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(**WORKERS)
    skew = measure(rt.engine)
    assert skew is not None
    assert abs(skew.offset) < 5
    assert startup_problem(rt.engine, rt.settings) is None
    assert startup_problem(rt.engine, rt.settings, shifted(10)) is None  # within 15 s


@POSTGRES_ONLY
@pytest.mark.parametrize(("seconds", "words"), [(120, "120 s ahead of"), (-120, "120 s behind")])
def test_a_clock_ahead_or_behind_is_refused_at_start(
    make_runtime: RuntimeFactory, seconds: float, words: str
) -> None:
    rt = make_runtime(**WORKERS)
    assert startup_problem(rt.engine, rt.settings, shifted(seconds)) == (
        f"clock skew: this host's clock is {words} the database server's clock, more than "
        "the 15 s workers tolerate; fix NTP on this host and the database server"
    )


def skewed_check(rt: Runtime, seconds: float) -> None:
    """What ``rt``'s health job records when its host's clock is ``seconds`` off."""
    with transaction(rt.sessions) as session:
        skew = measure(rt.engine, shifted(seconds))
        clock_skew.record(session, rt.worker_id, skew, rt.settings)


@POSTGRES_ONLY
def test_a_skewed_worker_is_unhealthy_in_status_and_alerted_once(
    make_runtime: RuntimeFactory,
) -> None:
    settings = {**WORKERS, "channels": OPS, "alerts": ALERTS}
    # Another host's worker: a check on this host's clock ends its own host's entries.
    skewed = replace(make_runtime(**settings), worker_id="host-b:42:bbbbbb")
    other = make_runtime(**settings)
    check_health(other)  # the real clocks agree: nothing recorded
    assert collect(other).problems == []
    skewed_check(skewed, 200)
    text = (
        f"clock skew: worker {skewed.worker_id}'s clock is 200 s ahead of the database "
        "server's clock, more than the 15 s workers tolerate; fix NTP on this host and the "
        "database server"
    )
    assert collect(other).problems == [text]
    check_health(other)
    check_health(other)
    assert notes(other) == [("ops", f"[inchannel] {text}")]
    delivered(other)
    skewed_check(skewed, 0)  # NTP set it right: the next check ends the alert
    assert collect(other).problems == []
    check_health(other)
    assert notes(other)[1][1].startswith("[inchannel] resolved (raised 0 min ago): clock skew")
    # Its state row is no source: status and the Health page do not list it.
    assert clock_skew.CLOCK_STATE not in {s.name for s in collect(other).sources}


class ShiftedClock:
    """The host's real clock, ``seconds`` off (set anew as NTP would), as the health
    job reads it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.seconds)


def counts(rt: Runtime) -> tuple[int, int, int, int]:
    """Leases held, mentions polled, those processed, replies sent."""
    polled = Message.source == "feed"  # not the seeded ones
    with rt.sessions() as session:
        leases = session.scalar(select(func.count()).where(SourceState.lease_owner.is_not(None)))
        stored = session.scalar(select(func.count()).where(polled))
        processed = session.scalar(select(func.count()).where(polled, Message.processed))
    responder = rt.responders[Platform.X]
    assert isinstance(responder, RecordingResponder)
    return leases or 0, stored or 0, processed or 0, len(responder.posts)


@POSTGRES_ONLY
def test_a_worker_skewed_while_running_takes_no_lease_and_claims_nothing_until_back(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker that drifted past the bound after it started went on taking leases and
    claims: one ahead of the others takes over their live ones, and posts twice."""
    rt = make_runtime([mention(1)], **WORKERS)
    host = ShiftedClock(200)
    rt.host_clock = host
    seed_pending_replies(rt.sessions, 1, at=rt.clock.now())
    scheduler = build_scheduler(rt)
    job = {j.id: j.func for j in scheduler.get_jobs()}

    def cycle(*names: str) -> tuple[int, int, int, int]:
        for name in names:
            job[name]()
        return counts(rt)

    caplog.set_level(logging.INFO, logger="inchannel")
    # Skewed: no poll takes the lease, no reply waiting is claimed (nor sent).
    assert cycle("health", "health", "poll:feed", "process", "dispatch") == (0, 0, 0, 0)
    host.seconds = 0
    assert cycle("health", "poll:feed") == (1, 1, 0, 0)
    host.seconds = -200  # behind, this time: a stored mention waits, unclaimed
    assert cycle("health", "process", "dispatch", "health") == (1, 1, 0, 0)
    host.seconds = 0
    # Sent: the seeded reply, and the mention's.
    assert cycle("health", "health", "process", "dispatch") == (1, 1, 1, 2)
    # Once per change, not every minute the health job measures.
    told = [r.getMessage() for r in caplog.records if r.name == "inchannel.clock_skew"]
    assert len(told) == 4, told
    assert told[0].startswith("clock skew: this host's clock is 200 s ahead of")
    assert "takes no source lease, claims no work and checks no SLA deadline" in told[0]
    assert told[1].startswith("clock skew: this host's clock is back within the 15 s")
    assert told[2].startswith("clock skew: this host's clock is 200 s behind")


def test_sqlite_reports_no_skew_recorded_on_another_database(make_runtime: RuntimeFactory) -> None:
    """`inchannel db copy` brings a PostgreSQL database's @clock row along: on SQLite
    (one host, nothing measured) status and every health check failed on it."""
    rt = make_runtime(**WORKERS, channels=OPS, alerts=ALERTS)
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("one host on SQLite only")
    copied = clock_skew.Skew(200.0, 0.01, datetime.now(UTC))
    with transaction(rt.sessions) as session:
        clock_skew.record(session, "pg-host:42:abcdef", copied, rt.settings)
    check_health(rt)
    assert notes(rt) == []
    assert collect(rt).problems == []


SKEW = "inchannel_clock_skew_seconds"
PAUSED = "inchannel_clock_skew_paused"


@POSTGRES_ONLY
def test_the_measured_skew_and_the_pause_it_causes_are_in_the_metrics(
    make_runtime: RuntimeFactory,
) -> None:
    """A worker paused by its clock only showed as inchannel_healthy 0, like any other
    problem: no series said by how much its clock was off, or that it took no work."""
    rt = make_runtime(**WORKERS)
    host = ShiftedClock(200)
    rt.host_clock = host
    samples = scrape(rt)
    assert (SKEW, ()) not in samples  # not measured yet: no made-up 0
    assert samples[(PAUSED, ())] == 0
    check_health(rt)
    samples = scrape(rt)
    assert 195 < samples[(SKEW, ())] < 205
    assert samples[(PAUSED, ())] == 1
    host.seconds = -5  # behind, and within the 15 s bound: working again
    check_health(rt)
    samples = scrape(rt)
    assert -10 < samples[(SKEW, ())] < 0
    assert samples[(PAUSED, ())] == 0


def test_sqlite_exposes_no_skew(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(**WORKERS)
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("one host on SQLite only")
    rt.host_clock = ShiftedClock(3600)
    check_health(rt)
    samples = scrape(rt)
    assert (SKEW, ()) not in samples
    assert samples[(PAUSED, ())] == 0


def overdue_case(rt: Runtime) -> None:
    """A case of care's past its deadline, by the runtime's clock."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        customer = Customer(
            platform="x", platform_user_id="9", handle="late", first_seen_at=now, last_seen_at=now
        )
        session.add(customer)
        session.flush()
        session.add(
            Case(
                platform="x",
                conversation_id="late",
                customer_id=customer.id,
                state=CaseState.AWAITING_HUMAN.value,
                team="care",
                tags=[],
                opened_at=now - timedelta(hours=2),
                updated_at=now,
                sla_due_at=now - timedelta(minutes=1),
            )
        )


def breached(rt: Runtime) -> bool:
    with rt.sessions() as session:
        return session.scalars(select(Case.sla_breached_at)).one() is not None


@POSTGRES_ONLY
def test_a_skewed_worker_marks_no_deadline_until_back(make_runtime: RuntimeFactory) -> None:
    """The SLA job reads deadlines by this host's clock too: one ahead of the others
    marked cases breached (and alerted their teams) before their deadlines."""
    rt = make_runtime(**WORKERS)
    host = ShiftedClock(200)
    rt.host_clock = host
    overdue_case(rt)
    job = {j.id: j.func for j in build_scheduler(rt).get_jobs()}
    job["health"]()
    job["sla"]()
    assert not breached(rt)
    host.seconds = 0
    job["health"]()
    job["sla"]()
    assert breached(rt)


def lease_owner(rt: Runtime, name: str) -> str | None:
    with rt.sessions() as session:
        state = session.get(SourceState, name)
        return state.lease_owner if state is not None else None


class SkewFoundMidPoll:
    """The health job finds the skew while the poll is under way (its own thread in the
    daemon), and another worker tries the source meanwhile."""

    def __init__(self, inner: Source, health: Callable[[], None], other: Runtime) -> None:
        self.name = "feed"
        self.inner, self.health, self.other = inner, health, other
        self.other_polled: bool | None = None

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        result = self.inner.poll(cursor, now=now)
        self.health()
        self.other_polled = poll_source(self.other, "feed")
        return result


@POSTGRES_ONLY
def test_a_paused_worker_hands_its_leases_over_once_its_poll_has_ended(
    make_runtime: RuntimeFactory,
) -> None:
    """A paused worker kept its leases until they expired: one ahead by 200 s had written
    expiries 200 s late, and its sources went unpolled by anyone for that long more. The
    lease goes at the source's next poll run, not under a poll still under way."""
    rows = [mention(i) for i in range(12)]
    skewed, other = make_runtime(rows, **WORKERS), make_runtime(rows, **WORKERS)
    host = ShiftedClock(0)
    skewed.host_clock = host
    job = {j.id: j.func for j in build_scheduler(skewed).get_jobs()}

    def skew_found() -> None:
        host.seconds = 200
        job["health"]()

    mid_poll = SkewFoundMidPoll(skewed.sources["feed"], skew_found, other)
    skewed.sources["feed"] = mid_poll  # type: ignore[assignment]
    # A page waits after this one: the job's next batch, paused, hands the source over.
    job["poll:feed"]()
    assert skewed.clock_skewed.is_set()
    assert mid_poll.other_polled is False  # not while the poll was under way
    assert counts(skewed)[:2] == (0, 5)  # its page and cursor stored, the lease released
    job["poll:feed"]()  # and so is every paused run: it polls nothing
    assert counts(skewed)[:2] == (0, 5)
    assert poll_source(other, "feed") is True  # at once, from where the paused one stopped
    assert counts(other)[:2] == (1, 10)
    assert lease_owner(other, "feed") == other.worker_id


class BrokenOnce(FakeClock):
    """A clock whose next reading fails once armed: the first thing every job does."""

    armed = False

    def now(self) -> datetime:
        if self.armed:
            self.armed = False
            raise RuntimeError("clock unavailable")
        return super().now()


@POSTGRES_ONLY
def test_a_paused_job_is_no_successful_run(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A paused run of process, dispatch or sla returned at once, and counted as a
    success: it ended the worker's report of the job failing, set the job's last
    success, and logged that the job worked again, though it had not run."""
    rt = make_runtime(**WORKERS)
    clock = rt.clock = BrokenOnce()
    host = ShiftedClock(0)
    rt.host_clock = host
    job = {j.id: j.func for j in build_scheduler(rt).get_jobs()}
    clock.armed = True
    job["process"]()
    failed = (
        "job process: 1 failed run in a row, the last 0 min ago: RuntimeError: clock unavailable"
    )
    assert collect(rt).problems == [failed]
    host.seconds = 200
    caplog.set_level(logging.INFO, logger="inchannel")
    job["health"]()
    job["process"]()
    assert failed in collect(rt).problems
    with rt.sessions() as session:
        state = session.get(SourceState, "@job:process")
        assert state is not None
        assert state.last_success_at is None
    assert not [r for r in caplog.records if "works again" in r.getMessage()]
    host.seconds = 0
    job["health"]()
    job["process"]()  # it runs, and works
    assert collect(rt).problems == []
