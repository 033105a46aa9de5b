"""Backfill from X through the real tweepy.Client against the local FakeAPI server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from monitor.backfill import backfill
from monitor.domain import ActionStatus
from monitor.sources.base import BackfillRefused, Window
from monitor.store.models import ActionRow, Message, SourceState
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI
from tests.xapi import MENTIONS, body, ok, tid, tweet, x_runtime


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def test_mentions_are_imported_page_by_page_and_suppressed(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5), tweet(4)], next_token="page2")))
    old = tweet(3, created_at="2026-11-01T08:00:00.000Z")  # before --since: not stored
    api.add("GET", MENTIONS, ok(body([old])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert (report.fetched, report.ingested, report.failure) == (2, 2, None)
    with rt.sessions() as session:
        stored = set(session.scalars(select(Message.external_id)))
        assert stored == {tid(5), tid(4)}
        sent = select(ActionRow).where(ActionRow.status != ActionStatus.SUPPRESSED.value)
        assert session.scalars(sent).all() == []
        state = session.get(SourceState, "mentions")
        assert state is None or state.cursor is None  # the live sweep is untouched


def test_recent_search_refuses_windows_older_than_seven_days(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    search = [{"name": "search", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=search)
    with pytest.raises(BackfillRefused) as refused:
        backfill(rt, "search", Window(datetime(2026, 11, 1, tzinfo=UTC)))
    assert str(refused.value) == (
        "source search: X recent search reaches back 7 days only; use --since 2026-11-13 or "
        "later (older posts need the full-archive search, which inchannel does not use)"
    )
    assert api.seen("GET", ".*") == []  # refused before any billed request
