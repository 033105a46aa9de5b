"""A Reddit source whose poll fails in one listing keeps what it read from the others.

Through the real praw.Reddit against FakeAPI. The failing answer is a 521 (the CDN's
"web server is down"): the same temporary failure as a 500 or a timeout, which prawcore
retries twice itself, sleeping up to 6 s; a 521 it does not retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.ingest import poll_source, take_lease
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, Source
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import T0, comment, listing, reddit_section, serve_token
from tests.test_reddit_inbox import messages, state

DOWN = Reply(521, {"content-type": "text/html"}, b"<html>web server is down</html>")


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def mention(cid: str, created: float) -> dict[str, Any]:
    text = "u/acme_official where is my order"
    return comment(cid, text, created=created, inbox="username_mention")


def reply(cid: str, created: float) -> dict[str, Any]:
    return comment(cid, "still waiting", created=created, inbox="comment_reply")


def inbox_runtime(make_runtime: RuntimeFactory, api: FakeAPI) -> Runtime:
    config = {
        "name": "inbox",
        "type": "reddit_inbox",
        "context_depth": 0,
        "submission_replies": False,
        "mark_read": False,
    }
    return make_runtime(sources=[config], reddit=reddit_section(api))


def paths(api: FakeAPI) -> list[str]:
    return [r.path for r in api.requests if r.path.startswith(("/message/", "/r/"))]


def test_a_listing_that_keeps_failing_does_not_hold_back_the_others_of_an_inbox(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Mentions' second page keeps failing. Mentions came first at every poll and its
    # failure failed the poll whole: no listing of the inbox moved on while it lasted.
    serve_token(api)
    api.add("GET", "/message/mentions", listing(mention("m2", T0 + 20), after="t1_m2"))
    deep = api.add("GET", "/message/mentions", DOWN, query={"after": "t1_m2"})
    replies = api.add("GET", "/message/comments/?", listing(reply("r1", T0 + 10)))
    rt = inbox_runtime(make_runtime, api)
    assert isinstance(rt.clock, FakeClock)
    start = rt.clock.now()

    assert poll_source(rt, "inbox") is False
    assert messages(rt) == []
    found = state(rt)
    assert found.consecutive_failures == 1
    assert found.next_poll_at == start + timedelta(seconds=30)

    # The failing listing is read last: the others first, and stored, at the next poll;
    # the failure is still the poll's: backed off, counted and shown.
    rt.clock.advance(seconds=30)
    asked = len(paths(api))
    assert poll_source(rt, "inbox") is False
    assert paths(api)[asked:][0] == "/message/comments/"
    assert [m.external_id for m in messages(rt)] == ["t1_r1"]
    found = state(rt)
    assert found.consecutive_failures == 2
    assert found.next_poll_at == start + timedelta(seconds=30 + 60)
    assert found.last_error is not None
    assert found.last_error.startswith("Reddit temporary: ")
    assert found.details["caught_up"] is False

    replies.replies = [listing(reply("r2", T0 + 30), reply("r1", T0 + 10))]
    deep.replies = [listing(mention("m1", T0))]
    rt.clock.advance(seconds=60)
    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)] == ["t1_r1", "t1_m1", "t1_m2", "t1_r2"]
    found = state(rt)
    assert (found.consecutive_failures, found.next_poll_at, found.last_error) == (0, None, None)


def test_a_failing_listing_does_not_hold_back_the_other_stream_of_a_watch(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    # Comments are read first: what they held was dropped with the failure of new posts.
    api.add("GET", "/r/acme/comments/?", listing(comment("k1", "acme lost my parcel")))
    api.add("GET", "/r/acme/new/?", DOWN)
    config = {
        "name": "watch",
        "type": "reddit_subreddit",
        "subreddits": ["acme"],
        "keywords": ["acme"],
        "context_depth": 0,
    }
    rt = make_runtime(sources=[config], reddit=reddit_section(api))
    poll_source(rt, "watch")
    assert [m.external_id for m in messages(rt)] == ["t1_k1"]
    found = state(rt, "watch")
    assert found.consecutive_failures == 1
    # Only a subreddit Reddit will not serve is disabled: this one is retried.
    assert found.details["disabled_subreddits"] == {}


class OutlivesItsLease:
    """The poll outlasts its lease; meanwhile another worker takes the source."""

    def __init__(self, inner: Source, thief: Runtime) -> None:
        self.name = inner.name
        self.inner, self.thief = inner, thief

    def poll(self, cursor: str | None, *, now: Any) -> PollResult:
        result = self.inner.poll(cursor, now=now)
        assert isinstance(self.thief.clock, FakeClock)
        self.thief.clock.advance(seconds=600)
        assert take_lease(self.thief, self.name, self.thief.clock.now())
        return result


def test_a_partly_failed_poll_that_lost_its_lease_stores_and_records_nothing(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    api.add("GET", "/message/mentions", listing(mention("m1", T0)))
    api.add("GET", "/message/comments/?", DOWN)
    first, second = inbox_runtime(make_runtime, api), inbox_runtime(make_runtime, api)
    first.sources["inbox"] = OutlivesItsLease(first.sources["inbox"], second)  # type: ignore[assignment]
    assert poll_source(first, "inbox") is False
    assert messages(first) == []
    found = state(first)
    assert (found.consecutive_failures, found.cursor, found.last_error) == (0, None, None)
    assert found.lease_owner == second.worker_id
