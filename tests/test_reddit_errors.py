"""How Reddit failures reach source_state: auth stops the source, the rest backs off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime

import pytest

from monitor.clock import FakeClock
from monitor.ingest import poll_source
from monitor.runtime import Runtime
from monitor.settings import Brand
from monitor.sources.base import Source, SourceError
from monitor.sources.reddit_settings import RedditInboxSourceConfig, RedditSettings
from monitor.sources.reddit_sources import build_reddit_source
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import CASSETTES, listing, reddit_section, serve_token
from tests.test_reddit_inbox import messages, state

INVALID = {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'}
SCOPE = {"www-authenticate": 'Bearer realm="reddit", error="insufficient_scope"'}
TEN_YEARS = timedelta(days=3650)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def mentions_runtime(make_runtime: RuntimeFactory, api: FakeAPI, **reddit: object) -> Runtime:
    config = {
        "name": "inbox",
        "type": "reddit_inbox",
        "comment_replies": False,
        "submission_replies": False,
        "context_depth": 0,
    }
    return make_runtime(sources=[config], reddit=reddit_section(api, **reddit))


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply.json({"error": 403}, status=403, headers=SCOPE), "InsufficientScope"),
        (Reply.json({"error": 403}, status=403), "403 Forbidden"),
    ],
    ids=["403-scope", "403-forbidden"],
)
def test_auth_failures_stop_the_source_with_a_clear_status(
    make_runtime: RuntimeFactory, api: FakeAPI, reply: Reply, reason: str
) -> None:
    serve_token(api)
    api.add("GET", "/message/mentions", reply)
    rt = mentions_runtime(make_runtime, api)
    poll_source(rt, "inbox")

    status = state(rt)
    assert status.next_poll_at == rt.clock.now() + TEN_YEARS
    assert status.last_error is not None
    assert reason in status.last_error
    assert "tok" not in status.last_error.replace("token", "")  # no secret in the status
    assert messages(rt) == []
    poll_source(rt, "inbox")  # stopped: no further requests
    assert len(api.seen("GET", "/message/mentions")) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [(INVALID, "InvalidToken"), ({}, "401 Unauthorized (no www-authenticate header)")],
    ids=["with-www-authenticate", "without"],
)
def test_401_stops_the_source_after_prawcores_token_retries(
    api: FakeAPI, headers: dict[str, str], reason: str
) -> None:
    # Without a database: prawcore sleeps up to 6 s between its retries here.
    serve_token(api)
    api.add("GET", "/message/mentions", Reply.json({"error": 401}, status=401, headers=headers))
    with pytest.raises(SourceError) as caught:
        inbox_source(api).poll(None, now=FakeClock().now())
    assert caught.value.permanent is True
    assert reason in str(caught.value)
    attempts = len(api.seen("GET", "/message/mentions"))
    assert attempts >= 2  # each after a fresh token
    assert len(api.seen("POST", "/api/v1/access_token")) == attempts


def test_a_refused_app_id_or_secret_stops_the_source(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit answers a wrong client_id or client_secret with a 401 on the token request,
    # which prawcore raises as a plain ResponseException: it was retried forever.
    api.add("POST", "/api/v1/access_token", Reply.json({"message": "Unauthorized"}, status=401))
    rt = mentions_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    status = state(rt)
    assert status.last_error == (
        "Reddit refused our credentials (the token request was refused (401): check "
        "reddit.client_id and client_secret); fix the reddit: section, then restart"
    )
    assert status.next_poll_at == rt.clock.now() + TEN_YEARS
    assert api.seen("GET", "/message/mentions") == []


def inbox_source(api: FakeAPI, **reddit: object) -> Source:
    settings = RedditSettings.model_validate(reddit_section(api, **reddit))
    config = RedditInboxSourceConfig(
        type="reddit_inbox",
        name="inbox",
        comment_replies=False,
        submission_replies=False,
        context_depth=0,
    )
    return build_reddit_source(config, settings, Brand(name="Acme"))


def test_rejected_password_grant_is_an_oauth_error(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(
        CASSETTES / "TestScriptAuthorizer.test_refresh__with_invalid_username_or_password.json"
    )
    grant = {"refresh_token": None, "username": "acme_official", "password": "wrong"}
    rt = mentions_runtime(make_runtime, api, **grant)
    poll_source(rt, "inbox")
    status = state(rt)
    assert status.next_poll_at == rt.clock.now() + TEN_YEARS
    assert status.last_error is not None
    assert "OAuthException: unauthorized_client" in status.last_error
    assert "check reddit.username and password, or reddit.client_id and client_secret" in (
        status.last_error
    )
    assert "wrong" not in status.last_error
    assert api.seen("POST", "/api/v1/access_token")[0].form()["grant_type"] == ["password"]


STOPPED = "retrying cannot help, so the source is stopped: check its settings, then restart"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, f"Reddit refused the request (400 Bad Request); {STOPPED}"),
        (409, f"Reddit refused the request (409 Conflict); {STOPPED}"),
        (413, f"Reddit refused the request (413 Payload Too Large); {STOPPED}"),
        (451, "Reddit: 451 Unavailable For Legal Reasons"),
    ],
    ids=["400", "409", "413", "451"],
)
def test_a_request_reddit_refuses_for_good_stops_the_source(
    make_runtime: RuntimeFactory, api: FakeAPI, status: int, expected: str
) -> None:
    # The same request gets the same answer: backing off and asking again for ever only
    # hid the problem behind a growing failure count.
    serve_token(api)
    body = {"message": "whatever Reddit says", "error": status}
    api.add("GET", "/message/mentions", Reply.json(body, status=status))
    rt = mentions_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    status_row = state(rt)
    assert status_row.last_error == expected
    assert status_row.next_poll_at == rt.clock.now() + TEN_YEARS
    poll_source(rt, "inbox")
    assert len(api.seen("GET", "/message/mentions")) == 1


def test_408_stays_temporary(api: FakeAPI) -> None:
    # Without a database: prawcore retries a 408 twice itself, sleeping up to 6 s.
    serve_token(api)
    api.add("GET", "/message/mentions", Reply.json({"error": 408}, status=408))
    with pytest.raises(SourceError) as caught:
        inbox_source(api).poll(None, now=FakeClock().now())
    assert str(caught.value) == "Reddit temporary: ResponseException: received 408 HTTP response"
    assert caught.value.permanent is False


def test_429_backs_off_until_retry_after(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    serve_token(api)
    api.add("GET", "/message/mentions", Reply(429, {"retry-after": "4"}, b"whoa there"))
    rt = mentions_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    status = state(rt)
    assert status.next_poll_at == rt.clock.now() + timedelta(seconds=4)
    assert status.last_error == "Reddit rate_limited: 429 Too Many Requests"


@pytest.mark.parametrize(
    ("ahead", "wait"),
    [(timedelta(seconds=90), timedelta(seconds=90)), (timedelta(hours=-1), timedelta(seconds=30))],
    ids=["in-90-s", "an-hour-ago"],
)
def test_429_with_a_date_retry_after_waits_until_that_date(
    make_runtime: RuntimeFactory, api: FakeAPI, ahead: timedelta, wait: timedelta
) -> None:
    # HTTP allows Retry-After as a date; prawcore turns the header into a float, so the
    # ValueError escaped translate(): the poll "crashed" and Reddit's wait was lost.
    # A date already past adds no wait: the ordinary 30 s backoff.
    serve_token(api)
    rt = mentions_runtime(make_runtime, api)
    date = format_datetime(rt.clock.now() + ahead, usegmt=True)
    api.add("GET", "/message/mentions", Reply(429, {"retry-after": date}, b"whoa there"))
    poll_source(rt, "inbox")
    status = state(rt)
    assert status.last_error == "Reddit rate_limited: 429 Too Many Requests"
    assert status.next_poll_at == rt.clock.now() + wait
    assert len(api.seen("GET", "/message/mentions")) == 1


def test_429_on_the_token_request_waits_for_retry_after(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # prawcore raises a plain ResponseException for it, not TooManyRequests.
    api.add("POST", "/api/v1/access_token", Reply(429, {"retry-after": "60"}, b"whoa there"))
    rt = mentions_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    status = state(rt)
    assert status.last_error == "Reddit rate_limited: 429 Too Many Requests"
    assert status.next_poll_at == rt.clock.now() + timedelta(seconds=60)


def test_server_errors_back_off_then_recover(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    # prawcore retries a 5xx twice itself, sleeping 0-6 s in all: one test only.
    api.load_cassette(CASSETTES / "TestSession.test_request__internal_server_error.json")
    serve_token(api)
    route = api.add("GET", "/message/mentions", Reply(500), Reply(500), Reply(500))
    rt = mentions_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    status = state(rt)
    assert (status.consecutive_failures, status.last_error) == (
        1,
        "Reddit temporary: ServerError: received 500 HTTP response",
    )
    assert status.next_poll_at == rt.clock.now() + timedelta(seconds=30)
    assert len(api.seen("GET", "/message/mentions")) == 3

    route.replies.append(listing())
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(seconds=31)
    poll_source(rt, "inbox")
    assert (state(rt).consecutive_failures, state(rt).last_error) == (0, None)


def test_read_timeout_is_a_temporary_error(api: FakeAPI) -> None:
    serve_token(api)
    api.add("GET", "/message/mentions", slow())
    with pytest.raises(SourceError) as caught:
        inbox_source(api, timeout_seconds=0.3).poll(None, now=FakeClock().now())
    assert str(caught.value) == "Reddit temporary: RequestException: ReadTimeout"
    assert caught.value.permanent is False
    assert len(api.seen("GET", "/message/mentions")) == 3  # prawcore's own two retries


def slow() -> Reply:
    reply = Reply.json({"kind": "Listing", "data": {"children": [], "after": None}})
    reply.delay = 0.6
    return reply


@pytest.mark.parametrize(
    ("grant", "reply", "expected"),
    [
        (
            {},
            Reply.json({"error": "invalid_grant"}, status=400),
            "the login was refused (HTTP 400 invalid_grant): check reddit.refresh_token, "
            "or reddit.client_id and client_secret",
        ),
        (
            {"refresh_token": None, "username": "acme_official", "password": "s3cret-pw"},
            Reply.json({"error": 403}, status=403),
            "the login was refused (HTTP 403): check reddit.username and password, "
            "or reddit.client_id and client_secret",
        ),
        (
            {"refresh_token": None, "username": "acme_official", "password": "s3cret-pw"},
            Reply(400, {"content-type": "text/html"}, b"<p>refresh=s3cret-pw</p>"),
            "the login was refused (HTTP 400): check reddit.username and password, "
            "or reddit.client_id and client_secret",
        ),
    ],
    ids=["400-refresh-grant", "403-password-grant", "400-not-json"],
)
def test_a_token_request_refused_with_400_or_403_names_the_settings_to_fix(
    make_runtime: RuntimeFactory,
    api: FakeAPI,
    grant: dict[str, object],
    reply: Reply,
    expected: str,
) -> None:
    # prawcore raises a plain ResponseException for these: they were taken for a refused
    # API request ("check its settings"), which did not say the login was the problem.
    api.add("POST", "/api/v1/access_token", reply)
    rt = mentions_runtime(make_runtime, api, **grant)
    poll_source(rt, "inbox")
    status = state(rt)
    assert status.last_error == (
        f"Reddit refused our credentials ({expected}); fix the reddit: section, then restart"
    )
    assert status.next_poll_at == rt.clock.now() + TEN_YEARS
    assert api.seen("GET", "/message/mentions") == []


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(415, {"content-type": "text/html"}, b"<html>nope</html>"),
            "Reddit temporary: 415 Unsupported Media Type, unreadable (JSONDecodeError)",
        ),
        (
            Reply.json(["not", "an", "object"], status=415),
            "Reddit temporary: 415 Unsupported Media Type, unreadable (AttributeError)",
        ),
        (Reply(302), "Reddit temporary: 302 Found, unreadable (KeyError)"),
        (Reply(301), "Reddit temporary: 301 Moved Permanently, unreadable (KeyError)"),
    ],
    ids=["415-html", "415-list", "302-no-location", "301-no-location"],
)
def test_an_answer_prawcore_crashes_on_is_a_temporary_failure_naming_the_status(
    api: FakeAPI, reply: Reply, expected: str
) -> None:
    # prawcore reads the body or the Location header while building its exception and
    # raised a ValueError or KeyError of its own, which escaped as a crash.
    serve_token(api)
    api.add("GET", "/message/mentions", reply)
    with pytest.raises(SourceError) as caught:
        inbox_source(api).poll(None, now=FakeClock().now())
    assert str(caught.value) == expected
    assert caught.value.permanent is False
    assert len(api.seen("GET", "/message/mentions")) == 1


def test_a_garbled_token_answer_is_a_temporary_failure(api: FakeAPI) -> None:
    api.add("POST", "/api/v1/access_token", Reply(200, {}, b"<html>maintenance</html>"))
    with pytest.raises(SourceError) as caught:
        inbox_source(api).poll(None, now=FakeClock().now())
    assert str(caught.value) == "Reddit temporary: 200 OK, unreadable (JSONDecodeError)"
    assert caught.value.permanent is False


def test_a_token_without_a_needed_scope_names_the_scope(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Recorded: a token granted "read" only, and Reddit's 403 insufficient_scope for
    # GET /api/v1/me, which a refresh-token source asks at its first poll. The status
    # said "InsufficientScope: received 403 HTTP response": no word of which scope.
    api.load_cassette(CASSETTES / "TestSession.test_request__with_insufficient_scope.json")
    rt = make_runtime(
        sources=[{"name": "search", "type": "reddit_search"}], reddit=reddit_section(api)
    )
    poll_source(rt, "search")
    status = state(rt, "search")
    assert status.next_poll_at == rt.clock.now() + TEN_YEARS
    assert status.last_error == (
        "Reddit refused our credentials (InsufficientScope: GET /api/v1/me needs the "
        "'identity' scope, which the token was not granted); fix the reddit: section, "
        "then restart"
    )
