"""The X responder: replies through tweepy's create_tweet, error mapping, recovery, budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from monitor import casework, casework_replies
from monitor.domain import Action, ActionKind, ActionStatus, Platform
from monitor.pipeline import dispatch_outbox, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.sources.x_usage import Hold
from monitor.store.models import ActionRow, Case, Event, Message, SourceState, Usage
from responders.base import ResponderError
from responders.x import XResponder
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.xapi import (
    BRAND_ID,
    CASSETTES,
    MENTIONS,
    SEARCH,
    SHORT_TIMEOUT,
    TOO_MANY,
    USAGE_CAPPED,
    body,
    limits,
    ok,
    problem,
    reply_to,
    tid,
    too_many,
    tweet,
    user,
    x_runtime,
    x_section,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RESET = int((NOW + timedelta(minutes=15)).timestamp())
POSTED = "1456012973835788293"
DELETED = "You attempted to reply to a Tweet that is deleted or not visible to you."
RESTRICTED = (
    "Reply to this conversation is not allowed because you have not been mentioned or "
    "otherwise engaged by the author of the post you are replying to."
)  # the id in the recorded create_tweet answer


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    started = time.monotonic()
    with FakeAPI() as server:
        yield server
    assert time.monotonic() - started < 10


def responder(rt: Runtime) -> XResponder:
    found = rt.responders[Platform.X]
    assert isinstance(found, XResponder)
    return found


def action(text: str = "Sorry Carla, we're on it.", attempts: int = 1) -> Action:
    return Action(
        id=1,
        kind=ActionKind.REPLY,
        platform=Platform.X,
        case_ref="C-1001",
        target_external_id=tid(1),
        conversation_id=tid(1),
        text=text,
        idempotency_key="reply:1:r:1",
        attempts=attempts,
    )


def usage(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        return {u.key: u.count for u in session.scalars(select(Usage))}


def test_the_pipeline_replies_in_thread_through_create_tweet(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(CASSETTES / "test_client_create_and_delete_tweet.yaml")
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    (post,) = api.seen("POST", "/2/tweets")
    assert post.headers["authorization"].startswith("OAuth ")
    sent = post.json()
    assert sent["reply"] == {"in_reply_to_tweet_id": tid(1)}
    assert sent["text"].startswith(("Sorry your order", "Carla, that's not"))
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == ("sent", POSTED)
    assert usage(rt)["x:writes"] == 1


@pytest.mark.parametrize(
    ("reply", "permanent", "message"),
    [
        (
            problem(403, "You are not allowed to create a Tweet with duplicate content."),
            True,
            "duplicate content: X refuses a post identical to an earlier one "
            "(HTTP 403: You are not allowed to create a Tweet with duplicate content.)",
        ),
        (
            problem(403, DELETED),
            True,
            "the post was deleted or is not visible to the brand account (HTTP 403: You attempted"
            " to reply to a Tweet that is deleted or not visible to you.)",
        ),
        (
            problem(403, RESTRICTED),
            True,
            "the author does not allow the brand to reply in this conversation (HTTP 403: Reply"
            " to this conversation is not allowed because you have not been mentioned or "
            "otherwise engaged by the author of the post you are replying to.)",
        ),
        (
            problem(401, "Unauthorized"),
            True,
            "x rejected the posting credentials (x.consumer_key, x.access_token) "
            "(HTTP 401: Unauthorized)",
        ),
        (
            # A wrong x.api_base_url: X itself answers a deleted parent with a 403.
            Reply(404, {"content-type": "text/html"}, b"<h1>Not Found</h1>"),
            True,
            "x.api_base_url has no X posting endpoint (POST /2/tweets answered 404): no "
            "reply can be sent until that setting is fixed (HTTP 404: no detail)",
        ),
        (
            problem(409, "Conflict: the request conflicts with the post's state."),
            True,
            "x refused the reply (HTTP 409: Conflict: the request conflicts with the "
            "post's state.)",
        ),
        (
            problem(422, "Unprocessable Entity"),
            True,
            "x refused the reply (HTTP 422: Unprocessable Entity)",
        ),
        (
            problem(408, "Request Timeout"),
            False,
            "x temporarily failed: HTTP 408: Request Timeout",
        ),
        (
            Reply(503, {}, b"Service Unavailable"),
            False,
            "x temporarily failed: HTTP 503: no detail",
        ),
        (
            Reply(201, {}, b"{}", delay=1.0),
            False,
            "x temporarily failed: timed out: ReadTimeout",
        ),
        (
            Reply.json(["Over capacity"], status=503),
            False,
            "x temporarily failed: HTTP 503: unreadable answer (AttributeError)",
        ),
    ],
)  # fmt: skip
def test_send_errors_are_temporary_or_permanent_with_a_reason(
    make_runtime: RuntimeFactory, api: FakeAPI, reply: Reply, permanent: bool, message: str
) -> None:
    api.add("POST", "/2/tweets", reply)
    rt = x_runtime(make_runtime, api, responder=True, timeout_seconds=SHORT_TIMEOUT)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action())
    assert (caught.value.permanent, str(caught.value)) == (permanent, message)
    assert "x:writes" not in usage(rt)


def test_429_is_temporary_and_retries_after_the_reset(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("POST", "/2/tweets", too_many(RESET))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action())
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == datetime.fromtimestamp(RESET, UTC)
    assert str(caught.value) == "x rate limited: HTTP 429: Too Many Requests"


def queued_reply(make_runtime: RuntimeFactory, api: FakeAPI) -> Runtime:
    """A reply to one mention in the outbox; the thread check before a retry finds nothing."""
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("GET", SEARCH, ok(body([])))
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    return rt


def outbox_row(rt: Runtime) -> ActionRow:
    with rt.sessions() as session:
        return session.scalars(select(ActionRow)).one()


def test_a_reply_rate_limited_for_longer_than_max_attempts_windows_is_still_sent(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Each 429 used up an attempt: a write quota spent for 7 windows killed the reply
    # and handed its case to a person, though nothing was wrong with it.
    windows = 7
    resets = [NOW + timedelta(minutes=15 * n) for n in range(1, windows + 1)]
    refusals = [too_many(int(reset.timestamp())) for reset in resets]
    api.add("POST", "/2/tweets", *refusals, Reply.json({"data": {"id": tid(9), "text": "x"}}, 201))
    rt = queued_reply(make_runtime, api)
    for reset in resets:
        dispatch_outbox(rt)
        row = outbox_row(rt)
        assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 0, reset)
        rt.clock.set(reset)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.result_external_id) == ("sent", tid(9))
    assert len(api.seen("POST", "/2/tweets")) == windows + 1
    with rt.sessions() as session:
        assert "send_failed" not in session.scalars(select(Event.kind)).all()


def test_a_spent_usage_cap_is_not_a_15_minute_rate_limit(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's usage-cap 429 carries the 15-minute window's reset: the reply was tried again
    # (and an attempt used up) every 15 minutes, and the error said "rate limited".
    api.add("POST", "/2/tweets", Reply.json(USAGE_CAPPED, 429, limits(39_999, RESET, 40_000)))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action())
    assert str(caught.value) == (
        "x usage cap reached (HTTP 429: Usage cap exceeded: Monthly product cap; "
        "UsageCapExceeded): X takes no requests from this App's project until the cap "
        "resets or the plan changes; the reply is tried again at 2026-11-20 10:00 UTC"
    )
    assert caught.value.retry_after == NOW + timedelta(hours=1)
    assert (caught.value.permanent, caught.value.rate_limited) == (False, False)
    assert "x:writes" not in usage(rt)


def test_a_usage_capped_reply_is_tried_hourly_then_a_person_answers(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("POST", "/2/tweets", Reply.json(USAGE_CAPPED, 429, limits(39_999, RESET, 40_000)))
    rt = queued_reply(make_runtime, api)
    dispatch_outbox(rt)
    assert outbox_row(rt).next_attempt_at == NOW + timedelta(hours=1)
    rt.clock.advance(minutes=15)  # type: ignore[attr-defined]  # the window's reset
    dispatch_outbox(rt)
    assert len(api.seen("POST", "/2/tweets")) == 1
    # No end is announced: the attempts count, an hour apart, and after max_attempts the
    # case goes to a person, who can answer from X's own app (the API cap does not apply).
    attempts = rt.settings.dispatch.max_attempts
    for _ in range(attempts - 1):
        rt.clock.advance(hours=1)  # type: ignore[attr-defined]
        dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.attempts) == (ActionStatus.DEAD, attempts)
    assert str(row.last_error).startswith("x usage cap reached")
    assert len(api.seen("POST", "/2/tweets")) == attempts
    with rt.sessions() as session:
        (failed,) = session.scalars(select(Event).where(Event.kind == "send_failed"))
        assert failed.detail["reason"] == f"gave up after {attempts} attempts"
        assert session.scalars(select(Case)).one().state == "awaiting_human"


def test_a_rate_limited_thread_check_waits_for_the_reset(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # It had no reset time: the retry backed off 30 s, 60 s... into the same spent
    # window, each time an attempt used up.
    api.add("GET", SEARCH, too_many(RESET))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).find_own_reply(action(attempts=2))
    assert str(caught.value) == (
        "cannot check the thread for our reply: x rate limited: HTTP 429: Too Many Requests"
    )
    assert caught.value.retry_after == datetime.fromtimestamp(RESET, UTC)
    assert caught.value.rate_limited is True


def test_find_own_reply_searches_the_conversation_for_our_text(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    ours = tweet(7, "Sorry Carla,  we&#39;re on it.", author="783214", **reply_to(1))
    elsewhere = tweet(8, "Sorry Carla, we're on it.", author="783214", **reply_to(5, 1))
    other = tweet(6, "Something else", author="783214", **reply_to(1))
    api.add("GET", SEARCH, ok(body([elsewhere, other, ours])))
    rt = x_runtime(make_runtime, api, responder=True)
    assert responder(rt).find_own_reply(action()) == tid(7)
    (search,) = api.seen("GET", SEARCH)
    assert search.query["query"] == [f"conversation_id:{tid(1)} from:783214"]
    assert responder(rt).find_own_reply(action("A different reply")) is None


def test_find_own_reply_signs_with_oauth1_when_no_bearer_token_is_set(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A brand that only answers on X (no X source) needs no app bearer token, and the
    config check asks for none: the thread search before a retry sent "Bearer None",
    got a 401, and every retried reply went to a person."""
    ours = tweet(7, "Sorry Carla, we're on it.", author="783214", **reply_to(1))
    api.add("GET", SEARCH, ok(body([ours])))
    rt = x_runtime(make_runtime, api, sources=[], responder=True, bearer_token="")
    assert responder(rt).find_own_reply(action()) == tid(7)
    (search,) = api.seen("GET", SEARCH)
    assert search.headers["authorization"].startswith("OAuth ")


def test_find_own_reply_reads_with_the_app_bearer_token_when_there_is_one(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", SEARCH, ok(body([])))
    rt = x_runtime(make_runtime, api, responder=True)
    assert responder(rt).find_own_reply(action()) is None
    (search,) = api.seen("GET", SEARCH)
    assert search.headers["authorization"].startswith("Bearer ")
    assert "None" not in search.headers["authorization"]


def test_find_own_reply_sees_past_the_handles_and_links_x_adds(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X puts the replied-to authors' handles before a reply's text and turns links into
    t.co ones: our post reads back unlike what we sent, and a retry posted it again."""
    sent = "Sorry Carla, we're on it: status.acme.com has updates."
    ours = tweet(
        7,
        "@carla @acme Sorry Carla, we&#39;re on it: https://t.co/Xy12AbC has updates.",
        author="783214",
        **reply_to(1),
    )
    api.add("GET", SEARCH, ok(body([ours])))
    rt = x_runtime(make_runtime, api, responder=True)
    assert responder(rt).find_own_reply(action(sent)) == tid(7)
    assert responder(rt).find_own_reply(action("Sorry Carla, we're on it.")) is None


@pytest.mark.parametrize(
    ("sent", "as_x_returns"),
    [
        ("De\u0301sole\u0301 Carla, on s'en occupe.", "D\u00e9sol\u00e9 Carla, on s'en occupe."),
        ("D\u00e9sol\u00e9 Carla, on s'en occupe.", "De\u0301sole\u0301 Carla, on s'en occupe."),
        (
            "Fish &not chips & R&D <3, &lt;b&gt;",
            "Fish &amp;not chips &amp; R&amp;D &lt;3, &amp;lt;b&amp;gt;",
        ),
    ],
    ids=["ours-decomposed", "x-decomposed", "entity-like-text-of-ours"],
)
def test_find_own_reply_sees_past_unicode_forms_and_xs_entity_escaping(
    make_runtime: RuntimeFactory, api: FakeAPI, sent: str, as_x_returns: str
) -> None:
    """X keeps a post's text NFC and escapes & < > as entities: a reply that read back
    in another form, or ours unescaped as if it were X's (``&not`` is an HTML entity),
    was not recognised, and a retry posted it twice."""
    ours = tweet(7, as_x_returns, author="783214", **reply_to(1))
    api.add("GET", SEARCH, ok(body([ours])))
    rt = x_runtime(make_runtime, api, responder=True)
    assert responder(rt).find_own_reply(action(sent)) == tid(7)
    assert responder(rt).send(action(sent, attempts=2)).external_id == tid(7)
    assert api.seen("POST", "/2/tweets") == []


def test_a_retry_looks_for_an_earlier_post_before_posting_again(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", SEARCH, ok(body([tweet(7, "Sorry Carla, we're on it.", author="783214")])))
    rt = x_runtime(make_runtime, api, responder=True)
    assert responder(rt).send(action(attempts=2)).external_id == tid(7)
    assert api.seen("POST", "/2/tweets") == []


def test_a_duplicate_refusal_after_a_timed_out_post_is_checked_again_not_escalated(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X took the first post but the answer timed out; recent search does not show the
    post yet, and X refuses the second as a duplicate. The next try finds it."""
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    duplicate = problem(403, "You are not allowed to create a Tweet with duplicate content.")
    api.add("POST", "/2/tweets", Reply(201, {}, b"{}", delay=1.0), duplicate)
    api.add("GET", SEARCH, ok(body([])))
    rt = x_runtime(make_runtime, api, responder=True, timeout_seconds=SHORT_TIMEOUT)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)  # timed out
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)  # not found yet; refused as a duplicate
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.last_error) == (
            "failed",
            "X refuses the reply as a duplicate, probably of our earlier attempt that it took; "
            "the thread is checked again before the next try (HTTP 403: You are not allowed "
            "to create a Tweet with duplicate content.)",
        )
        assert "send_failed" not in session.scalars(select(Event.kind)).all()
        text = row.text
    posted = tweet(9, f"@carla {text}", author="783214", **reply_to(1))
    api.add("GET", SEARCH, ok(body([posted])))
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == ("sent", tid(9))
    assert len(api.seen("POST", "/2/tweets")) == 2


def test_urls_are_refused_unless_allowed_and_cost_more(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("POST", "/2/tweets", Reply.json({"data": {"id": tid(9), "text": "x"}}, 201))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError, match="contains a URL") as caught:
        responder(rt).send(action("See status.acme.com for updates"))
    assert caught.value.permanent is True
    assert api.seen("POST", "/2/tweets") == []
    allowed = x_runtime(make_runtime, api, responder=True, allow_urls_in_replies=True)
    responder(allowed).send(action("See https://status.acme.com for updates"))
    assert usage(allowed) == {"x:requests": 1, "x:writes": 1, "x:writes_url": 1}


def test_the_write_budget_holds_sends_until_the_next_day(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("POST", "/2/tweets", Reply.json({"data": {"id": tid(9), "text": "x"}}, 201))
    rt = x_runtime(make_runtime, api, responder=True, budget={"writes_per_day": 1})
    responder(rt).send(action())
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action("Another reply"))
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == datetime(2026, 11, 21, tzinfo=UTC)
    assert len(api.seen("POST", "/2/tweets")) == 1
    with rt.sessions() as session:
        (event,) = session.scalars(select(Event).where(Event.kind == "budget"))
        assert event.detail == {"budget": "writes", "spent": 1, "limit": 1}


def test_two_sends_at_once_cannot_both_take_the_last_write(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Each send read the day's writes, then posted: two workers dispatching at once both
    # saw 0 of 1 and both posted.
    arrived, gate = threading.Event(), threading.Event()
    created = Reply.json({"data": {"id": tid(9), "text": "x"}}, 201)
    api.add("POST", "/2/tweets", replace(created, arrived=arrived, gate=gate))
    rt = x_runtime(make_runtime, api, responder=True, budget={"writes_per_day": 1})
    first = threading.Thread(target=responder(rt).send, args=(action(),))
    first.start()
    assert arrived.wait(timeout=60)  # the first post is under way, its answer held back
    try:
        with pytest.raises(ResponderError, match="x write budget: 1 of 1 posts today"):
            responder(rt).send(action("Another reply"))
    finally:
        gate.set()
        first.join()
    assert len(api.seen("POST", "/2/tweets")) == 1
    assert usage(rt) == {"x:requests": 1, "x:writes": 1}


def test_a_post_with_restricted_replies_is_escalated_and_never_sent(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    restricted = tweet(1, "acme my order is late", reply_settings="following")
    api.add("GET", SEARCH, ok(body([restricted])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources, responder=True)
    poll_source(rt, "brand")
    process_pending(rt)
    dispatch_outbox(rt)
    with rt.sessions() as session:
        assert session.scalars(select(ActionRow)).all() == []
        assert session.scalars(select(Case)).one().state == "awaiting_human"
    # A reply queued some other way (an approved draft) is still refused before posting.
    with pytest.raises(ResponderError, match="do not mention the brand account") as caught:
        responder(rt).send(action())
    assert caught.value.permanent is True
    assert api.seen("POST", "/2/tweets") == []


def test_an_oauth2_user_token_posts_as_bearer_instead_of_oauth1(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("POST", "/2/tweets", Reply.json({"data": {"id": tid(9), "text": "x"}}, 201))
    rt = x_runtime(
        make_runtime,
        api,
        responder=True,
        consumer_key="",
        consumer_secret="",
        access_token="",
        access_token_secret="",
        oauth2_user_token="user-token-secret",
    )
    assert responder(rt).send(action()).external_id == tid(9)
    (post,) = api.seen("POST", "/2/tweets")
    assert post.headers["authorization"] == "Bearer user-token-secret"


def test_a_budget_stop_notifies_the_configured_channels_once(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("POST", "/2/tweets", Reply.json({"data": {"id": tid(9), "text": "x"}}, 201))
    rt = make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        responders={"x": {"type": "x"}, "reddit": {"type": "recording", "path": None}},
        x=x_section(api, budget={"writes_per_day": 1, "notify": ["ops"]}),
        channels={"ops": {"url": "json://127.0.0.1:9/ops"}},
    )
    responder(rt).send(action())
    for text in ("Another reply", "And another"):
        with pytest.raises(ResponderError):
            responder(rt).send(action(text))
    with rt.sessions() as session:
        (alert,) = session.scalars(select(ActionRow).where(ActionRow.kind == "notify"))
    assert (alert.case_id, alert.channel, alert.status) == (None, "ops", "pending")
    assert alert.text.startswith("X writes budget reached for 2026-11-20 (UTC)\nPosting stops")


def test_budget_notify_channels_must_exist(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    with pytest.raises(ValueError, match=r"x\.budget\.notify\.0\n  unknown channel 'ops'"):
        make_runtime(
            sources=[{"name": "mentions", "type": "x_mentions"}],
            x=x_section(api, budget={"notify": ["ops"]}),
        )


def test_the_thread_check_counts_includes_and_stops_at_the_read_budget(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    found = body(
        [tweet(7, "not this one", author="783214", **reply_to(1))],
        users=[user("783214", "acme")],
        included=[tweet(1, "the parent")],
    )
    api.add("GET", SEARCH, ok(found))
    rt = x_runtime(make_runtime, api, responder=True, budget={"reads_per_day": 301})
    assert responder(rt).find_own_reply(action()) is None
    # Billed like a source's page: the included parent and author too.
    assert usage(rt) == {"x:requests": 1, "x:reads": 2, "x:user_reads": 1}
    # 2 read + a full page of 100 and its includes (300) could pass 301: no request;
    # the send waits for midnight.
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action(attempts=2))
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == datetime(2026, 11, 21, tzinfo=UTC)
    assert str(caught.value).startswith("x read budget: 2 of 301 posts read today")
    assert len(api.seen("GET", SEARCH)) == 1
    assert api.seen("POST", "/2/tweets") == []


def test_a_reply_over_x_weighted_length_is_refused_before_posting(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    rt = x_runtime(make_runtime, api, responder=True)
    cjk = "ご不便をおかけして申し訳ありません。" * 9  # 162 characters, X counts 324
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action(cjk))
    assert caught.value.permanent is True
    assert str(caught.value) == "the reply is too long for X (324 characters: x allows 280)"
    assert api.seen("POST", "/2/tweets") == []


def test_a_spent_24_hour_user_limit_waits_for_its_own_reset(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X's 429 for the 24-hour posting limit carries the 15-minute window's reset in
    x-rate-limit-reset and the day's in x-user-limit-24hour-reset: waiting for the first
    asked again (and was refused) every 15 minutes for up to a day."""
    day_reset = int((NOW + timedelta(hours=20)).timestamp())
    headers = {
        **limits(199, RESET, 200),
        "x-user-limit-24hour-limit": "17",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(day_reset),
    }
    api.add("POST", "/2/tweets", Reply.json(TOO_MANY, 429, headers))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action())
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == datetime.fromtimestamp(day_reset, UTC)


def test_a_bare_country_domain_x_does_not_link_counts_its_full_length(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X links no bare ``name.<country code>`` without a path (twitter-text's
    invalidShortDomain; .co and .tv aside): it counts every character. Counted as a
    23-character link, a reply X refuses as too long was promised and sent."""
    rt = x_runtime(make_runtime, api, responder=True, allow_urls_in_replies=True)
    domain = "kundenservice-beispielfirma.de"  # 30 characters
    text = "Details: " + domain + " " + "x" * 242  # X counts 9 + 30 + 1 + 242 = 282
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action(text))
    assert str(caught.value) == "the reply is too long for X (282 characters: x allows 280)"
    assert api.seen("POST", "/2/tweets") == []


def test_the_thread_check_counts_the_reads_held_by_requests_under_way(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A source's request under way held 30 of the day's 310 reads; the search checked
    # the 0 read only, and the two together could bill 330.
    api.add("GET", SEARCH, ok(body([])))
    rt = x_runtime(make_runtime, api, responder=True, budget={"reads_per_day": 310})
    ledger = responder(rt).ledger
    hold = ledger.hold_reads(NOW, 30, 310)
    with pytest.raises(ResponderError) as caught:
        responder(rt).find_own_reply(action())
    # Soon counted and released: the check waits 30 seconds, not until midnight.
    assert (caught.value.permanent, caught.value.rate_limited) == (False, True)
    assert caught.value.retry_after == NOW + timedelta(seconds=30)
    assert str(caught.value).startswith("x read budget: 30 posts held by X requests under way")
    assert api.seen("GET", SEARCH) == []
    assert isinstance(hold, Hold)
    ledger.release_reads(hold)
    assert responder(rt).find_own_reply(action()) is None
    assert len(api.seen("GET", SEARCH)) == 1


def test_the_thread_check_holds_its_worst_case_while_it_searches(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The search held nothing: a source polling meanwhile saw the day's 0 read, and its
    # page and the search's could bill 330 of 310.
    arrived, gate = threading.Event(), threading.Event()
    api.add("GET", SEARCH, replace(ok(body([])), arrived=arrived, gate=gate))
    api.add("GET", MENTIONS, ok(body([])))
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    rt = x_runtime(
        make_runtime, api, sources=sources, responder=True, budget={"reads_per_day": 310}
    )
    search = threading.Thread(target=responder(rt).find_own_reply, args=(action(),))
    search.start()
    assert arrived.wait(timeout=60)  # the search is under way, its answer held back
    poll_source(rt, "mentions")
    gate.set()
    search.join()
    assert api.seen("GET", MENTIONS) == []
    with rt.sessions() as session:
        mentions = session.get(SourceState, "mentions")
        assert mentions is not None
        assert mentions.last_error is not None
        assert mentions.last_error.startswith("x read budget: 300 posts held by X requests")
        held = session.scalars(select(Usage.key).where(Usage.key.startswith("x:reads_held")))
        assert list(held) == []  # released once the search was counted


@pytest.mark.parametrize("link", ["acme.ca/help", "acme.nl/klantenservice", "acme.ai/status"])
def test_a_link_x_makes_of_any_ending_it_links_is_refused_unless_allowed(
    make_runtime: RuntimeFactory, api: FakeAPI, link: str
) -> None:
    """The URL check knew fewer endings than the length count: X links acme.ca/help
    (and bills the post at the URL price) while the reply passed as having no URL."""
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError, match="contains a URL") as caught:
        responder(rt).send(action(f"Sorry Carla, see {link} for updates"))
    assert caught.value.permanent is True
    assert api.seen("POST", "/2/tweets") == []


def test_the_thread_check_is_held_to_the_posts_its_includes_could_bring(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The check left room for the search's 100 posts only; the parents and quoted posts
    # of those 100 come back in includes.tweets and are billed too, up to 300.
    api.add("GET", SEARCH, ok(body([])))
    rt = x_runtime(make_runtime, api, responder=True, budget={"reads_per_day": 350})
    responder(rt).ledger.add(NOW, {"x:reads": 100})
    with pytest.raises(ResponderError) as caught:
        responder(rt).find_own_reply(action())
    assert str(caught.value).startswith("x read budget: 100 of 350 posts read today")
    assert api.seen("GET", SEARCH) == []


@pytest.mark.parametrize("link", ["acme.ca/help", "acme.nl/klantenservice", "acme.ai/status"])
def test_find_own_reply_sees_a_link_of_any_ending_x_links_as_its_t_co_form(
    make_runtime: RuntimeFactory, api: FakeAPI, link: str
) -> None:
    """X makes a t.co link of acme.ca/help (the length count and the URL check know it),
    but the thread check compared it as plain text: our post was not recognised, and a
    retry posted it again."""
    sent = f"Sorry Carla, see {link} for updates."
    ours = tweet(
        7, "@carla Sorry Carla, see https://t.co/Xy12AbC for updates.", author="783214",
        **reply_to(1),
    )  # fmt: skip
    api.add("GET", SEARCH, ok(body([ours])))
    rt = x_runtime(make_runtime, api, responder=True, allow_urls_in_replies=True)
    assert responder(rt).find_own_reply(action(sent)) == tid(7)
    assert responder(rt).send(action(sent, attempts=2)).external_id == tid(7)
    assert api.seen("POST", "/2/tweets") == []


def test_the_thread_check_looks_for_posts_of_the_account_that_posts(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """Mentions of @acme (x.user_id) answered from @acmehelp, whose OAuth 1.0a token
    names its own id: the thread check searched from:<x.user_id>, never found the reply
    @acmehelp had posted, and a retry posted it again."""
    ours = tweet(7, "@carla Sorry Carla, we're on it.", author="555", **reply_to(1))
    api.add("GET", SEARCH, ok(body([ours])))
    rt = x_runtime(make_runtime, api, responder=True, access_token="555-at")
    assert responder(rt).find_own_reply(action()) == tid(7)
    (search,) = api.seen("GET", SEARCH)
    assert search.query["query"] == [f"conversation_id:{tid(1)} from:555"]


def test_after_a_429_the_rest_of_the_batch_waits_for_the_reset_without_posting(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's posting window is the account's, not the reply's: each later reply of the
    # batch was posted into the spent window all the same, one 429 each.
    mentions = [tweet(1), tweet(2, "@acme where is my order", author="43")]
    users = [user("42", "carla"), user("43", "dave")]
    api.add("GET", MENTIONS, ok(body(mentions, users=users)))
    api.add("POST", "/2/tweets", too_many(RESET))
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    assert len(api.seen("POST", "/2/tweets")) == 1
    reset = datetime.fromtimestamp(RESET, UTC)
    with rt.sessions() as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        assert [(r.status, r.attempts, r.next_attempt_at) for r in rows] == [
            ("failed", 0, reset),
            ("failed", 0, reset),
        ]
        assert rows[1].last_error == "x rate limited: HTTP 429: Too Many Requests"


def test_a_read_budget_no_thread_check_can_ever_fit_hands_the_retry_to_a_person(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A reads_per_day below the search's worst case (300) fits it on no day: the retry
    of a send that may have posted waited for midnight, not counted as an attempt, and
    met the same refusal every day, so the reply never reached a person. A source with
    such a budget stops for good (docs/x.md); the retry now goes to a person too."""
    api.add("GET", SEARCH, ok(body([])))
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 50}]
    rt = x_runtime(
        make_runtime, api, sources=sources, responder=True, budget={"reads_per_day": 250}
    )
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action(attempts=2))
    assert (caught.value.permanent, caught.value.rate_limited) == (True, False)
    assert str(caught.value) == (
        "x read budget: the check for an earlier post of this reply may read 300 posts "
        "(a search of 100 and the posts they reference), more than "
        "x.budget.reads_per_day (250) allows in a day; a person must check the thread "
        "and answer, or raise the budget"
    )
    assert api.seen("GET", SEARCH) == []
    assert api.seen("POST", "/2/tweets") == []
    with rt.sessions() as session:
        assert session.scalars(select(Event).where(Event.kind == "budget")).all() == []


def test_a_429_whose_reset_lies_years_ahead_is_no_wait_for_then(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X's longest posting window is a day; a reset years ahead (a garbled header) held
    the reply, uncounted as an attempt, and every other reply of the worker, until then."""
    far = int((NOW + timedelta(days=3650)).timestamp())
    api.add("POST", "/2/tweets", too_many(far), ok({"data": {"id": POSTED, "text": "x"}}))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action())
    assert (caught.value.rate_limited, caught.value.retry_after) == (True, None)
    # The rest of the batch is not refused without a request until then either.
    assert responder(rt).send(action()).external_id == POSTED


def test_a_post_a_failed_send_made_is_counted_when_the_thread_check_finds_it(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X created the post and answered 503: the write was given back as never made, and
    # the retry's thread check found the post and recorded it sent without counting it,
    # so x:writes fell one short of the posts X created (and bills).
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("POST", "/2/tweets", Reply(503, {}, b"Service Unavailable"))
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)  # X made the post, but answered 503
    assert "x:writes" not in usage(rt)
    with rt.sessions() as session:
        text = session.scalars(select(ActionRow.text)).one()
    posted = tweet(9, f"@carla {text}", author="783214", **reply_to(1))
    api.add("GET", SEARCH, ok(body([posted])))
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.result_external_id) == ("sent", tid(9))
    assert len(api.seen("POST", "/2/tweets")) == 1
    assert usage(rt)["x:writes"] == 1


# X's current words for a reply its API will not post: the replied-to post neither
# mentions the posting account nor is its own (X's own app is not so limited).
ONLY_MENTIONED = "You can only reply to or quote posts where you are mentioned or are the author."
# The older words for a post whose author limits who may reply.
AUTHOR_LIMITED = "The original Tweet author restricted who can reply to this Tweet."


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        (
            ONLY_MENTIONED,
            "X's API takes a reply only to a post that mentions the posting account or that "
            "it wrote; a person can answer from X's own app",
        ),
        (AUTHOR_LIMITED, "the author does not allow the brand to reply in this conversation"),
    ],
    ids=["only-where-mentioned", "author-restricted"],
)
def test_a_reply_x_will_not_take_in_the_thread_goes_to_a_person_saying_why(
    make_runtime: RuntimeFactory, api: FakeAPI, detail: str, reason: str
) -> None:
    """These 403s fell through to "x refused the reply": the person handed the case was
    not told that only the API is refused, nor that the author limits replies."""
    forbidden = "https://api.twitter.com/2/problems/not-authorized-for-resource"
    api.add("POST", "/2/tweets", problem(403, detail, type=forbidden))
    rt = queued_reply(make_runtime, api)
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.last_error) == ("dead", f"{reason} (HTTP 403: {detail})")
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == "awaiting_human"
        (failed,) = session.scalars(select(Event).where(Event.kind == "send_failed"))
        assert failed.detail["reason"] == "permanent error"
    assert len(api.seen("POST", "/2/tweets")) == 1


def test_a_4xx_refusal_goes_to_a_person_at_once_with_xs_words(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A 409 or 422 counted as temporary: the reply was posted again and again into the
    same refusal until max_attempts, and the person heard only "gave up"."""
    api.add("POST", "/2/tweets", problem(422, "Unprocessable Entity"))
    rt = queued_reply(make_runtime, api)
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.last_error) == (
        "dead",
        "x refused the reply (HTTP 422: Unprocessable Entity)",
    )
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == "awaiting_human"
        (failed,) = session.scalars(select(Event).where(Event.kind == "send_failed"))
        assert failed.detail["reason"] == "permanent error"
    assert len(api.seen("POST", "/2/tweets")) == 1


def test_a_post_that_never_reached_x_is_sent_again_without_a_thread_check(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A refused connection was taken for a timeout after X may have posted: the retry
    paid for a thread search (a billed read) for a post that cannot exist."""
    rt = queued_reply(make_runtime, api)
    port = api.port
    api.stop()  # nothing listens there now: the connection is refused
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.may_have_posted) == ("failed", False)
    assert row.last_error == "x temporarily failed: could not connect to X: ConnectionError"
    api.start(port)
    api.add("POST", "/2/tweets", Reply.json({"data": {"id": tid(9), "text": "x"}}, 201))
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert outbox_row(rt).result_external_id == tid(9)
    assert api.seen("GET", SEARCH) == []


def test_a_404_on_the_posting_endpoint_is_reported_to_the_operator_as_the_base_url(
    make_runtime: RuntimeFactory, api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """Every reply died as "the post was deleted": the team was told the customers had
    deleted their posts, and nobody was told x.api_base_url was wrong."""
    api.add("POST", "/2/tweets", Reply(404, {"content-type": "text/html"}, b"Not Found"))
    rt = queued_reply(make_runtime, api)
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert row.status == "dead"
    assert str(row.last_error).startswith("x.api_base_url has no X posting endpoint")
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("x.api_base_url" in line for line in errors)


def test_a_post_that_spends_xs_posting_limit_holds_the_next_reply_until_its_reset(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X's answer to a post that used the account's last post of the day says so
    (x-user-limit-24hour-remaining: 0), and the responder dropped it: the next reply
    was posted all the same, into a 429."""
    day_reset = NOW + timedelta(hours=20)
    headers = {
        **limits(99, RESET, 100),
        "x-user-limit-24hour-limit": "17",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(int(day_reset.timestamp())),
    }
    api.add("POST", "/2/tweets", Reply.json({"data": {"id": tid(9), "text": "x"}}, 201, headers))
    rt = x_runtime(make_runtime, api, responder=True)
    assert responder(rt).send(action()).external_id == tid(9)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action("Another reply"))
    error = caught.value
    assert (error.permanent, error.rate_limited, error.refused) == (False, True, True)
    assert error.retry_after == day_reset
    assert str(error) == (
        "x rate limited: X's answer to the last post left none of its posting limit, "
        "until 2026-11-21 05:00:00 UTC"
    )
    assert len(api.seen("POST", "/2/tweets")) == 1
    assert usage(rt)["x:writes"] == 1
    rt.clock.set(day_reset)  # type: ignore[attr-defined]
    assert responder(rt).send(action("Another reply")).external_id == tid(9)


def test_a_search_hit_that_does_not_mention_the_brand_goes_to_a_person_not_the_outbox(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's API refuses a reply to a post whose author neither mentioned the posting
    # account nor engaged with it, whatever the post's reply_settings: such a search hit
    # was decided like a mention, its reply queued, and refused by X with a 403 after a
    # send. Replying to the brand's own post is engaging with it, and naming it too.
    posts = [
        tweet(1, "acme my order is late"),
        tweet(2, "@acme my order is late", author="43"),
        tweet(3, "my order is late", author="44", in_reply_to_user_id=BRAND_ID),
    ]
    users = [user("42", "carla"), user("43", "dana"), user("44", "erin")]
    api.add("GET", SEARCH, ok(body(posts, users=users)))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources)
    poll_source(rt, "brand")
    process_pending(rt)
    with rt.sessions() as session:
        targets = {a.target_external_id for a in session.scalars(select(ActionRow))}
        stored = {m.external_id: m for m in session.scalars(select(Message))}
        refused = stored[tid(1)]
        state = session.scalars(select(Case).where(Case.id == refused.case_id)).one().state
    assert targets == {tid(2), tid(3)}
    assert state == "awaiting_human"
    assert refused.decision is not None
    assert "guard: X refuses replies to posts that do not mention @acme" in str(refused.decision)


def test_a_persons_reply_to_a_search_hit_that_does_not_mention_the_brand_says_why(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A person's reply from the dashboard is refused before posting, as X would refuse
    # it: the reason said the author "restricted replies", a setting the post open to
    # everyone never had, and not where the post can be answered.
    api.add("GET", SEARCH, ok(body([tweet(1, "acme my order is late")])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources, responder=True)
    poll_source(rt, "brand")
    with pytest.raises(ResponderError, match="do not mention the brand account") as caught:
        responder(rt).send(action())
    assert caught.value.permanent is True
    assert "X's own app" in str(caught.value)
    assert api.seen("POST", "/2/tweets") == []


def test_a_persons_reply_x_would_refuse_is_not_queued_and_the_case_stays_with_the_team(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Queued, the reply moved the case to "replied", out of the team's queue, until the
    # send failed; nothing told the person at the time to answer from X's own app.
    api.add("GET", SEARCH, ok(body([tweet(1, "acme my order is late")])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources, responder=True)
    poll_source(rt, "brand")
    process_pending(rt)
    with pytest.raises(casework.CaseworkError, match="do not mention @acme or @acmehelp"):
        casework_replies.reply(rt, "C-1001", "Sorry Carla, we're on it.", user="lena")
    with rt.sessions() as session:
        assert session.scalars(select(ActionRow)).all() == []
        assert session.scalars(select(Case)).one().state == "awaiting_human"


def test_a_search_hit_naming_a_brand_account_that_does_not_post_goes_to_a_person(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's API counts a mention of the account that posts the reply, not of any brand
    # account: posting as @acmehelp (its token names id 7), a hit naming only @acme was
    # queued and refused by X with a 403. X lists the mentioned accounts' ids in
    # entities.mentions, so a hit naming @acmehelp, or a long post's note naming it, is
    # still answered.
    note = {"text": "@acmehelp " + "my order is late " * 20, "entities": {"mentions": [
        {"start": 0, "end": 9, "username": "acmehelp", "id": "7"}]}}  # fmt: skip
    posts = [
        tweet(1, "@acme my order is late"),
        tweet(2, "@acmehelp my order is late", author="43"),
        tweet(3, "my order is late…", author="44", note_tweet=note),
    ]
    users = [user("42", "carla"), user("43", "dana"), user("44", "erin")]
    api.add("GET", SEARCH, ok(body(posts, users=users)))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources, access_token="7-at")
    poll_source(rt, "brand")
    process_pending(rt)
    with rt.sessions() as session:
        targets = {a.target_external_id for a in session.scalars(select(ActionRow))}
        refused = session.scalars(select(Message).where(Message.external_id == tid(1))).one()
        state = session.scalars(select(Case).where(Case.id == refused.case_id)).one().state
    assert targets == {tid(2), tid(3)}
    assert state == "awaiting_human"
    assert "guard: X refuses replies" in str(refused.decision)
    with pytest.raises(casework.CaseworkError, match="X refuses replies"):
        casework_replies.reply(rt, "C-1001", "Sorry Carla, we're on it.", user="lena")


def test_a_persons_reply_to_a_search_hit_answering_another_brand_accounts_post_is_refused(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Posting as @acmehelp (its token names id 7), a search hit answering @acme's post
    # (x.user_id) takes no reply: X refuses it (403), as it refuses a hit naming only
    # @acme. It is stored as a reply, which the check before queueing let through: the
    # person's reply moved the case to "replied", out of the team's queue, and failed at
    # the send.
    post = tweet(1, "my order is late", in_reply_to_user_id=BRAND_ID)
    api.add("GET", SEARCH, ok(body([post])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources, access_token="7-at", responder=True)
    poll_source(rt, "brand")
    process_pending(rt)
    with pytest.raises(casework.CaseworkError, match="X refuses replies"):
        casework_replies.reply(rt, "C-1001", "Sorry Carla, we're on it.", user="lena")
    with rt.sessions() as session:
        assert session.scalars(select(ActionRow)).all() == []
        assert session.scalars(select(Case)).one().state == "awaiting_human"


def test_mentions_of_the_read_account_answered_from_another_go_to_a_person(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The mentions timeline is x.user_id's (@acme); its posts mention @acme, not the
    # account the replies come from (@acmehelp, id 7, the token's), and X refuses
    # @acmehelp's reply to them with a 403. They were all marked answerable: the bot
    # queued replies X refused, and a person's was queued too. A post naming @acmehelp
    # (by X's ids) is still answered.
    posts = [
        tweet(1, "@acme my order is late"),
        tweet(2, "@acme @acmehelp my order is late", author="43"),
        tweet(3, "@acme still nothing", author="44", in_reply_to_user_id=BRAND_ID),
    ]
    users = [user("42", "carla"), user("43", "dana"), user("44", "erin")]
    api.add("GET", MENTIONS, ok(body(posts, users=users)))
    rt = x_runtime(make_runtime, api, access_token="7-at", responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    with rt.sessions() as session:
        targets = {a.target_external_id for a in session.scalars(select(ActionRow))}
        refused = session.scalars(select(Message).where(Message.external_id == tid(1))).one()
        case = session.scalars(select(Case).where(Case.id == refused.case_id)).one()
        page_says = casework_replies.reply_refusal(rt, session, case)
        answer = session.scalars(select(Message).where(Message.external_id == tid(3))).one()
    assert targets == {tid(2)}
    assert refused.reply_allowed is False
    assert (answer.kind, answer.reply_allowed) == ("reply", False)
    assert "guard: X refuses replies" in str(answer.decision)
    assert case.state == "awaiting_human"
    assert "guard: X refuses replies to posts that do not mention the account" in str(
        refused.decision
    )
    assert page_says is not None
    assert "X refuses replies" in page_says
    with pytest.raises(casework.CaseworkError, match="X refuses replies"):
        casework_replies.reply(rt, case.ref, "Sorry Carla, we're on it.", user="lena")
    # The responder's reason names the account the replies come from: "the brand
    # account" beside a post naming @acme read as a fault of ours.
    with pytest.raises(ResponderError, match="the brand account the replies come from"):
        responder(rt).send(action())
    assert api.seen("POST", "/2/tweets") == []


# X's 403 to a search the App's access level does not include (the Free tier posts but
# cannot search).
NO_SEARCH = (
    "You currently have access to a subset of X API V2 endpoints and limited v1.1 "
    "endpoints only. If you need access to this endpoint, you may need a different access "
    "level."
)


@pytest.mark.parametrize(
    "refusal",
    [problem(403, NO_SEARCH), problem(401, "Unauthorized"), problem(400, "Invalid Request")],
    ids=["403", "401", "400"],
)
def test_a_thread_check_x_refuses_for_good_hands_the_reply_over_at_once(
    make_runtime: RuntimeFactory, api: FakeAPI, refusal: Reply
) -> None:
    """The check before a retry of a post that timed out met a refusal no later try gets
    past: each of max_attempts retries met it again, a person heard of the reply a
    quarter of an hour later, and only as "gave up after 6 attempts"."""
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("POST", "/2/tweets", Reply(201, {}, b"{}", delay=1.0))
    rt = x_runtime(make_runtime, api, responder=True, timeout_seconds=SHORT_TIMEOUT)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)  # timed out: X may have posted it
    api.add("GET", SEARCH, refusal)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert row.status == "dead"
    assert row.last_error is not None
    assert row.last_error.startswith(
        "the bot's reply may already be in the thread, check before answering: X refused "
        "the search for it (HTTP "
    )
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == "awaiting_human"
        (failed,) = session.scalars(select(Event).where(Event.kind == "send_failed"))
        assert failed.detail["reason"] == "permanent error"
    assert len(api.seen("POST", "/2/tweets")) == 1
    assert len(api.seen("GET", SEARCH)) == 1


def timed_out_retry(make_runtime: RuntimeFactory, api: FakeAPI) -> Runtime:
    """A reply whose post timed out (X may have posted it), due for its retry."""
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("POST", "/2/tweets", Reply(201, {}, b"{}", delay=1.0))
    rt = x_runtime(make_runtime, api, responder=True, timeout_seconds=SHORT_TIMEOUT)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    return rt


def test_a_404_on_the_thread_check_names_x_api_base_url_and_goes_to_a_person(
    make_runtime: RuntimeFactory, api: FakeAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """It was retried as temporary, "cannot check the thread for our reply: HTTP 404",
    until max_attempts: X search answers an unknown thread with no posts, never a 404,
    so the search endpoint is missing behind x.api_base_url and no retry gets past it."""
    rt = timed_out_retry(make_runtime, api)
    api.add("GET", SEARCH, Reply(404, {"content-type": "text/html"}, b"<h1>Not Found</h1>"))
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.last_error) == (
        "dead",
        "the bot's reply may already be in the thread, check before answering: "
        "x.api_base_url has no X search endpoint (GET /2/tweets/search/recent answered "
        "404): no retry can check the thread until that setting is fixed (HTTP 404: no detail)",
    )
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == "awaiting_human"
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("x.api_base_url has no X search endpoint" in line for line in errors)
    assert len(api.seen("GET", SEARCH)) == 1


def test_a_thread_check_refused_with_another_4xx_goes_to_a_person_as_a_post_does(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A 409 or 422 on the search was retried as temporary, where the same answer to the
    post goes to a person at once: the same request only meets the same refusal."""
    rt = timed_out_retry(make_runtime, api)
    api.add("GET", SEARCH, problem(422, "Unprocessable Entity"))
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert (row.status, row.last_error) == (
        "dead",
        "the bot's reply may already be in the thread, check before answering: X refused "
        "the search for it (HTTP 422: Unprocessable Entity)",
    )
    assert len(api.seen("GET", SEARCH)) == 1


REDIRECTS = [
    Reply(301, {"location": "https://api.example.net/2/tweets/search/recent"}, b""),
    Reply(302, {"content-type": "text/html"}, b"<a>moved</a>"),  # no Location
    Reply(307, {"location": "/elsewhere"}, b""),
]
REDIRECTED = (
    "x.api_base_url answers with a redirect (X's API never redirects): a wrong "
    "x.api_base_url, or a proxy in front of X that redirects; fix that setting"
)


@pytest.mark.parametrize("redirect", REDIRECTS, ids=["301", "302-no-location", "307"])
def test_a_redirect_on_the_thread_check_goes_to_a_person_naming_x_api_base_url(
    make_runtime: RuntimeFactory, api: FakeAPI, redirect: Reply
) -> None:
    """A 3xx was retried as temporary until max_attempts, though no later try gets past
    it, and a followed one searched elsewhere with our credentials."""
    rt = timed_out_retry(make_runtime, api)
    api.add("GET", SEARCH, redirect)
    dispatch_outbox(rt)
    row = outbox_row(rt)
    assert row.status == "dead"
    assert str(row.last_error).startswith(
        "the bot's reply may already be in the thread, check before answering: " + REDIRECTED
    )
    assert f"(HTTP {redirect.status}" in str(row.last_error)
    assert len(api.seen("GET", SEARCH)) == 1
    assert api.seen("GET", "/elsewhere") == []


@pytest.mark.parametrize("redirect", REDIRECTS, ids=["301", "302-no-location", "307"])
def test_a_redirect_on_the_post_goes_to_a_person_naming_x_api_base_url(
    make_runtime: RuntimeFactory, api: FakeAPI, redirect: Reply, caplog: pytest.LogCaptureFixture
) -> None:
    api.add("POST", "/2/tweets", redirect)
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).send(action())
    assert caught.value.permanent is True
    assert str(caught.value).startswith(REDIRECTED + "; no reply can be sent until then (HTTP ")
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("x.api_base_url answers with a redirect" in line for line in errors)
    assert api.seen("POST", "/elsewhere") == api.seen("GET", "/elsewhere") == []


def test_a_thread_check_answered_with_json_too_deep_to_read_fails_without_a_crash(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """A 4xx body nested deeper than Python's JSON reader goes (a proxy's or a hostile
    answer) raised RecursionError out of tweepy, which no handler expected: the
    dispatcher logged a responder crash with its traceback."""
    deep = b"[" * 100_000 + b"]" * 100_000
    api.add("GET", SEARCH, Reply(400, {"content-type": "application/json"}, deep))
    rt = x_runtime(make_runtime, api, responder=True)
    with pytest.raises(ResponderError) as caught:
        responder(rt).find_own_reply(action(attempts=2))
    assert str(caught.value) == (
        "cannot check the thread for our reply: HTTP 400: unreadable answer (RecursionError)"
    )
