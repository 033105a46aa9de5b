"""Clock skew between a worker's host and the PostgreSQL server: measured with an injected
wall clock (the real one, shifted), refused at start, reported by status and alerted once
by the health job. SQLite (one host) measures nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import clock_skew
from monitor.clock_skew import WallClock, bound_seconds, measure, startup_problem
from monitor.health_alerts import check_health
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from tests.conftest import RuntimeFactory
from tests.test_health_alerts import delivered, notes

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
    skewed, other = make_runtime(**settings), make_runtime(**settings)
    assert skewed.worker_id != other.worker_id
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
