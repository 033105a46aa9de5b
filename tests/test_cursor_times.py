"""Where a source's cursor stands (monitor.ingest CURSOR_AT, READ_THROUGH), as status
and the health check read it back from the source's details."""

from __future__ import annotations

from monitor.clock import FakeClock
from monitor.health_alerts import check_health
from monitor.ingest import CURSOR_AT, READ_THROUGH
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import SourceState
from tests.conftest import RuntimeFactory, mention


def clock(rt: Runtime) -> FakeClock:
    assert isinstance(rt.clock, FakeClock)
    return rt.clock


def test_cursor_times_without_a_zone_are_unreadable_not_a_crash(
    make_runtime: RuntimeFactory,
) -> None:
    """Times without their zone (a hand edit, a bad restore) cannot be compared with
    now: read as unknown, the cursor lag counts from the last successful poll, and
    neither status nor the health check (the spike check's backlog test) fails."""
    rt = make_runtime([mention(i) for i in range(7)])
    assert poll_source(rt, "feed") is True  # pages wait: the lag reads the cursor times
    with transaction(rt.sessions) as session:
        state = session.get(SourceState, "feed")
        assert state is not None
        naive = clock(rt).now().replace(tzinfo=None).isoformat()
        state.details = {**(state.details or {}), CURSOR_AT: naive, READ_THROUGH: naive}
    clock(rt).advance(minutes=2)
    (source,) = collect(rt).sources
    assert source.cursor_lag_seconds == 120
    check_health(rt)
