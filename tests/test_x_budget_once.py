"""The day's X budget stop is recorded once, however many processes reach it at once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, select

from monitor.sources.x_usage import XLedger
from monitor.store.db import make_engine, session_factory
from monitor.store.models import Event
from tests.conftest import RuntimeFactory

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
# The unlocked read lets the other process record its event at once; a locked one makes
# it wait for this transaction, so keep this short.
OTHER_GRACE_SECONDS = 0.5


class OtherProcess:
    """At the daemon's read of the day's events, a backfill reaches the budget too."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine, self.other = engine, make_engine(url)
        self.armed, self.results = True, list[bool]()
        self.thread: threading.Thread | None = None
        event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.armed or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "events" not in statement:
            return
        self.armed = False
        self.thread = threading.Thread(target=self._reach_budget)
        self.thread.start()
        self.thread.join(timeout=OTHER_GRACE_SECONDS)

    def _reach_budget(self) -> None:
        ledger = XLedger(session_factory(self.other))
        self.results.append(ledger.budget_event_once("reads", "backfill", NOW, {"read": 250}))

    def close(self) -> None:
        event.remove(self.engine, "after_cursor_execute", self._after)
        if self.thread is not None:
            self.thread.join(timeout=30)
            assert not self.thread.is_alive(), "the other process never got its turn"
        self.other.dispose()


def test_the_daemon_and_a_backfill_reaching_the_budget_at_once_record_one_stop(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    rt = make_runtime()
    other = OtherProcess(rt.engine, db_url)
    try:
        daemon = XLedger(rt.sessions).budget_event_once("reads", "mentions", NOW, {"read": 250})
    finally:
        other.close()
    assert [daemon, *other.results] == [True, False]
    with rt.sessions() as session:
        stops = session.scalars(select(Event).where(Event.kind == "budget")).all()
    assert [(e.actor, e.detail["budget"]) for e in stops] == [("mentions", "reads")]


def test_the_writes_budget_is_recorded_apart_from_the_reads(make_runtime: RuntimeFactory) -> None:
    ledger = XLedger(make_runtime().sessions)
    assert ledger.budget_event_once("reads", "mentions", NOW, {}) is True
    assert ledger.budget_event_once("writes", "x", NOW, {}) is True
    assert ledger.budget_event_once("reads", "search", NOW, {}) is False
