"""The Reddit inbox source through the real praw.Reddit, FakeAPI and the poll/process steps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from monitor.clock import FakeClock
from monitor.ingest import poll_source
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.settings import Brand
from monitor.sources import reddit_base, reddit_sources
from monitor.sources.base import Source
from monitor.sources.reddit_cursor import decode_cursor
from monitor.sources.reddit_settings import RedditInboxSourceConfig, RedditSettings
from monitor.sources.reddit_sources import build_reddit_source
from monitor.store.db import transaction
from monitor.store.models import Case, Message, SourceState
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import (
    BRAND,
    CASSETTES,
    T0,
    comment,
    listing,
    reddit_section,
    serve_me,
    serve_token,
)

SLOW = Reply(200, {"content-type": "application/json"}, b"{}", delay=0.6)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def inbox_runtime(make_runtime: RuntimeFactory, api: FakeAPI, **source: Any) -> Runtime:
    config = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0, **source}
    return make_runtime(sources=[config], reddit=reddit_section(api))


def messages(rt: Runtime) -> list[Message]:
    with transaction(rt.sessions) as session:
        rows = list(session.scalars(select(Message).order_by(Message.id)))
        session.expunge_all()
    return rows


def state(rt: Runtime, name: str = "inbox") -> SourceState:
    with transaction(rt.sessions) as session:
        row = session.get(SourceState, name)
        assert row is not None
        session.expunge(row)
    return row


def test_recorded_mentions_are_stored_with_thread_and_rate_limits(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(CASSETTES / "TestInbox.test_mentions.json")
    serve_me(api)
    api.add("GET", "/message/mentions", listing(headers={}), query={"after": "t1_ekfncs9"})
    rt = inbox_runtime(make_runtime, api, comment_replies=False, submission_replies=False)

    assert poll_source(rt, "inbox") is False
    stored = messages(rt)
    assert len(stored) == 16
    # Stored in the order written (the listing is newest first): the newest comes last.
    first = stored[-1]
    assert (first.platform, first.external_id, first.kind) == ("reddit", "t1_ekftbox", "mention")
    assert (first.conversation_id, first.in_reply_to) == ("t3_bb24k7", "t3_bb24k7")
    assert first.author_handle == "2Botter2Loop"
    assert first.url is not None
    assert first.url.startswith("https://www.reddit.com/r/RemovedBy")
    source_state = state(rt)
    assert source_state.details["ratelimit"]["remaining"] == 9324.0
    assert source_state.details["ratelimit"]["used"] == 676
    reset = rt.clock.now() + timedelta(seconds=53)
    assert source_state.details["ratelimit"]["reset_at"] == reset.isoformat()
    # The token, whose it is (once per process), page 1, page 2.
    assert source_state.details["requests_last_poll"] == 4
    assert source_state.last_error is None
    process_pending(rt)
    with transaction(rt.sessions) as session:
        assert session.scalars(select(Case)).all()


def test_pages_follow_after_and_the_next_poll_stops_at_the_cursor(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    page1 = listing(
        comment("c3", "u/acme_official three", created=T0 + 20, inbox="username_mention"),
        comment("c2", "u/acme_official two", created=T0 + 10, inbox="username_mention"),
        after="t1_c2",
    )
    route = api.add("GET", "/message/mentions", page1)
    api.add("POST", "/api/read_message/?", Reply.json({}))
    page2 = listing(comment("c1", "@acme_official hi", created=T0, inbox="username_mention"))
    api.add("GET", "/message/mentions", page2, query={"after": "t1_c2"})  # routes: newest first
    rt = inbox_runtime(
        make_runtime, api, comment_replies=False, submission_replies=False, overlap_seconds=5
    )

    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)] == ["t1_c1", "t1_c2", "t1_c3"]  # as written
    assert len(api.seen("GET", "/message/mentions")) == 2

    newest = comment("c4", "u/acme_official four", created=T0 + 30, inbox="username_mention")
    route.replies = [listing(newest, *page1_children(page1), after="t1_c2")]
    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)][-1] == "t1_c4"
    assert len(messages(rt)) == 4
    # c2, older than the 5 s overlap below c3, ended the scan: no request for page 2.
    assert len(api.seen("GET", "/message/mentions")) == 3


def page1_children(reply: Reply) -> list[dict[str, Any]]:
    import json

    children: list[dict[str, Any]] = json.loads(reply.body)["data"]["children"]
    return children


def test_marks_read_only_on_the_poll_after_the_items_were_committed(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(CASSETTES / "TestInbox.test_comment_replies.json")
    serve_me(api)
    api.add("GET", "/message/comments/?", listing(headers={}), query={"after": "t1_mynm218"})
    api.add("POST", "/api/read_message/?", Reply.json({}))
    rt = inbox_runtime(make_runtime, api, mentions=False, submission_replies=False)

    poll_source(rt, "inbox")
    stored = {m.external_id for m in messages(rt)}
    assert len(stored) == 64
    assert {m.kind for m in messages(rt)} == {"reply"}
    assert api.seen("POST", "/api/read_message/?") == []
    assert state(rt).details["pending_mark_read"] == 64

    poll_source(rt, "inbox")
    posts = api.seen("POST", "/api/read_message/?")
    marked = [f for post in posts for f in post.form()["id"][0].split(",")]
    assert [len(post.form()["id"][0].split(",")) for post in posts] == [25, 25, 14]
    assert set(marked) == stored
    assert state(rt).details["pending_mark_read"] == 0

    poll_source(rt, "inbox")
    assert len(api.seen("POST", "/api/read_message/?")) == 3  # nothing is marked twice


def test_marking_read_past_the_polls_time_bound_is_left_to_the_next_poll(
    make_runtime: RuntimeFactory, api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Up to 500 items wait to be marked, 25 a request: a poll past POLL_SECONDS marks
    no more batches, so it ends within its lease; the rest wait for the next poll."""
    api.load_cassette(CASSETTES / "TestInbox.test_comment_replies.json")
    serve_me(api)
    api.add("GET", "/message/comments/?", listing(headers={}), query={"after": "t1_mynm218"})
    api.add("POST", "/api/read_message/?", Reply.json({}))
    rt = inbox_runtime(make_runtime, api, mentions=False, submission_replies=False)
    poll_source(rt, "inbox")
    assert state(rt).details["pending_mark_read"] == 64

    monkeypatch.setattr(reddit_base, "POLL_SECONDS", -1)
    poll_source(rt, "inbox")
    assert len(api.seen("POST", "/api/read_message/?")) == 1
    assert state(rt).details["pending_mark_read"] == 39
    poll_source(rt, "inbox")
    poll_source(rt, "inbox")
    assert state(rt).details["pending_mark_read"] == 0


FIRST = comment("c1", "u/acme_official hi", created=T0, inbox="username_mention")
SECOND = comment("c2", "u/acme_official still there?", created=T0 + 60, inbox="username_mention")
FORBIDDEN = Reply.json({"message": "Forbidden", "error": 403}, status=403)


def test_a_failed_mark_read_is_reported_and_retried_while_new_items_are_stored(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Marking read came first in the poll and its failure failed the poll: a 403 stopped
    # the inbox for good ("Reddit: 403 Forbidden"), a 5xx or a timeout held back every
    # new mention for as long as it lasted.
    serve_token(api)
    route = api.add("GET", "/message/mentions", listing(FIRST))
    marking = api.add("POST", "/api/read_message/?", FORBIDDEN)
    rt = inbox_runtime(make_runtime, api, comment_replies=False, submission_replies=False)
    poll_source(rt, "inbox")
    route.replies = [listing(SECOND, FIRST)]
    poll_source(rt, "inbox")

    assert [m.external_id for m in messages(rt)] == ["t1_c1", "t1_c2"]
    found = state(rt)
    assert (found.consecutive_failures, found.next_poll_at) == (0, None)
    assert found.last_error == (
        "marking 1 inbox item read failed (403 Forbidden); tried again at the next poll"
    )
    assert found.details["pending_mark_read"] == 2

    marking.replies = [Reply.json({})]
    poll_source(rt, "inbox")
    posts = api.seen("POST", "/api/read_message/?")
    assert [post.form()["id"] for post in posts] == [["t1_c1"], ["t1_c1,t1_c2"]]
    found = state(rt)
    assert (found.last_error, found.details["pending_mark_read"]) == (None, 0)


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(500), "ServerError: received 500 HTTP response"),
        (SLOW, "RequestException: ReadTimeout"),
    ],
    ids=["500", "timeout"],
)
def test_mark_read_failing_on_5xx_or_timeout_does_not_hold_back_the_inbox(
    api: FakeAPI, reply: Reply, reason: str
) -> None:
    # Without a database: prawcore retries both twice itself, sleeping up to 6 s.
    serve_token(api)
    route = api.add("GET", "/message/mentions", listing(FIRST))
    api.add("POST", "/api/read_message/?", reply)
    source = mentions_source(api, timeout_seconds=0.3)
    now = FakeClock().now()
    polled = source.poll(None, now=now)
    route.replies = [listing(SECOND, FIRST)]
    again = source.poll(polled.cursor, now=now)
    assert [m.external_id for m in again.mentions] == ["t1_c2"]
    assert list(again.problems) == [
        f"marking 1 inbox item read failed ({reason}); tried again at the next poll"
    ]
    assert again.details is not None
    assert again.details["pending_mark_read"] == 2
    assert len(api.seen("POST", "/api/read_message/?")) == 3


def test_items_kept_to_mark_are_bounded_while_marking_keeps_failing(
    api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reddit_sources, "MARK_CAP", 1)
    serve_token(api)
    route = api.add("GET", "/message/mentions", listing(FIRST))
    api.add("POST", "/api/read_message/?", FORBIDDEN)
    source = mentions_source(api)
    now = FakeClock().now()
    polled = source.poll(None, now=now)
    route.replies = [listing(SECOND, FIRST)]
    again = source.poll(polled.cursor, now=now)
    assert list(again.problems) == [
        "marking 1 inbox item read failed (403 Forbidden); tried again at the next poll",
        "1 inbox item left unread on Reddit: marking read keeps failing, "
        "and only the newest 1 are kept to mark",
    ]
    assert decode_cursor(again.cursor).to_mark == ("t1_c2",)


def test_a_rate_limited_mark_read_reschedules_the_poll_and_keeps_the_items_queued(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit takes no request now: reading on would only be refused too.
    serve_token(api)
    route = api.add("GET", "/message/mentions", listing(FIRST))
    limited = Reply(429, {"retry-after": "30"}, b"whoa there")
    api.add("POST", "/api/read_message/?", limited, Reply.json({}))
    rt = inbox_runtime(make_runtime, api, comment_replies=False, submission_replies=False)
    poll_source(rt, "inbox")
    route.replies = [listing(SECOND, FIRST)]
    poll_source(rt, "inbox")
    found = state(rt)
    assert found.last_error == "Reddit rate_limited: 429 Too Many Requests"
    assert found.next_poll_at == rt.clock.now() + timedelta(seconds=30)
    assert [m.external_id for m in messages(rt)] == ["t1_c1"]

    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(seconds=30)
    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)] == ["t1_c1", "t1_c2"]
    assert api.seen("POST", "/api/read_message/?")[-1].form()["id"] == ["t1_c1"]
    assert (state(rt).last_error, state(rt).details["pending_mark_read"]) == (None, 1)


def mentions_source(api: FakeAPI, **reddit: Any) -> Source:
    settings = RedditSettings.model_validate(reddit_section(api, **reddit))
    config = RedditInboxSourceConfig(
        type="reddit_inbox",
        name="inbox",
        comment_replies=False,
        submission_replies=False,
        context_depth=0,
    )
    return build_reddit_source(config, settings, Brand(name="Acme"))


def test_a_poll_whose_result_was_never_stored_marks_nothing(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    api.add("GET", "/message/comments/?", listing(comment("r1", "thanks", inbox="comment_reply")))
    api.add("POST", "/api/read_message/?", Reply.json({}))
    rt = inbox_runtime(make_runtime, api, mentions=False, submission_replies=False)
    # The process dies between poll() and the commit: the cursor with to_mark is lost.
    rt.sources["inbox"].poll(None, now=rt.clock.now())
    poll_source(rt, "inbox")
    assert api.seen("POST", "/api/read_message/?") == []
    assert [m.external_id for m in messages(rt)] == ["t1_r1"]


def test_follow_up_reply_joins_the_mention_case_and_skips_are_counted(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    mention = comment("m1", "u/acme_official my order is late", inbox="username_mention")
    api.add("GET", "/message/mentions", listing(mention))
    replies = api.add("GET", "/message/comments/?", listing())
    api.add("GET", "/message/selfreply/?", listing())
    api.add("POST", "/api/read_message/?", Reply.json({}))
    rt = inbox_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)

    replies.replies = [
        listing(
            comment("f1", "still nothing", created=T0 + 60, parent="t1_x", inbox="comment_reply"),
            comment("d1", "[deleted]", author=None, created=T0 + 50, inbox="comment_reply"),
            comment("d2", "[removed]", created=T0 + 45, inbox="comment_reply"),
            comment("o1", "we're on it", author=BRAND, created=T0 + 40, inbox="comment_reply"),
        )
    ]
    poll_source(rt, "inbox")
    process_pending(rt)
    assert [m.external_id for m in messages(rt)] == ["t1_m1", "t1_f1"]
    with transaction(rt.sessions) as session:
        cases = session.scalars(select(Case)).all()
        assert [c.conversation_id for c in cases] == ["t3_abc123"]
        case_ids = {m.case_id for m in session.scalars(select(Message))}
        assert case_ids == {cases[0].id}
    assert state(rt).last_error == "skipped 2 deleted; skipped 1 own"
    assert state(rt).details["skipped_last_poll"] == {"deleted": 2, "own": 1}


def test_exhausted_quota_pauses_the_source_until_reset_without_sleeping(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    exhausted = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "1"}
    api.add("GET", "/message/mentions", listing(headers=exhausted))
    rt = inbox_runtime(make_runtime, api, comment_replies=False, submission_replies=False)
    poll_source(rt, "inbox")
    assert state(rt).rate_limit_reset_at == rt.clock.now() + timedelta(seconds=1)
    poll_source(rt, "inbox")  # same moment: skipped, no request
    assert len(api.seen("GET", "/message/mentions")) == 1
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(seconds=2)
    poll_source(rt, "inbox")  # past the reset: polled again
    assert len(api.seen("GET", "/message/mentions")) == 2


def test_a_quota_spent_mid_poll_stops_the_poll_instead_of_sleeping_in_the_worker(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """prawcore holds the next request until the reset once nothing remains (up to
    Reddit's 10-minute window): the poll must end and the scheduler wait instead."""
    serve_token(api)
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "1000", "x-ratelimit-reset": "15"}
    mention = comment("c1", "u/acme_official hi", inbox="username_mention")
    api.add("GET", "/message/mentions", listing(mention, headers=spent))
    api.add("GET", "/message/comments/?", listing())
    rt = inbox_runtime(make_runtime, api)
    started = time.monotonic()
    poll_source(rt, "inbox")
    assert time.monotonic() - started < 5  # not held by prawcore for the 15 s
    assert api.seen("GET", "/message/comments/?") == []
    found = state(rt)
    assert found.last_error == "Reddit rate_limited: request quota spent (1000 used)"
    assert found.next_poll_at is not None
    wait = found.next_poll_at - rt.clock.now()
    assert timedelta(seconds=10) < wait <= timedelta(seconds=15)
    # The mentions read before the quota ran out are stored; the replies wait for it.
    assert [m.external_id for m in messages(rt)] == ["t1_c1"]


def test_text_is_stored_as_written_not_as_reddits_html_escapes(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit's JSON escapes &, < and > in bodies and titles: "<3" arrives as "&lt;3".
    serve_token(api)
    escaped = "u/acme_official fixed it &lt;3 thanks, A&amp;B team &gt; all. I typed &amp;lt; here"
    mention = comment("m1", escaped, inbox="username_mention")
    mention["data"]["link_title"] = "Q&amp;A"
    api.add("GET", "/message/mentions", listing(mention))
    api.add("GET", "/message/comments/?", listing())
    api.add("GET", "/message/selfreply/?", listing())
    api.add("POST", "/api/read_message/?", Reply.json({}))
    rt = inbox_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    [message] = messages(rt)
    assert message.text == ("u/acme_official fixed it <3 thanks, A&B team > all. I typed &lt; here")
    assert message.label == "positive"  # the heart is read


def test_rate_limit_headers_written_as_floats_are_read_not_crashed_on(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit writes x-ratelimit-remaining as a float ("598.0"); used and reset may come
    # as floats too, which prawcore 4 reads with int() and crashes on.
    serve_token(api)
    floats = {
        "x-ratelimit-remaining": "598.0",
        "x-ratelimit-used": "2.0",
        "x-ratelimit-reset": "239.4",
    }
    mention = comment("c1", "u/acme_official hi", inbox="username_mention", new=False)
    api.add("GET", "/message/mentions", listing(mention, headers=floats))
    api.add("GET", "/message/comments/?", listing(headers=floats))
    api.add("GET", "/message/selfreply/?", listing(headers=floats))
    rt = inbox_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)] == ["t1_c1"]
    found = state(rt)
    assert found.last_error is None
    limits = found.details["ratelimit"]
    assert (limits["remaining"], limits["used"]) == (598.0, 2)
    # Rounded up: the window is not over before Reddit says so.
    assert limits["reset_at"] == (rt.clock.now() + timedelta(seconds=240)).isoformat()


def test_a_comment_removed_by_reddit_is_skipped_as_removed(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit's admins remove a comment for its content policy with the body
    # "[ Removed by Reddit ]" (spaces inside) and keep its author: it was stored as the
    # customer's message, scored, and could be answered in a thread no one sees it in.
    serve_token(api)
    api.add(
        "GET",
        "/message/comments/?",
        listing(
            comment("r1", "[ Removed by Reddit ]", created=T0 + 3, inbox="comment_reply"),
            comment(
                "r2",
                "[ Removed by Reddit on account of violating the "
                "[content policy](/help/contentpolicy). ]",
                created=T0 + 2,
                inbox="comment_reply",
            ),
            comment("k1", "[removed by reddit] lol", created=T0 + 1, inbox="comment_reply"),
        ),
    )
    api.add("GET", "/message/mentions", listing())
    api.add("GET", "/message/selfreply/?", listing())
    rt = inbox_runtime(make_runtime, api, mark_read=False)
    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)] == ["t1_k1"]
    assert state(rt).details["skipped_last_poll"] == {"deleted": 2}


def test_the_quota_reset_is_counted_from_the_answer_that_spent_it_not_the_polls_start(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit's x-ratelimit-reset counts from its answer. It was added to the moment the
    # poll began, so after a slow poll the source was polled again before the reset
    # (and failed as rate limited, or prawcore slept in the worker).
    serve_token(api)
    arrived, gate = threading.Event(), threading.Event()
    spent = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "240"}
    api.add("GET", "/message/mentions", replace(listing(headers=spent), arrived=arrived, gate=gate))
    rt = inbox_runtime(make_runtime, api, comment_replies=False, submission_replies=False)
    assert isinstance(rt.clock, FakeClock)
    started = rt.clock.now()

    def answer_two_minutes_later() -> None:
        assert arrived.wait(timeout=60)
        assert isinstance(rt.clock, FakeClock)
        rt.clock.advance(seconds=120)
        gate.set()

    slow = threading.Thread(target=answer_two_minutes_later)
    slow.start()
    try:
        poll_source(rt, "inbox")
    finally:
        gate.set()
        slow.join()
    reset = started + timedelta(seconds=120 + 240)
    found = state(rt)
    assert found.rate_limit_reset_at == reset
    assert found.details["ratelimit"]["reset_at"] == reset.isoformat()


def test_an_item_with_a_null_author_is_skipped_as_deleted_and_the_page_is_stored(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # praw builds a Redditor from "author": null and raises TypeError for the whole page:
    # the source failed at every poll on that page, and the mentions on it were never
    # read while the item stayed among the inbox's newest.
    serve_token(api)
    nameless = comment("n1", "u/acme_official hello", created=T0 + 2, inbox="username_mention")
    nameless["data"]["author"] = None
    late = comment(
        "m1", "u/acme_official my order is late", created=T0 + 1, inbox="username_mention"
    )
    api.add("GET", "/message/mentions", listing(nameless, late))
    rt = inbox_runtime(
        make_runtime, api, comment_replies=False, submission_replies=False, mark_read=False
    )

    poll_source(rt, "inbox")
    assert [m.external_id for m in messages(rt)] == ["t1_m1"]
    source_state = state(rt)
    assert source_state.consecutive_failures == 0
    assert source_state.last_error == "skipped 1 deleted"


def recorded_post_reply() -> dict[str, Any]:
    """The one ``post_reply`` (a comment on a post of the account) Reddit sent in the
    recorded inbox: /message/selfreply serves such items."""
    import json

    cassette = json.loads((CASSETTES / "TestInbox.test_unread.json").read_text())
    page = json.loads(cassette["interactions"][1]["response"]["body"]["string"])
    [item] = [c for c in page["data"]["children"] if c["data"].get("type") == "post_reply"]
    return dict(item)


def test_a_top_level_comment_on_the_brands_post_is_read_as_a_reply_and_marked_read(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The inbox read mentions and replies to the brand's comments only: a customer
    # answering the brand's own post (an outage notice) sits in /message/selfreply,
    # which no listing read, and never reached the team.
    serve_token(api)
    api.add("GET", "/message/mentions", listing())
    api.add("GET", "/message/comments/?", listing())
    api.add("GET", "/message/selfreply/?", listing(recorded_post_reply()))
    api.add("POST", "/api/read_message/?", Reply.json({}))
    rt = inbox_runtime(make_runtime, api)

    poll_source(rt, "inbox")
    [stored] = messages(rt)
    assert (stored.external_id, stored.kind) == ("t1_m30xcs6", "reply")
    assert (stored.conversation_id, stored.in_reply_to) == ("t3_1hirfbl", "t3_1hirfbl")
    assert stored.author_handle == "AutoModerator"
    assert state(rt).details["pending_mark_read"] == 1
    poll_source(rt, "inbox")
    assert api.seen("POST", "/api/read_message/?")[-1].form()["id"] == ["t1_m30xcs6"]
    assert len(api.seen("GET", "/message/selfreply/?")) == 2
    assert len(messages(rt)) == 1  # the cursor holds it: not stored twice


def test_post_replies_alone_are_a_valid_inbox(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    serve_token(api)
    api.add("GET", "/message/selfreply/?", listing(recorded_post_reply()))
    rt = inbox_runtime(make_runtime, api, mentions=False, comment_replies=False, mark_read=False)
    poll_source(rt, "inbox")
    assert [m.kind for m in messages(rt)] == ["reply"]
    assert api.seen("GET", "/message/(mentions|comments/)") == []
