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
from monitor.health_alerts import failing_alerts
from monitor.ingest import poll_source, take_lease
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, Source
from monitor.sources.reddit_base import RedditSourceBase
from monitor.sources.reddit_settings import POLL_SECONDS
from monitor.status import collect, limits_from
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

    # The failing listing is read last: the others first, and stored, at the next poll.
    # The source is read then: a successful poll, no back-off; the listing is named,
    # with its failures in a row (the first poll's included).
    rt.clock.advance(seconds=30)
    asked = len(paths(api))
    assert poll_source(rt, "inbox") is False
    assert paths(api)[asked:][0] == "/message/comments/"
    assert [m.external_id for m in messages(rt)] == ["t1_r1"]
    found = state(rt)
    assert (found.consecutive_failures, found.next_poll_at) == (0, None)
    assert found.last_success_at == start + timedelta(seconds=30)
    assert found.last_error is not None
    assert found.last_error.startswith("inbox mentions: 2 failed reads in a row since ")
    assert found.details["failing_listings"]["inbox mentions"]["failures"] == 2
    assert found.details["caught_up"] is True  # nothing but the failing listing unread

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
    # The source is read; the listing that failed is named (status, once it lasts).
    assert found.consecutive_failures == 0
    assert found.details["failing_listings"]["r/acme/new"]["failures"] == 1
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


def test_a_listing_failing_while_the_others_are_read_is_named_not_the_source(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Replies to the brand's comments fail at every poll; mentions are read each time.
    # The source counted as failing: no last success, a growing cursor lag, back-off for
    # the listings read, and "source inbox: failing" although its mentions were read.
    serve_token(api)
    api.add("GET", "/message/mentions", listing())
    replies = api.add("GET", "/message/comments/?", DOWN)
    config = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0}
    config |= {"submission_replies": False, "mark_read": False}
    rt = make_runtime(
        sources=[config], reddit=reddit_section(api), alerts={"source_failing_minutes": 15}
    )
    assert isinstance(rt.clock, FakeClock)
    start = rt.clock.now()

    poll_source(rt, "inbox")
    found = state(rt)
    assert (found.last_success_at, found.consecutive_failures) == (start, 0)
    assert found.next_poll_at is None  # no back-off: the mentions are read each interval
    failing = found.details["failing_listings"]["inbox comment_replies"]
    assert (failing["failures"], failing["since"]) == (1, start.isoformat())
    assert found.last_error is not None
    assert "inbox comment_replies: 1 failed read in a row since " in found.last_error
    assert collect(rt).problems == []  # one failed read is no alert yet

    for _ in range(16):
        rt.clock.advance(seconds=60)
        poll_source(rt, "inbox")
    now = rt.clock.now()
    status = collect(rt)
    inbox = next(s for s in status.sources if s.name == "inbox")
    assert (inbox.last_success_at, inbox.cursor_lag_seconds) == (now, 0.0)
    # Named, with its failures in a row, once failing for alerts.source_failing_minutes.
    [problem] = status.problems
    assert problem.startswith(
        "source inbox: listing inbox comment_replies failing for 16 min, 17 failed reads"
    )
    limits = limits_from(rt.settings)
    alerts = failing_alerts(status.sources, now=now, minutes=15, stale_after=limits.stale_after)
    assert [(a.kind, a.text) for a in alerts] == [("source-failing", problem)]

    replies.replies = [listing()]
    rt.clock.advance(seconds=60)
    poll_source(rt, "inbox")
    assert state(rt).details["failing_listings"] == {}
    assert state(rt).last_error is None
    assert collect(rt).problems == []


class Ticks:
    """Elapsed seconds for a poll's time bound: ``step`` more at every reading."""

    def __init__(self) -> None:
        self.now, self.step = 0.0, 0.0

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_poll_out_of_time_before_the_failing_listing_keeps_its_failures_in_a_row(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A poll that ends at its time bound before reaching the failing listing has not
    # read it: its run of failures goes on, not from 0, with the time it began.
    serve_token(api)
    api.add("GET", "/message/mentions", listing())
    api.add("GET", "/message/comments/?", DOWN)
    rt = inbox_runtime(make_runtime, api)
    assert isinstance(rt.clock, FakeClock)
    start = rt.clock.now()
    source = rt.sources["inbox"]
    assert isinstance(source, RedditSourceBase)
    source.monotonic = ticks = Ticks()

    poll_source(rt, "inbox")  # mentions read, comment replies fail
    assert state(rt).details["failing_listings"]["inbox comment_replies"]["failures"] == 1

    rt.clock.advance(seconds=60)
    ticks.step = POLL_SECONDS + 1  # the time bound is reached after the first listing
    asked = len(paths(api))
    assert poll_source(rt, "inbox") is True  # the listing left waits for the next poll
    assert paths(api)[asked:] == ["/message/mentions"]
    failing = state(rt).details["failing_listings"]["inbox comment_replies"]
    assert (failing["failures"], failing["since"]) == (1, start.isoformat())

    rt.clock.advance(seconds=60)
    ticks.step = 0
    poll_source(rt, "inbox")  # read now (after the others), and failing still
    failing = state(rt).details["failing_listings"]["inbox comment_replies"]
    assert (failing["failures"], failing["since"]) == (2, start.isoformat())


def test_a_failing_listing_starts_a_new_run_after_downtime(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Replies to the brand's comments failed when the daemon stopped and fail again a day
    # later. The run went on over the downtime: "failing for 1440 min" at the first poll
    # after it, and the alert at once. Failing time is time the listing was read and
    # failed, as for a source whose polls fail.
    serve_token(api)
    api.add("GET", "/message/mentions", listing())
    api.add("GET", "/message/comments/?", DOWN)
    config = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0}
    config |= {"submission_replies": False, "mark_read": False}
    rt = make_runtime(
        sources=[config], reddit=reddit_section(api), alerts={"source_failing_minutes": 15}
    )
    assert isinstance(rt.clock, FakeClock)
    poll_source(rt, "inbox")

    rt.clock.advance(days=1)
    restart = rt.clock.now()
    poll_source(rt, "inbox")
    failing = state(rt).details["failing_listings"]["inbox comment_replies"]
    assert (failing["failures"], failing["since"]) == (1, restart.isoformat())
    assert collect(rt).problems == []

    rt.clock.advance(seconds=60)  # polled again within the interval: the same run
    poll_source(rt, "inbox")
    failing = state(rt).details["failing_listings"]["inbox comment_replies"]
    assert (failing["failures"], failing["since"]) == (2, restart.isoformat())


def test_a_failing_listing_left_by_the_time_bound_does_not_fail_the_next_poll(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A poll out of time left the failing listing unread; the next poll read it first,
    # it failed with nothing else read, and the whole poll failed: back-off, and the
    # mentions unread while it lasted.
    serve_token(api)
    mentions = api.add("GET", "/message/mentions", listing())
    api.add("GET", "/message/comments/?", DOWN)
    rt = inbox_runtime(make_runtime, api)
    assert isinstance(rt.clock, FakeClock)
    source = rt.sources["inbox"]
    assert isinstance(source, RedditSourceBase)
    source.monotonic = ticks = Ticks()
    poll_source(rt, "inbox")  # mentions read, comment replies fail

    rt.clock.advance(seconds=60)
    ticks.step = POLL_SECONDS + 1  # the time bound is reached after every listing
    assert poll_source(rt, "inbox") is True  # comment replies not reached

    mentions.replies = [listing(mention("m1", T0))]
    asked = len(paths(api))
    poll_source(rt, "inbox")
    # The failing listing is read last, and read although the poll is out of time: it
    # was left unread by the last poll, and is never left twice in a row.
    assert paths(api)[asked:] == ["/message/mentions", "/message/comments/"]
    assert [m.external_id for m in messages(rt)] == ["t1_m1"]
    found = state(rt)
    assert (found.consecutive_failures, found.next_poll_at) == (0, None)
    assert found.details["failing_listings"]["inbox comment_replies"]["failures"] == 2


def test_a_failing_listing_of_a_subreddit_then_disabled_is_no_longer_failing(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # r/secret's comments failed (a 521), then the subreddit went private and is not
    # watched for a day. Its listing stayed "failing" all that day, unread and not
    # failing: status, the alert and the spike baseline's failing hours named it.
    serve_token(api)
    api.add("GET", "/r/acme/(comments|new)/?", listing())
    secret_new = api.add("GET", "/r/secret/new/?", listing())
    secret_comments = api.add("GET", "/r/secret/comments/?", DOWN)
    config = {
        "name": "watch",
        "type": "reddit_subreddit",
        "subreddits": ["acme", "secret"],
        "keywords": ["acme"],
        "context_depth": 0,
    }
    rt = make_runtime(
        sources=[config], reddit=reddit_section(api), alerts={"source_failing_minutes": 15}
    )
    assert isinstance(rt.clock, FakeClock)
    poll_source(rt, "watch")
    assert list(state(rt, "watch").details["failing_listings"]) == ["r/secret/comments"]

    private = Reply.json({"reason": "private", "message": "Forbidden", "error": 403}, status=403)
    secret_new.replies = [private]
    secret_comments.replies = [private]
    for _ in range(20):
        rt.clock.advance(seconds=60)
        poll_source(rt, "watch")
    found = state(rt, "watch")
    assert list(found.details["disabled_subreddits"]) == ["secret"]
    assert found.details["failing_listings"] == {}
    assert collect(rt).problems == []
