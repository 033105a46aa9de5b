"""Read-modify-writes of a source's state row racing another process's writer.

A worker storing a poll reads the row's details and writes back what it computed from
them. Another process (``inchannel backfill`` merging its rate limits) that commits in
between must be waited for and kept, not silently overwritten.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event

from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.sources import x_usage
from monitor.sources.base import PollResult, Source, SourceError
from monitor.store.db import make_engine, session_factory
from tests.conftest import RuntimeFactory, mention

MERGED = {"rate_limit": {"remaining": 3}}
# How long the interrupted read waits for the other writer. The unlocked read lets it
# commit at once; a locked one makes it wait for this transaction, so keep this short.
WRITER_GRACE_SECONDS = 0.5


class OtherWriter:
    """At the first read of ``source_state`` once armed, another connection (another
    process, as far as the database knows) merges details into the row."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine, self.other = engine, make_engine(url)
        self.armed, self.closed = False, False
        self.thread: threading.Thread | None = None
        event.listen(engine, "after_cursor_execute", self._after)

    def _after(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not self.armed or not statement.lstrip().upper().startswith("SELECT"):
            return
        if "source_state" not in statement:
            return
        self.armed = False
        ledger = x_usage.XLedger(session_factory(self.other))
        self.thread = threading.Thread(target=ledger.merge_details, args=("feed", MERGED))
        self.thread.start()
        self.thread.join(timeout=WRITER_GRACE_SECONDS)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        event.remove(self.engine, "after_cursor_execute", self._after)
        if self.thread is not None:
            self.thread.join(timeout=30)
            assert not self.thread.is_alive(), "the other writer never got the row"
        self.other.dispose()


class ArmsAfterPolling:
    """The source: polls, then arms the writer for the transaction that stores it."""

    def __init__(self, inner: Source, writer: OtherWriter, error: SourceError | None) -> None:
        self.name = inner.name
        self.inner, self.writer, self.error = inner, writer, error

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        result = self.inner.poll(cursor, now=now)
        self.writer.armed = True
        if self.error is not None:
            raise self.error
        return result


@pytest.fixture
def writer(make_runtime: RuntimeFactory, db_url: str) -> Iterator[tuple[Runtime, OtherWriter]]:
    rt = make_runtime([mention(i) for i in range(3)])
    other = OtherWriter(rt.engine, db_url)
    yield rt, other
    other.close()


def details(rt: Runtime) -> dict[str, Any]:
    return x_usage.XLedger(rt.sessions).details("feed")


def test_storing_a_page_keeps_details_another_process_merged_meanwhile(
    writer: tuple[Runtime, OtherWriter],
) -> None:
    rt, other = writer
    rt.sources["feed"] = ArmsAfterPolling(rt.sources["feed"], other, None)
    poll_source(rt, "feed")
    other.close()
    stored = details(rt)
    assert stored["rate_limit"] == {"remaining": 3}
    assert stored["cursor_at"] == "2026-11-20T10:00:00+00:00"


def test_recording_a_failure_keeps_details_another_process_merged_meanwhile(
    writer: tuple[Runtime, OtherWriter],
) -> None:
    rt, other = writer
    failing = ArmsAfterPolling(rt.sources["feed"], other, SourceError("503"))
    rt.sources["feed"] = failing
    poll_source(rt, "feed")
    other.close()
    stored = details(rt)
    assert stored["rate_limit"] == {"remaining": 3}
    assert "failing_since" in stored
