"""The health checks over a Reddit source read whole but one listing: the silence alert,
the spike baseline's failing hours and the held "source failing" alert.

Through the real praw.Reddit against FakeAPI, with a FakeClock; the failing listing
answers 521 (a temporary failure prawcore does not retry).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor import alerting
from monitor.health_alerts import check_health
from monitor.ingest import poll_source
from monitor.runtime import Runtime
from monitor.sources.reddit_cursor import ListingFailure
from monitor.sources.reddit_listing_runs import listing_problem
from monitor.status import collect
from monitor.status_listings import FailingListing
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI
from tests.reddit_fake import listing, reddit_section, serve_token
from tests.test_health_alerts import OPS, QUIET, clock, delivered, notes, seed
from tests.test_reddit_inbox import state
from tests.test_reddit_partial_polls import DOWN


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def mentions_failing(make_runtime: RuntimeFactory, api: FakeAPI, **alerts: Any) -> Runtime:
    """An inbox whose mentions listing fails at every read; comment replies are read."""
    serve_token(api)
    api.add("GET", "/message/mentions", DOWN)
    api.add("GET", "/message/comments/?", listing())
    config = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0}
    config |= {"submission_replies": False, "mark_read": False}
    return make_runtime(
        sources=[config],
        reddit=reddit_section(api),
        channels=OPS,
        alerts={"channels": ["ops"], **QUIET, **alerts},
    )


def polled_minutes(rt: Runtime, minutes: int) -> None:
    """The inbox polled and the health checked each minute for ``minutes``."""
    for _ in range(minutes):
        poll_source(rt, "inbox")
        check_health(rt)
        clock(rt).advance(minutes=1)


def test_no_silence_alert_while_the_listing_the_mentions_come_from_fails(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The source read as watched (a successful poll) while its mentions listing failed:
    # "no mentions for 6 h (usually about 6)" blamed the customers for our failing read.
    rt = mentions_failing(make_runtime, api, silence_hours=6, source_failing_minutes=15)
    now = clock(rt).now()
    for day in range(1, 8):  # 6 a day in these hours on each of the last 7 days
        seed(rt, at=now - timedelta(days=day, hours=3), n=6, label="neutral", source="inbox")
    polled_minutes(rt, 2)  # the first poll fails whole, the second reads comment replies
    found = state(rt)
    assert (found.consecutive_failures, found.last_success_at) == (0, now + timedelta(minutes=1))
    assert found.details["failing_listings"]["inbox mentions"]["failures"] == 2
    assert notes(rt) == []
    polled_minutes(rt, 14)
    # Said as what it is, once it has failed for source_failing_minutes.
    assert [text for _, text in notes(rt)] == [
        "[inchannel] source inbox: listing inbox mentions failing for 15 min, 16 failed "
        "reads (the source's other listings are read): ResponseException: received 521 "
        "HTTP response"
    ]


def test_hours_a_listing_fails_are_left_out_of_the_spike_baseline(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Its mentions unread, those hours read as quiet ones and lowered the baseline.
    rt = mentions_failing(make_runtime, api)
    start = clock(rt).now()
    polled_minutes(rt, 30)
    with rt.sessions() as session:
        periods = alerting.recorded_failing(session)
    assert [(p.start, p.end) for p in periods] == [(start, start + timedelta(minutes=29))]


def test_a_failing_listings_alert_is_not_resolved_by_downtime(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Unpolled after a restart, the listing's alert was "resolved", and raised again by
    # the first poll: two notices and a recovery for a listing that never recovered.
    rt = mentions_failing(make_runtime, api, realert_minutes=0)
    polled_minutes(rt, 17)
    assert len(notes(rt)) == 1
    clock(rt).advance(days=1)
    check_health(rt)  # started again: no poll yet
    assert [a.text for a in collect(rt).alerts] == [
        "source inbox: not polled for 1441 min after listing inbox mentions failing, "
        "17 failed reads: ResponseException: received 521 HTTP response"
    ]
    polled_minutes(rt, 3)
    assert len(notes(rt)) == 1
    delivered(rt)
    api.add("GET", "/message/mentions", listing())  # it recovers
    polled_minutes(rt, 1)
    texts = [text for _, text in notes(rt)]
    assert len(texts) == 2
    assert texts[1].startswith("[inchannel] resolved (raised 1445 min ago): source inbox:")


@pytest.mark.parametrize(("failures", "reads"), [(1, "1 failed read"), (2, "2 failed reads")])
def test_a_failing_listing_counts_its_reads_in_the_same_words_everywhere(
    failures: int, reads: str
) -> None:
    # The last_error, the status problem and the alert each built the phrase themselves.
    since = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    run = ListingFailure(failures, since.timestamp(), "boom")
    assert f": {reads} in a row since " in listing_problem("mentions", run)
    failing = FailingListing("inbox mentions", failures, since, "boom", since)
    assert f"failing for 15 min, {reads} (" in failing.text(
        "inbox", since + timedelta(minutes=15), "boom"
    )
