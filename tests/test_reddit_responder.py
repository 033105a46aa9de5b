"""The Reddit responder through praw.Reddit against FakeAPI, alone and via dispatch_outbox."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import casework_replies
from monitor.clock import FakeClock
from monitor.dispatch import dispatch_outbox
from monitor.domain import Action, ActionKind, ActionStatus, Platform
from monitor.ingest import poll_source
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.settings import Brand
from monitor.sources.reddit import RedditConnection
from monitor.sources.reddit_settings import RedditSettings
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Event, Message, case_ref
from responders.base import ResponderError
from responders.reddit import RedditResponder, build_reddit_responder, render
from tests.conftest import REPO, RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import (
    BRAND,
    CASSETTES,
    RATE,
    T0,
    api_error,
    comment,
    created_comment,
    listing,
    reddit_section,
    serve_token,
    submission,
)

CLOCK_START = FakeClock().now()


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def responder(api: FakeAPI) -> RedditResponder:
    settings = RedditSettings.model_validate(reddit_section(api))
    return RedditResponder(RedditConnection(settings), frozenset({BRAND}), clock=FakeClock())


def action(target: str = "t1_c1", text: str = "Thanks, we're on it.") -> Action:
    return Action(
        id=1,
        kind=ActionKind.REPLY,
        platform=Platform.REDDIT,
        case_ref="C-1001",
        target_external_id=target,
        conversation_id="t3_abc123",
        text=text,
        idempotency_key="reply:1:r:t1_c1",
    )


def test_recorded_comment_reply_returns_the_new_fullname(api: FakeAPI) -> None:
    api.load_cassette(CASSETTES / "TestComment.test_reply.json")
    result = responder(api).send(action("t1_d1616q2", "Test reply"))
    assert result.external_id == "t1_d1680wu"
    (post,) = api.seen("POST", "/api/comment/?")
    assert post.form()["thing_id"] == ["t1_d1616q2"]
    assert post.form()["text"] == ["Test reply"]


def test_recorded_submission_reply(api: FakeAPI) -> None:
    api.load_cassette(CASSETTES / "TestSubmission.test_reply.json")
    assert responder(api).send(action("t3_4b1tfm", "Test reply")).external_id == "t1_d162ara"


def in_(delta: timedelta) -> str:
    """An HTTP-date ``delta`` from the test clock's now, as a Retry-After may be given."""
    return format_datetime(CLOCK_START + delta, usegmt=True)


@pytest.mark.parametrize(
    ("reply", "retry_seconds"),
    [
        (api_error("RATELIMIT", "Take a break for 2 seconds before trying again."), 2),
        (api_error("RATELIMIT", "Take a break for 9 minutes before trying again."), 540),
        # Reddit names the largest unit only: an hour's wait was read as none, so each
        # retry spent an attempt and the seventh handed a sound reply to a person.
        (api_error("RATELIMIT", "Take a break for 1 hour before trying again."), 3600),
        (api_error("RATELIMIT", "you are doing that too much. try again in 2 hours."), 7200),
        # A wait in two units was read as its first: the retry came 30 s too early,
        # was refused again and held the rest of the batch back once more.
        (
            api_error(
                "RATELIMIT", "you are doing that too much. try again in 4 minutes and 30 seconds."
            ),
            270,
        ),
        (api_error("RATELIMIT", "You are doing that too much. Try again in 1 minute."), 60),
        (api_error("RATELIMIT", "You are doing that too much. Try again in 30 seconds."), 30),
        # praw reads any milliseconds as 0 s, "at most ratelimit_seconds" even at 0: it
        # slept 1 s in the worker and posted again, three times in all.
        (api_error("RATELIMIT", "Take a break for 500 milliseconds before trying again."), 0.5),
        (Reply(429, {"retry-after": "7", **RATE}, b"whoa there"), 7),
        (Reply(429, {"retry-after": in_(timedelta(seconds=90)), **RATE}, b"whoa there"), 90),
        (Reply(429, {"retry-after": in_(timedelta(hours=-1)), **RATE}, b"whoa there"), 0),
    ],
    ids=[
        "ratelimit-short",
        "ratelimit-long",
        "ratelimit-hour",
        "ratelimit-hours",
        "ratelimit-two-units",
        "ratelimit-minute",
        "ratelimit-seconds",
        "ratelimit-milliseconds",
        "http-429",
        "http-429-date",
        "http-429-past-date",
    ],
)
def test_rate_limits_are_temporary_with_retry_after_and_never_slept_on(
    api: FakeAPI, reply: Reply, retry_seconds: float
) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", reply)
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == CLOCK_START + timedelta(seconds=retry_seconds)
    assert len(api.seen("POST", "/api/comment/?")) == 1  # praw did not sleep and retry


@pytest.mark.parametrize(
    ("value", "retry_after"),
    [
        ("soon", None),
        ("inf", None),
        ("nan", None),
        ("1e20", CLOCK_START + timedelta(days=1)),
        ("Fri, 01 Jan 2100 00:00:00 GMT", CLOCK_START + timedelta(days=1)),
    ],
    ids=["words", "inf", "nan", "huge", "far-date"],
)
def test_an_unreadable_or_absurd_retry_after_is_still_a_rate_limit(
    api: FakeAPI, value: str, retry_after: datetime | None
) -> None:
    # These raised ValueError or OverflowError out of the responder ("responder crashed").
    # A wait over a day is taken as a day: the header is wrong, and a reply held for years
    # would look like a lost one.
    serve_token(api)
    api.add("POST", "/api/comment/?", Reply(429, {"retry-after": value, **RATE}, b"whoa"))
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert str(caught.value) == "Reddit rate limit: 429 Too Many Requests"
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == retry_after


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (api_error("DELETED_COMMENT", "that comment has been deleted", "parent"), "was deleted"),
        (api_error("THREAD_LOCKED", "that thread is locked", "parent"), "thread is locked"),
        (api_error("TOO_OLD", "that's a piece of history now", "parent"), "archived"),
        (api_error("SOMETHING_NEW", "a code we do not know", "text"), "SOMETHING_NEW"),
        (Reply.json({"reason": "banned", "error": 403}, status=403), "banned"),
        (
            Reply.json({"message": "Bad Request", "error": 400}, status=400),
            "Reddit refused the reply (400 Bad Request): a retry gets the same answer",
        ),
        (
            Reply.json({"message": "Payload Too Large", "error": 413}, status=413),
            "Reddit refused the reply (413 Payload Too Large): a retry gets the same answer",
        ),
        (
            Reply.json({"error": 451}, status=451),
            "Reddit refused the reply (451 Unavailable For Legal Reasons): "
            "blocked where the daemon runs",
        ),
    ],
    ids=["deleted", "locked", "too-old", "unknown-code", "banned-403", "400", "413", "451"],
)
def test_refusals_are_permanent_with_a_clear_reason(
    api: FakeAPI, reply: Reply, reason: str
) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", reply)
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert caught.value.permanent is True
    assert reason in str(caught.value)


PROXY_PAGE = b"<html><body><h1>400 Bad Request</h1>" + b"<p>x</p>" * 2000 + b"</body></html>"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(400, {"content-type": "text/html"}, PROXY_PAGE),
        Reply.json({"error": 400}, status=400),
    ],
    ids=["html-page", "json-without-reason"],
)
def test_any_400_is_refused_at_once_in_a_few_words(api: FakeAPI, reply: Reply) -> None:
    # praw turns a 400 into a RedditAPIException from its body: a page of HTML became an
    # "error code" thousands of characters long in the dashboard, and a JSON body without
    # "reason" a KeyError, retried as a responder crash until max_attempts.
    serve_token(api)
    api.add("POST", "/api/comment/?", reply)
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert (caught.value.permanent, caught.value.refused) == (True, True)
    assert str(caught.value) == (
        "Reddit refused the reply (400 Bad Request): a retry gets the same answer"
    )


def test_a_400_with_a_sentence_for_a_reason_keeps_a_short_one(api: FakeAPI) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", Reply.json({"reason": "no " * 3000}, status=400))
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert caught.value.permanent is True
    assert str(caught.value).startswith("Reddit refused the reply (400 Bad Request (no no ")
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize(
    ("reply", "why"),
    [(Reply(502), "HTTP 502"), (Reply(503), "HTTP 503"), (Reply(delay=0.5), "ReadTimeout")],
    ids=["502", "503", "timeout"],
)
def test_a_reply_reddit_may_have_taken_is_not_sent_again_by_prawcore(
    api: FakeAPI, reply: Reply, why: str
) -> None:
    """prawcore retries a timed-out or 5xx request twice, a POST too; Reddit often posts
    the comment and then answers 5xx. One POST; the dispatcher looks before a retry."""
    serve_token(api)
    api.add("POST", "/api/comment/?", reply, created_comment("r6", "t1_c1", "a duplicate"))
    settings = RedditSettings.model_validate(reddit_section(api, timeout_seconds=0.2))
    reddit = RedditResponder(RedditConnection(settings), frozenset({BRAND}), clock=FakeClock())
    with pytest.raises(ResponderError) as caught:
        reddit.send(action())
    assert (caught.value.permanent, caught.value.retry_after) == (False, None)
    assert str(caught.value) == (
        f"Reddit did not confirm the reply ({why}): it may have been posted"
    )
    assert len(api.seen("POST", "/api/comment/?")) == 1


def test_server_errors_on_reads_are_temporary(api: FakeAPI) -> None:
    # prawcore retries a read twice with 0-6 s of sleep: keep to one such test.
    serve_token(api)
    api.add("GET", "/api/info/?", Reply(503))
    with pytest.raises(ResponderError) as caught:
        responder(api).find_own_reply(action())
    assert (caught.value.permanent, caught.value.retry_after) == (False, None)
    assert str(caught.value) == "Reddit ServerError: received 503 HTTP response"
    assert len(api.seen("GET", "/api/info/?")) == 3


def thread_with_replies(*replies: dict[str, Any]) -> Reply:
    target = comment("c1", "my order is late")
    target["data"]["replies"] = {"kind": "Listing", "data": {"children": list(replies)}}
    body = [listing_body(submission("abc123", "My order")), listing_body(target)]
    return Reply.json(body, headers=RATE)


def listing_body(*children: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"children": list(children), "after": None}}


def serve_thread(api: FakeAPI, *replies: dict[str, Any]) -> None:
    serve_token(api)
    api.add("GET", "/api/info/?", listing(comment("c1", "my order is late")))
    api.add("GET", "/comments/abc123/_/c1/?", thread_with_replies(*replies))


def test_a_token_without_the_history_scope_finds_its_reply_in_the_thread(api: FakeAPI) -> None:
    """The account's history (its newest comments) needs the ``history`` scope: refused,
    every retry's lookup failed for good, and replies went to a person though the thread
    read, as before the history was read, would have found them."""
    ours = comment("r1", "Thanks, we\\'re on it.", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = "Thanks, we're on it."
    serve_thread(api, ours)
    api.add("GET", f"/user/{BRAND}/comments", Reply(403, RATE, b""))
    assert responder(api).find_own_reply(action()) == "t1_r1"


def test_find_own_reply_matches_our_account_and_exact_text(api: FakeAPI) -> None:
    ours = comment("r1", "Thanks, we\\'re on it.", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = "Thanks, we're on it."
    theirs = comment("r2", "Thanks, we're on it.", author="mimic", parent="t1_c1")
    serve_thread(api, theirs, ours)
    assert responder(api).find_own_reply(action()) == "t1_r1"
    assert responder(api).find_own_reply(action(text="Something else")) is None
    # Newest first: in a busy thread our minutes-old reply is on the first page.
    assert {r.query["sort"][0] for r in api.seen("GET", "/comments/abc123/_/c1/?")} == {"new"}


def test_find_own_reply_reads_reddits_escapes_and_unicode_forms(api: FakeAPI) -> None:
    # Reddit returns our "&" as "&amp;" and "<3" as "&lt;3": compared as sent, our own
    # reply was a stranger, and a crashed send was posted again.
    rule = comment("r1", "Caf\u0065\u0301 &amp; bar &lt;3", author=BRAND, parent="t1_c1")
    # A person's reply is sent markdown-escaped ("&amp;", "\\<"), and escaped again.
    person = comment("r2", "Tea &amp;amp; \\&lt;cake", author=BRAND, parent="t1_c1")
    serve_thread(api, rule, person)
    ours = replace(action(text="Caf\u00e9 & bar <3"), markdown=True)
    assert responder(api).find_own_reply(ours) == "t1_r1"
    assert responder(api).find_own_reply(action(text="Tea & <cake")) == "t1_r2"


def reddit_runtime(make_runtime: RuntimeFactory, api: FakeAPI, **overrides: Any) -> Runtime:
    rt = make_runtime(
        **overrides,
        sources=[
            {
                "name": "inbox",
                "type": "reddit_inbox",
                "comment_replies": False,
                "submission_replies": False,
                "context_depth": 0,
            }
        ],
        responders={"reddit": {"type": "reddit"}},
        reddit=reddit_section(api),
    )
    reddit = rt.responders[Platform.REDDIT]
    assert isinstance(reddit, RedditResponder)
    reddit.clock = rt.clock  # the runtime builds it with the system clock
    # Ten minutes after the fake items were written: the bot answers fresh mentions only.
    assert isinstance(rt.clock, FakeClock)
    rt.clock.set(datetime.fromtimestamp(T0, UTC) + timedelta(minutes=10))
    return rt


def mention_from(api: FakeAPI, author: str, text: str = "u/acme_official my order is late") -> None:
    serve_token(api)
    api.add("GET", "/message/mentions", listing(comment("c1", text, author=author, inbox="m")))
    api.add("POST", "/api/read_message/?", Reply.json({}))


def answered(make_runtime: RuntimeFactory, api: FakeAPI) -> Runtime:
    """The daemon's round over the served mention: poll, decide, post the reply (r9)."""
    api.add("POST", "/api/comment/?", created_comment("r9", "t1_c1", "ignored"))
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    return rt


def test_pipeline_replies_in_the_thread_with_the_handle_escaped(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "_bob_")
    rt = answered(make_runtime, api)

    (post,) = api.seen("POST", "/api/comment/?")
    assert post.form()["thing_id"] == ["t1_c1"]
    text = post.form()["text"][0]
    assert "\\_bob\\_" in text
    assert "_bob_" not in text.replace("\\_bob\\_", "")
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r9")
        outbound = session.scalars(select(Message).where(Message.external_id == "t1_r9")).one()
        assert (outbound.direction, outbound.in_reply_to) == ("outbound", "t1_c1")


def test_deleted_target_sends_the_case_to_a_human(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "carol")
    api.add("POST", "/api/comment/?", api_error("DELETED_COMMENT", "deleted", "parent"))
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert row.status == ActionStatus.DEAD
        assert row.last_error == "Reddit refused the reply: the comment was deleted"
        assert session.scalars(select(Case)).one().state == "awaiting_human"


def test_an_unlisted_error_code_keeps_reddits_explanation(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A code missing from PERMANENT_CODES said only "SOMETHING_NEW": Reddit's own
    # sentence is what tells the team why the reply went nowhere.
    mention_from(api, "erin")
    refused = api_error("SOMETHING_NEW", "that community only allows approved users", "text")
    api.add("POST", "/api/comment/?", refused)
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert row.status == ActionStatus.DEAD
        assert row.last_error == (
            "Reddit refused the reply: SOMETHING_NEW: that community only allows approved users"
        )


def test_long_ratelimit_defers_the_action_to_the_reset(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "dave")
    wait = api_error("RATELIMIT", "Take a break for 9 minutes before trying again.")
    api.add("POST", "/api/comment/?", wait)
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert row.status == ActionStatus.FAILED
        assert row.next_attempt_at == rt.clock.now() + timedelta(minutes=9)


def test_a_429_with_a_date_defers_the_action_to_that_date_without_counting_it(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "erin")
    rt = reddit_runtime(make_runtime, api)
    date = format_datetime(rt.clock.now() + timedelta(minutes=9), usegmt=True)
    api.add("POST", "/api/comment/?", Reply(429, {"retry-after": date, **RATE}, b"whoa"))
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.attempts) == (ActionStatus.FAILED, 0)
        assert row.last_error == "Reddit rate limit: 429 Too Many Requests"
        assert row.next_attempt_at == rt.clock.now() + timedelta(minutes=9)


def test_a_reply_held_by_ratelimit_past_max_attempts_is_still_sent(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Each RATELIMIT used up an attempt: 7 "take a break" answers in a row killed a
    # sound reply and handed its case to a person.
    mention_from(api, "dave")
    wait = api_error("RATELIMIT", "Take a break for 9 minutes before trying again.")
    api.add("POST", "/api/comment/?", *[wait] * 7, created_comment("r9", "t1_c1", "ignored"))
    serve_thread(api)  # each retry looks for an earlier post first: none
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    for _ in range(7):
        dispatch_outbox(rt)
        with transaction(rt.sessions) as session:
            row = session.scalars(select(ActionRow)).one()
            assert (row.status, row.attempts) == (ActionStatus.FAILED, 0)
        rt.clock.advance(minutes=9)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r9")
        assert "send_failed" not in session.scalars(select(Event.kind)).all()
    assert len(api.seen("POST", "/api/comment/?")) == 8


def test_stale_sending_action_is_recovered_without_posting_twice(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "erin")
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        # The worker died after Reddit accepted the post but before "sent" was stored.
        row.status, row.updated_at = ActionStatus.SENDING, rt.clock.now() - timedelta(hours=1)
        text = row.text
    ours = comment("r5", "", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = text  # a rule's template: posted as written
    serve_thread(api, ours)
    dispatch_outbox(rt)
    assert api.seen("POST", "/api/comment/?") == []
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r5")


def deep_thread(target: dict[str, Any]) -> Reply:
    """The comment page of a reply deep in a thread: the 8 parents Reddit shows at most,
    then the target, whose own replies Reddit hides behind "continue this thread" (a
    ``more`` with no children, which praw's replace_more drops)."""
    more = {"kind": "more", "data": {"count": 0, "name": "t1__", "id": "_", "depth": 9}}
    more["data"] |= {"parent_id": target["data"]["name"], "children": []}
    target["data"]["replies"] = {"kind": "Listing", "data": {"children": [more]}}
    node = target
    for level in range(8, 0, -1):
        parent = comment(f"p{level}", "and then?", parent=f"t1_p{level - 1}" if level > 1 else None)
        parent["data"]["replies"] = {"kind": "Listing", "data": {"children": [node]}}
        node = parent
    body = [listing_body(submission("abc123", "My order")), listing_body(node)]
    return Reply.json(body, headers=RATE)


def test_a_crashed_send_under_a_deep_comment_is_found_not_posted_again(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """Under a comment 8 levels deep Reddit shows our reply to it only behind "continue
    this thread": looked for in the thread, it was not found and posted a second time."""
    mention_from(api, "erin")
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        row.status, row.updated_at = ActionStatus.SENDING, rt.clock.now() - timedelta(hours=1)
        text = row.text
    ours = comment("r5", "", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = text
    api.add("GET", "/api/info/?", listing(comment("c1", "my order is late", parent="t1_p8")))
    deep = deep_thread(comment("c1", "my order is late", parent="t1_p8"))
    api.add("GET", "/comments/abc123/_/c1/?", deep)
    elsewhere = comment("r4", text, author=BRAND, parent="t1_other")
    api.add("GET", f"/user/{BRAND}/comments", listing(elsewhere, ours))
    api.add("POST", "/api/comment/?", created_comment("r6", "t1_c1", text))
    dispatch_outbox(rt)
    assert api.seen("POST", "/api/comment/?") == []
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r5")


def test_builder_uses_the_brand_accounts(api: FakeAPI) -> None:
    settings = RedditSettings.model_validate(reddit_section(api))
    built = build_reddit_responder(settings, Brand(name="Acme", accounts={"reddit": ["Acme_HQ"]}))
    assert built.own_handles == frozenset({"acme_hq"})


def test_find_own_reply_under_a_submission_reads_its_top_level_comments(api: FakeAPI) -> None:
    serve_token(api)
    ours = comment("r7", "Thanks, we're on it.", author=BRAND, parent="t3_abc123")
    nested = comment("r8", "Thanks, we're on it.", author=BRAND, parent="t1_other")
    body = [listing_body(submission("abc123", "My order")), listing_body(nested, ours)]
    api.add("GET", "/comments/abc123/?", Reply.json(body, headers=RATE))
    assert responder(api).find_own_reply(action("t3_abc123")) == "t1_r7"
    assert api.seen("GET", "/comments/abc123/")[0].query["sort"] == ["new"]


def test_a_reply_too_long_once_escaped_is_refused_not_cut(api: FakeAPI) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", created_comment("new1", "t1_c1", "unused"))
    text = "Steps: " + "(see 1) " * 1200  # 9,607 typed, 12,006 once ( and ) are escaped
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action(text=text))
    assert caught.value.permanent is True
    assert str(caught.value) == (
        "the reply is 12006 characters as Reddit markdown; Reddit allows 10000: shorten it"
    )
    assert api.seen("POST", "/api/comment/?") == []
    # Just under the limit once escaped: posted whole.
    fits = "Steps: " + "(see 1) " * 999
    assert len(render(action(text=fits))) == 9_996
    assert responder(api).send(action(text=fits)).external_id == "t1_new1"
    (post,) = api.seen("POST", "/api/comment/?")
    assert post.form()["text"] == [render(action(text=fits))]


def test_an_answer_keeps_its_markdown_and_a_persons_reply_shows_as_typed(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    """The knowledge base's Reddit answers are the brand's markdown (lists, bold,
    tables); the customer's name inside is escaped; a person's own words are escaped."""
    shutil.copytree(REPO / "config" / "answers", tmp_path / "answers")
    mention_from(api, "_bob_", "u/acme_official do you ship to Ireland?")
    rt = answered(make_runtime, api)
    (post,) = api.seen("POST", "/api/comment/?")
    text = post.form()["text"][0]
    assert text.startswith("Hi \\_bob\\_! We ship to:\n\n* the UK and Ireland\n")
    with transaction(rt.sessions) as session:
        ref = session.scalars(select(Case.id)).one()
    casework_replies.reply(rt, case_ref(ref), "Sorry *again*: see (1)", user="lena")
    dispatch_outbox(rt)
    assert api.seen("POST", "/api/comment/?")[1].form()["text"] == [
        "Sorry \\*again\\*: see \\(1\\)"
    ]


def test_a_persons_line_breaks_stay_line_breaks(api: FakeAPI) -> None:
    # One line break is a space in Reddit markdown: a person's lines (a signature, the
    # steps of a return, an address) ran into one line. A form sends them as CRLF.
    serve_token(api)
    api.add("POST", "/api/comment/?", created_comment("n1", "t1_c1", "unused"))
    typed = "Hi Bob,\r\nyour refund is on its way. \nLena\r\n\r\nPS: order 12"
    assert responder(api).send(action(text=typed)).external_id == "t1_n1"
    (post,) = api.seen("POST", "/api/comment/?")
    assert post.form()["text"] == ["Hi Bob,  \nyour refund is on its way.  \nLena\n\nPS: order 12"]
    # Our reply is ours whether Reddit keeps the spaces that end its lines or not.
    ours = comment("r1", "Hi Bob,\nyour refund is on its way.\nLena\n\nPS: order 12", author=BRAND)
    ours["data"]["parent_id"] = "t1_c1"
    serve_thread(api, ours)
    assert responder(api).find_own_reply(action(text=typed)) == "t1_r1"


def no_comment_returned() -> Reply:
    """praw's reply() gives None for this: Reddit created the comment (a quarantined
    subreddit the account has not opted into) but sent no thing back."""
    return Reply.json({"json": {"errors": [], "data": {"things": []}}}, headers=RATE)


def test_a_reply_reddit_took_without_returning_it_is_found_in_our_history(
    api: FakeAPI,
) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", no_comment_returned())
    api.add("GET", "/api/v1/me", Reply.json({"name": BRAND, "id": "b1"}, headers=RATE))
    elsewhere = comment("r6", "Thanks, we're on it.", author=BRAND, parent="t1_other")
    ours = comment("r7", "Thanks, we're on it.", author=BRAND, parent="t1_c1")
    api.add("GET", f"/user/{BRAND}/comments", listing(elsewhere, ours))
    assert responder(api).send(action()).external_id == "t1_r7"
    assert len(api.seen("POST", "/api/comment/?")) == 1


def test_a_reply_reddit_did_not_return_nor_show_is_temporary_not_refused(
    api: FakeAPI,
) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", no_comment_returned())
    api.add("GET", "/api/v1/me", Reply.json({"name": BRAND, "id": "b1"}, headers=RATE))
    api.add("GET", f"/user/{BRAND}/comments", listing())
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    # Not a refusal: it may be posted, so the retry looks in the thread first.
    assert (caught.value.permanent, caught.value.rate_limited) == (False, False)
    assert str(caught.value) == (
        "Reddit did not return the reply, nor show it among the account's newest "
        "comments: it may have been posted"
    )


@pytest.mark.parametrize(
    "history",
    [Reply(429, {"retry-after": "60", **RATE}, b"whoa there"), Reply(403, RATE, b"")],
    ids=["429", "403"],
)
def test_a_reply_reddit_took_is_not_refused_when_our_history_cannot_be_read(
    api: FakeAPI, history: Reply
) -> None:
    # Reddit created the comment; only the read that finds it failed. Taken for a
    # refusal, the retry posted without looking (429), or a person was told the reply
    # could not be posted and answered again (403).
    serve_token(api)
    api.add("POST", "/api/comment/?", no_comment_returned())
    api.add("GET", "/api/v1/me", Reply.json({"name": BRAND, "id": "b1"}, headers=RATE))
    api.add("GET", f"/user/{BRAND}/comments", history)
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert (caught.value.permanent, caught.value.refused) == (False, False)
    assert str(caught.value).startswith(
        "Reddit did not return the reply, and reading the account's newest comments failed ("
    )
    assert str(caught.value).endswith("): it may have been posted")


@pytest.mark.parametrize(
    "serve",
    [
        lambda api: api.add("GET", "/api/info/?", listing()),
        lambda api: (
            api.add("GET", "/api/info/?", listing(comment("c1", "my order is late"))),
            api.add("GET", "/comments/abc123/_/c1/?", thread_with_replies_missing_target()),
        ),
    ],
    ids=["not-in-info", "not-in-thread"],
)
def test_looking_under_a_comment_reddit_no_longer_has_sends_the_case_to_a_human(
    api: FakeAPI, serve: Any
) -> None:
    """praw raises its own ClientException for a comment gone from Reddit; it passed for
    an unexpected bug and was retried until max_attempts with that message."""
    serve_token(api)
    serve(api)
    with pytest.raises(ResponderError) as caught:
        responder(api).find_own_reply(action())
    assert caught.value.permanent is True
    assert str(caught.value) == (
        "the bot's reply may already be in the thread, check before answering (Reddit "
        "refused the reply (t1_c1 is no longer in its thread: deleted or removed): "
        "banned, private or gone)"
    )


def thread_with_replies_missing_target() -> Reply:
    body = [listing_body(submission("abc123", "My order")), listing_body()]
    return Reply.json(body, headers=RATE)


def test_a_crashed_send_is_found_when_the_brand_lists_another_reddit_account(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """Logged in with a refresh token (which names no account) as u/acme_official, while
    brand.accounts.reddit names only the brand's main account: the reply the dead worker
    posted is ours all the same, and is not posted again."""
    mention_from(api, "erin")
    rt = reddit_runtime(make_runtime, api, brand={"name": "Acme", "accounts": {"reddit": ["acme"]}})
    poll_source(rt, "inbox")
    process_pending(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        row.status, row.updated_at = ActionStatus.SENDING, rt.clock.now() - timedelta(hours=1)
        text = row.text
    ours = comment("r5", "", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = text
    serve_thread(api, ours)
    api.add("GET", "/api/v1/me", Reply.json({"name": BRAND, "id": "u1"}, headers=RATE))
    api.add("POST", "/api/comment/?", created_comment("r6", "t1_c1", text))
    dispatch_outbox(rt)
    assert api.seen("POST", "/api/comment/?") == []
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r5")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(415, {"content-type": "text/html"}, b"<html>nope</html>"),
            "Reddit 415 Unsupported Media Type, unreadable (JSONDecodeError)",
        ),
        (Reply(302), "Reddit 302 Found, unreadable (KeyError)"),
    ],
    ids=["415-html", "302-no-location"],
)
def test_a_reply_answer_prawcore_crashes_on_is_temporary(
    api: FakeAPI, reply: Reply, expected: str
) -> None:
    serve_token(api)
    api.add("POST", "/api/comment/?", reply)
    with pytest.raises(ResponderError) as caught:
        responder(api).send(action())
    assert (caught.value.permanent, caught.value.retry_after) == (False, None)
    assert str(caught.value) == expected
    assert len(api.seen("POST", "/api/comment/?")) == 1


def test_after_a_ratelimit_the_rest_of_the_batch_waits_without_posting(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit's RATELIMIT is the account's ("take a break"): each later reply of the
    # batch was posted all the same, and refused the same way.
    serve_token(api)
    text = "u/acme_official my order is late"
    mentions = [comment("c1", text, author="dave", inbox="m")]
    mentions.append(comment("c2", text, author="erin", inbox="m"))
    api.add("GET", "/message/mentions", listing(*mentions))
    api.add("POST", "/api/read_message/?", Reply.json({}))
    wait = api_error("RATELIMIT", "Take a break for 9 minutes before trying again.")
    api.add("POST", "/api/comment/?", wait)
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    assert len(api.seen("POST", "/api/comment/?")) == 1
    reset = rt.clock.now() + timedelta(minutes=9)
    with transaction(rt.sessions) as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        assert [(r.status, r.attempts, r.next_attempt_at) for r in rows] == [
            (ActionStatus.FAILED, 0, reset),
            (ActionStatus.FAILED, 0, reset),
        ]


def test_a_reply_in_a_thread_reddit_will_not_show_is_handed_over_as_maybe_posted(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A quarantined subreddit: Reddit creates the reply but returns none, the account's
    history does not show it yet, and the retry's look in the thread gets a 403. Told
    only "could not be posted", the person answered under the bot's reply."""
    mention_from(api, "erin")
    api.add("POST", "/api/comment/?", no_comment_returned(), created_comment("r6", "t1_c1", "x"))
    api.add("GET", "/api/v1/me", Reply.json({"name": BRAND, "id": "b1"}, headers=RATE))
    api.add("GET", f"/user/{BRAND}/comments", listing())
    quarantined = {"reason": "quarantined", "message": "Forbidden", "error": 403}
    api.add("GET", "/api/info/?", Reply.json(quarantined, status=403, headers=RATE))
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert len(api.seen("POST", "/api/comment/?")) == 1
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        assert row.status == ActionStatus.DEAD
        assert row.last_error == (
            "the bot's reply may already be in the thread, check before answering "
            "(Reddit refused the reply (403 quarantined): banned, private or gone)"
        )
        case = session.scalars(select(Case)).one()
        assert case.state == "awaiting_human"
        failed = session.scalars(select(Event).where(Event.kind == "send_failed")).one()
        assert failed.detail["error"] == row.last_error


UNREADABLE_ANSWERS = {
    "empty-object": Reply.json({}, headers=RATE),
    "no-data": Reply.json({"json": {"errors": []}}, headers=RATE),
    "204": Reply(204, RATE, b""),
    "a-string": Reply.json("ok", headers=RATE),
    "thing-without-id": Reply.json(
        {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": {}}]}}}, headers=RATE
    ),
    "garbled-errors": Reply.json({"json": {"errors": [["DELETED_COMMENT"]]}}, headers=RATE),
}


@pytest.mark.parametrize("answer", list(UNREADABLE_ANSWERS.values()), ids=list(UNREADABLE_ANSWERS))
def test_a_2xx_answer_praw_cannot_read_is_looked_for_not_a_crash(
    make_runtime: RuntimeFactory, api: FakeAPI, caplog: pytest.LogCaptureFixture, answer: Reply
) -> None:
    """Reddit (or a proxy) answered the comment POST with a success praw cannot read:
    praw's KeyError, TypeError or ValueError passed for a responder crash, with a
    traceback in the log and "KeyError: 0" as the reason the team read."""
    mention_from(api, "erin")
    api.add("POST", "/api/comment/?", answer)
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    assert "responder crashed" not in caplog.text
    row = outbox_row(rt)
    assert (row.status, row.may_have_posted) == (ActionStatus.FAILED, True)
    assert row.last_error == (
        "Reddit did not return the reply, nor show it among the account's newest "
        "comments: it may have been posted"
    )
    # Posted after all: the history read after the answer finds it, and it is sent.
    ours = comment("r7", "", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = row.text
    api.add("GET", f"/user/{BRAND}/comments", listing(ours))
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r7")
    assert len(api.seen("POST", "/api/comment/?")) == 1


def outbox_row(rt: Runtime) -> ActionRow:
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        session.expunge(row)
        return row
