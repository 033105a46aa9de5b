"""Source leases: one worker polls a source at a time; a dead worker's lease expires."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from monitor.ingest import release_leases, take_lease
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import Message, SourceState
from monitor.store.queries import source_state
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI
from tests.xapi import MENTIONS, body, ok, tweet, x_section


def messages(rt: object) -> int:
    with rt.sessions() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(Message)))


def test_second_worker_waits_for_the_lease_then_takes_over(make_runtime: RuntimeFactory) -> None:
    rows = [mention(i) for i in range(12)]
    first, second = make_runtime(rows), make_runtime(rows)
    assert poll_source(first, "feed") is True
    assert messages(first) == 5
    assert poll_source(second, "feed") is False  # leased by the first worker
    assert messages(second) == 5
    # The first worker dies without releasing; its lease outlives it for a while.
    second.clock.advance(seconds=119)  # type: ignore[attr-defined]
    assert poll_source(second, "feed") is False
    second.clock.advance(seconds=2)  # type: ignore[attr-defined]
    assert poll_source(second, "feed") is True
    assert messages(second) == 10  # resumed from the stored cursor, nothing twice
    with second.sessions() as session:
        state = session.get(SourceState, "feed")
        assert state is not None
        assert state.lease_owner == second.worker_id


def test_clean_stop_releases_the_lease_at_once(make_runtime: RuntimeFactory) -> None:
    rows = [mention(i) for i in range(12)]
    first, second = make_runtime(rows), make_runtime(rows)
    poll_source(first, "feed")
    release_leases(first)
    assert poll_source(second, "feed") is True
    assert messages(second) == 10


class SlowPoll:
    """The first worker's poll outlasts its lease; meanwhile the second takes the source."""

    def __init__(self, inner: object, thief: object) -> None:
        self.name = "feed"
        self.inner, self.thief = inner, thief

    def poll(self, cursor: str | None, *, now: object) -> object:
        result = self.inner.poll(cursor, now=now)  # type: ignore[attr-defined]
        self.thief.clock.advance(seconds=200)  # type: ignore[attr-defined]
        assert take_lease(self.thief, "feed", self.thief.clock.now())  # type: ignore[attr-defined, arg-type]
        return result


def test_a_page_polled_after_the_lease_was_lost_is_discarded(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [mention(i) for i in range(12)]
    first, second = make_runtime(rows), make_runtime(rows)
    first.sources["feed"] = SlowPoll(first.sources["feed"], second)  # type: ignore[assignment]
    assert poll_source(first, "feed") is False
    assert messages(first) == 0  # neither the page nor its cursor was stored
    assert poll_source(second, "feed") is True
    assert messages(second) == 5


def test_workers_starting_together_all_get_the_state_row(make_runtime: RuntimeFactory) -> None:
    # Two workers start at once: both find no "@rules" row. The second's insert waits
    # for the first's transaction, then must use that row rather than fail on the key.
    rt = make_runtime([])
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second insert cannot overlap")
    found: list[str] = []

    def second_worker() -> None:
        with transaction(rt.sessions) as session:
            found.append(source_state(session, "@rules").name)

    with transaction(rt.sessions) as first:
        source_state(first, "@rules")
        other = threading.Thread(target=second_worker)
        other.start()
        wait_for_a_blocked_insert(rt)
    other.join(timeout=30)
    assert found == ["@rules"]


def wait_for_a_blocked_insert(rt: Runtime) -> None:
    """Until another session of this database waits on a row lock (PostgreSQL)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    with rt.engine.connect() as connection:
        while not connection.execute(query).scalar():
            assert time.monotonic() < deadline, "the second insert never reached the lock"
            connection.rollback()  # a fresh snapshot of pg_stat_activity


def test_an_x_lease_outlasts_the_longest_poll_a_sweep_can_take(
    make_runtime: RuntimeFactory,
) -> None:
    """The lease is renewed only as a poll starts. An X poll reads pages for 30 s, and
    the page under way then still makes its two requests (the page, its parents), each
    up to twice x.timeout_seconds: 70 s here. With `lease_seconds: 5` and a 15 s
    interval the lease was 45 s, so another worker took the source from a poll still
    reading, and the pages X had billed were discarded, sweep after sweep."""
    with FakeAPI() as api:
        api.add("GET", MENTIONS, ok(body([tweet(5)])))
        config: dict[str, Any] = {
            "sources": [{"name": "mentions", "type": "x_mentions", "interval_seconds": 15}],
            "x": x_section(api, timeout_seconds=10),
            "workers": {"lease_seconds": 5},
        }
        first, second = make_runtime(**config), make_runtime(**config)
        assert take_lease(first, "mentions", first.clock.now())
        second.clock.advance(seconds=70)  # type: ignore[attr-defined]
        assert poll_source(second, "mentions") is False  # the first may still be reading
        assert api.requests == []
        # A dead worker's source is still taken over: the poll plus 30 s for the
        # database work around it.
        second.clock.advance(seconds=31)  # type: ignore[attr-defined]
        poll_source(second, "mentions")
        assert len(api.requests) == 1


def test_a_lease_outlasts_three_poll_intervals(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A source polled every 5 minutes, with `lease_seconds: 120`: a lease of 2 minutes
    ran out between its polls, and every worker polled it on its own schedule, two
    workers twice as often as configured. The lease lasts three intervals."""

    def every_five_minutes(feed: int) -> dict[str, Any]:
        path = str(tmp_path / f"feed{feed}.jsonl")  # the file make_runtime writes
        source = {"name": "feed", "type": "replay", "path": path, "interval_seconds": 300}
        return {"sources": [{**source, "page_size": 5}], "workers": {"lease_seconds": 120}}

    rows = [mention(i) for i in range(12)]
    first = make_runtime(rows, **every_five_minutes(0))
    second = make_runtime(rows, **every_five_minutes(1))
    assert poll_source(first, "feed") is True
    second.clock.advance(seconds=899)  # type: ignore[attr-defined]
    assert poll_source(second, "feed") is False  # still the first worker's
    assert messages(second) == 5
    second.clock.advance(seconds=2)  # type: ignore[attr-defined]
    assert poll_source(second, "feed") is True  # the first died: taken over
    assert messages(second) == 10


def test_a_poll_reads_its_cursor_in_the_transaction_that_takes_the_lease(
    make_runtime: RuntimeFactory,
) -> None:
    # The cursor and the source's waits were read in a transaction of their own after
    # the lease's: a transaction and a SELECT more for every poll, a poll that finds
    # nothing new included. The lease's UPDATE returns them.
    rt = make_runtime([mention(i) for i in range(7)])
    begun: list[object] = []
    reads: list[str] = []

    def begin(conn: Any) -> None:
        begun.append(conn)

    def sent(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM source_state" in statement:
            reads.append(statement)

    assert poll_source(rt, "feed") is True  # the first creates the source's row
    event.listen(rt.engine, "begin", begin)
    event.listen(rt.engine, "before_cursor_execute", sent)
    try:
        assert poll_source(rt, "feed") is False  # from the stored cursor: the last 2
    finally:
        event.remove(rt.engine, "begin", begin)
        event.remove(rt.engine, "before_cursor_execute", sent)
    assert messages(rt) == 7
    assert len(begun) == 2  # the lease, then the page
    assert len(reads) == 2  # the lease's, and the page's of the row it locks
