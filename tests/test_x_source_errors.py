"""X source failures: rate limits, server errors, auth, timeouts and the read budget.

Every wait is a stored time the step function honours; nothing sleeps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from monitor.clock import FakeClock
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.sources.x_cursor import overlap_since, snowflake_at, snowflake_time
from monitor.sources.x_source import XSource
from monitor.status import collect
from monitor.store.models import Event, Message, SourceState, Usage
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.xapi import (
    MENTIONS,
    SEARCH,
    SHORT_TIMEOUT,
    USAGE_CAPPED,
    body,
    limits,
    ok,
    problem,
    reply_to,
    tid,
    tweet,
    x_runtime,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
RESET = int((NOW + timedelta(minutes=15)).timestamp())


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    started = time.monotonic()
    with FakeAPI() as server:
        yield server
    assert time.monotonic() - started < 10  # a 15-minute reset is never slept through


def state(rt: Runtime) -> SourceState:
    with rt.sessions() as session:
        found = session.get(SourceState, "mentions")
        assert found is not None
        return found


def clock(rt: Runtime) -> FakeClock:
    assert isinstance(rt.clock, FakeClock)
    return rt.clock


def stored(rt: Runtime) -> int:
    with rt.sessions() as session:
        return len(list(session.scalars(select(Message.id))))


def test_429_stores_the_reset_and_skips_the_source_until_then(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add(
        "GET",
        MENTIONS,
        Reply.json({"title": "Too Many Requests"}, status=429, headers=limits(0, RESET)),
        ok(body([tweet(1)])),
    )
    rt = x_runtime(make_runtime, api)
    assert poll_source(rt, "mentions") is False
    found = state(rt)
    assert found.next_poll_at == datetime.fromtimestamp(RESET, UTC)
    assert found.last_error == (
        "x rate limited until 2026-11-20 09:15:00 UTC: HTTP 429: Too Many Requests"
    )
    assert found.details["rate_limit"]["remaining"] == 0
    clock(rt).advance(minutes=14)
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 1  # skipped: the reset has not come
    clock(rt).advance(minutes=2)
    poll_source(rt, "mentions")
    assert stored(rt) == 1
    assert state(rt).consecutive_failures == 0


def test_a_429_whose_reset_has_passed_still_backs_off(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Our clock runs ahead of X's: the reset it sends is already past here, and waiting
    # "until then" would poll again at every interval while X still refuses.
    past = int((NOW - timedelta(minutes=2)).timestamp())
    api.add(
        "GET",
        MENTIONS,
        Reply.json({"title": "Too Many Requests"}, status=429, headers=limits(0, past)),
    )
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert state(rt).next_poll_at == NOW + timedelta(seconds=30)
    clock(rt).advance(seconds=29)
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 1


def test_remaining_zero_on_a_success_waits_for_the_reset(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1)], next_token="n"), remaining=0, reset=RESET))
    rt = x_runtime(make_runtime, api)
    found_more = poll_source(rt, "mentions")
    assert found_more is False
    assert state(rt).rate_limit_reset_at == datetime.fromtimestamp(RESET, UTC)
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 1


def test_a_sweep_waiting_on_a_rate_limit_is_not_caught_up(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """Its older pages wait for the reset: the cursor lag counts from the newest post
    read (08:59), not from the poll, as if everything had been read."""
    api.add("GET", MENTIONS, ok(body([tweet(5)], next_token="n"), remaining=0, reset=RESET))
    rt = x_runtime(make_runtime, api)
    with rt.sessions.begin() as session:
        session.add(
            SourceState(name="mentions", cursor=tid(1), consecutive_failures=0, items_total=0)
        )
    assert poll_source(rt, "mentions") is False
    assert state(rt).details["caught_up"] is False
    clock(rt).advance(minutes=5)
    (source,) = [s for s in collect(rt).sources if s.name == "mentions"]
    assert source.cursor_lag_seconds == 6 * 60


def test_503_and_timeouts_back_off_exponentially_per_source(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add(
        "GET",
        MENTIONS,
        Reply(503, {"content-type": "text/html"}, b"<html>Over capacity</html>"),
        Reply(200, {}, b"{}", delay=1.0),  # longer than the 0.3 s client timeout
        ok(body([tweet(1)])),
    )
    rt = x_runtime(make_runtime, api, timeout_seconds=SHORT_TIMEOUT)
    started = time.monotonic()
    poll_source(rt, "mentions")
    first = state(rt)
    assert first.last_error == "x temporarily failed: HTTP 503: no detail"
    assert first.next_poll_at == NOW + timedelta(seconds=30)
    clock(rt).advance(seconds=30)
    poll_source(rt, "mentions")
    second = state(rt)
    assert second.last_error == "x temporarily failed: timed out: ReadTimeout"
    assert second.next_poll_at == NOW + timedelta(seconds=30 + 60)
    assert time.monotonic() - started < 5  # neither the 30 s nor the 60 s backoff is slept
    clock(rt).advance(seconds=60)
    poll_source(rt, "mentions")
    assert (stored(rt), state(rt).consecutive_failures) == (1, 0)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            problem(401, "Unauthorized"),
            "x rejected the credentials (HTTP 401: Unauthorized); check x.bearer_token",
        ),
        (
            problem(403, "Client Forbidden", reason="client-not-enrolled"),
            "x refused access (HTTP 403: Client Forbidden; client-not-enrolled); "
            "client-not-enrolled: the keys belong to an X developer App that is not attached "
            "to a Project with v2 access; create the App inside a Project in the developer "
            "portal and use that App's keys",
        ),
    ],
)
def test_auth_failures_stop_the_source_with_a_clear_message(
    make_runtime: RuntimeFactory, api: FakeAPI, reply: Reply, message: str
) -> None:
    api.add("GET", MENTIONS, reply)
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    found = state(rt)
    assert found.last_error == message
    assert found.next_poll_at is not None
    assert found.next_poll_at > NOW + timedelta(days=3000)  # stopped until an operator acts
    assert "bearer-secret" not in message


def test_the_read_budget_stops_short_with_a_status_warning_and_event(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(i) for i in range(1, 11)])))
    rt = x_runtime(make_runtime, api, budget={"reads_per_day": 305, "writes_per_day": 5})
    # 10 read; a full page, 100 posts and the posts they reference (300), would pass 305
    poll_source(rt, "mentions")
    clock(rt).advance(minutes=5)
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 1
    found = state(rt)
    assert found.last_error == (
        "x read budget: 10 of 305 posts read today; polling resumes at 2026-11-21 00:00 UTC"
    )
    assert found.next_poll_at == datetime(2026, 11, 21, tzinfo=UTC)
    assert found.details["budget_stop"]["limit"] == 305
    clock(rt).advance(minutes=5)
    poll_source(rt, "mentions")  # still waiting: no second event, no request
    with rt.sessions() as session:
        budget = [e.detail for e in session.scalars(select(Event).where(Event.kind == "budget"))]
        assert budget == [{"budget": "reads", "spent": 10, "limit": 305, "source": "mentions"}]
        assert session.get(Usage, ("x:reads", "2026-11-20")).count == 10  # type: ignore[union-attr]
    clock(rt).set(datetime(2026, 11, 21, 0, 1, tzinfo=UTC))
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 2  # a new UTC day, a new budget


def test_a_budget_smaller_than_one_full_page_stops_the_source_saying_so(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Each request must fit its worst case (3 x max_results) in the day's budget: below
    # that, the source read nothing, every day, with "0 of 250 posts read today; polling
    # resumes at midnight", as if the day's budget had been spent.
    api.add("GET", MENTIONS, ok(body([tweet(1)])))
    rt = x_runtime(make_runtime, api, budget={"reads_per_day": 250})
    poll_source(rt, "mentions")
    assert api.seen("GET", MENTIONS) == []
    found = state(rt)
    assert found.last_error == (
        "x read budget: one request of mentions may read 300 posts (max_results 100 and "
        "the posts they reference), more than x.budget.reads_per_day (250) allows in a "
        "day; raise it or lower the source's max_results"
    )
    assert found.next_poll_at is not None
    assert found.next_poll_at > NOW + timedelta(days=3000)  # stopped until an operator acts


def test_a_sweep_cut_short_by_an_error_keeps_its_pages_and_reads_on_at_the_next_poll(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5), tweet(4)], next_token="p2")))
    api.add(
        "GET",
        MENTIONS,
        Reply(503, {"content-type": "text/html"}, b"<html>Over capacity</html>"),
        ok(body([tweet(3)])),
        query={"pagination_token": "p2"},
    )
    rt = x_runtime(make_runtime, api)
    with rt.sessions.begin() as session:
        session.add(
            SourceState(name="mentions", cursor=tid(1), consecutive_failures=0, items_total=0)
        )
    assert poll_source(rt, "mentions") is False
    cut = state(rt)
    assert stored(rt) == 2  # the first page, paid for, is kept
    assert (
        cut.last_error
        == "the sweep stopped after page 1: x temporarily failed: HTTP 503: no detail"
    )
    assert cut.consecutive_failures == 0
    assert '"next_token":"p2"' in (cut.cursor or "")
    poll_source(rt, "mentions")
    assert stored(rt) == 3
    assert state(rt).cursor == tid(5).join(('{"newest_id":"', '"}'))
    assert len(api.seen("GET", MENTIONS)) == 3


def test_a_refused_page_token_restarts_the_sweep_from_the_same_since_id(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The first page spends the rate-limit window; the token waits for its reset and
    # has expired by then.
    api.add("GET", MENTIONS, ok(body([tweet(5)], next_token="old"), remaining=0, reset=RESET))
    api.add(
        "GET", MENTIONS, problem(400, "Invalid pagination token"), query={"pagination_token": "old"}
    )
    rt = x_runtime(make_runtime, api)
    with rt.sessions.begin() as session:
        session.add(
            SourceState(name="mentions", cursor=tid(1), consecutive_failures=0, items_total=0)
        )
    assert poll_source(rt, "mentions") is False
    assert '"next_token":"old"' in (state(rt).cursor or "")
    clock(rt).advance(minutes=16)
    poll_source(rt, "mentions")
    failed = state(rt)
    assert failed.last_error is not None
    assert failed.last_error.startswith("x refused the page token; the sweep restarts: HTTP 400")
    clock(rt).advance(seconds=30)
    poll_source(rt, "mentions")
    first, refused, restarted, *_ = api.seen("GET", MENTIONS)
    assert refused.query["pagination_token"] == ["old"]
    assert "pagination_token" not in restarted.query
    assert restarted.query["since_id"] == first.query["since_id"]
    assert state(rt).consecutive_failures == 0


def test_a_search_cursor_older_than_seven_days_starts_from_the_newest_with_a_gap(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", SEARCH, ok(body([tweet(1, "acme")])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources)
    week_old = str(int(tid(0)) - ((8 * 86_400_000) << 22))
    with rt.sessions.begin() as session:
        session.add(
            SourceState(name="brand", cursor=week_old, consecutive_failures=0, items_total=0)
        )
    poll_source(rt, "brand")
    floor = snowflake_at(NOW - timedelta(days=7) + timedelta(minutes=1))
    assert api.seen("GET", SEARCH)[0].query["since_id"] == [floor]
    api.add("GET", SEARCH, ok(body([])))
    clock(rt).advance(minutes=5)
    poll_source(rt, "brand")  # nothing new, and no second gap
    assert api.seen("GET", SEARCH)[1].query["since_id"] == [overlap_since(tid(1), 15)]
    with rt.sessions() as session:
        (gap,) = session.scalars(select(Event).where(Event.kind == "gap"))
        assert gap.detail["reason"] == "cursor older than 7 days"


def test_a_failed_poll_of_a_week_old_search_cursor_records_no_gap(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Back after a week of downtime into an X outage (or a revoked token, a 429): each
    # failed try recorded the gap again, before anything was read, and x status's
    # recent events filled with copies of it.
    down = problem(503, "Service Unavailable")
    api.add("GET", SEARCH, down, down, ok(body([tweet(1, "acme")])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=sources)
    week_old = str(int(tid(0)) - ((8 * 86_400_000) << 22))
    with rt.sessions.begin() as session:
        session.add(
            SourceState(name="brand", cursor=week_old, consecutive_failures=0, items_total=0)
        )
    for _ in range(3):
        poll_source(rt, "brand")
        clock(rt).advance(minutes=5)
    assert len(api.seen("GET", SEARCH)) == 3
    with rt.sessions() as session:
        (gap,) = session.scalars(select(Event).where(Event.kind == "gap"))
        assert gap.detail["reason"] == "cursor older than 7 days"
        assert session.get(SourceState, "brand").cursor == f'{{"newest_id":"{tid(1)}"}}'


def test_a_200_with_only_errors_for_the_brand_account_stops_the_source(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X refuses the timeline of an unknown or suspended account with a 200 that holds
    # nothing but errors[]; read as an empty page, mentions silently never arrived.
    missing = {
        "value": "783214",
        "detail": "Could not find user with id: [783214].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": "id",
        "resource_id": "783214",
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    api.add("GET", MENTIONS, ok({"errors": [missing]}))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    found = state(rt)
    assert found.last_error == (
        "x refused the request (HTTP 200 with errors only: Not Found Error: Could not find "
        "user with id: [783214].); check x.user_id and the source's query"
    )
    assert found.next_poll_at is not None
    assert found.next_poll_at > NOW + timedelta(days=3000)
    assert found.cursor is None
    assert stored(rt) == 0


def test_an_empty_page_is_not_a_refusal(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    api.add("GET", MENTIONS, ok({"meta": {"result_count": 0}}))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert (state(rt).last_error, state(rt).consecutive_failures) == (None, 0)


def test_a_spent_monthly_usage_cap_is_not_reported_as_a_15_minute_rate_limit(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's 429 for a spent post cap carries the 15-minute window's headers, barely used;
    # waiting for that reset said "rate limited until 09:15" all month long.
    api.add("GET", MENTIONS, Reply.json(USAGE_CAPPED, status=429, headers=limits(39_999, RESET)))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    found = state(rt)
    assert found.last_error == (
        "x usage cap reached (HTTP 429: Usage cap exceeded: Monthly product cap; "
        "UsageCapExceeded): X serves no posts to this App's project until the cap resets "
        "or the plan changes; polling tries again at 2026-11-20 10:00 UTC"
    )
    assert found.next_poll_at == NOW + timedelta(hours=1)
    labels = {"source": "mentions", "kind": "usage_capped"}
    assert rt.metrics.registry.get_sample_value("inchannel_source_errors_total", labels) == 1


def test_parent_fetches_are_held_to_the_read_budget(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The poll's check reserved one page; the deeper-parent request that followed was
    # never checked, and read past the budget.
    page = body(
        [tweet(i, "@acme hi", **reply_to(100 + i)) for i in range(1, 11)],
        included=[tweet(100 + i, "earlier", **reply_to(200 + i)) for i in range(1, 11)],
    )
    grandparents = [tweet(200 + i, "first") for i in range(1, 11)]
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", ok(body(grandparents)))
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 45})
    poll_source(rt, "mentions")
    assert api.seen("GET", r"/2/tweets") == []
    with rt.sessions() as session:
        reads = session.get(Usage, ("x:reads", "2026-11-20"))
        assert reads is not None
        assert reads.count == 20
    found = state(rt)
    assert stored(rt) == 20  # the mentions and their parents from includes
    assert found.last_error == (
        "thread context not fetched: x read budget: 20 of 45 posts read today"
    )


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (
            Reply.json({"title": "Too Many Requests"}, status=429, headers=limits(0, RESET)),
            "HTTP 429: Too Many Requests",
        ),
        (Reply(503, {"content-type": "text/html"}, b"<html>Over capacity</html>"), "HTTP 503"),
    ],
    ids=["429", "503"],
)
def test_a_failed_parent_fetch_is_reported_not_taken_for_deleted_parents(
    make_runtime: RuntimeFactory, api: FakeAPI, reply: Reply, why: str
) -> None:
    # Only a 404/403 (or errors[]) means deleted or protected: a rate limit or a server
    # error said nothing, and those mentions are stored, so their parents were lost quietly.
    page = body(
        [tweet(1, "@acme hi", **reply_to(101))], included=[tweet(101, "earlier", **reply_to(201))]
    )
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", reply)
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert len(api.seen("GET", r"/2/tweets")) == 1
    assert stored(rt) == 2  # the mention and its parent from includes
    found = state(rt)
    assert found.last_error is not None
    assert found.last_error.startswith(f"thread context not fetched: {why}")


def test_deleted_or_protected_deeper_parents_are_not_a_problem(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    page = body(
        [tweet(1, "@acme hi", **reply_to(101))], included=[tweet(101, "earlier", **reply_to(201))]
    )
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", problem(404, "Not Found Error"))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert stored(rt) == 2
    assert state(rt).last_error is None


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (
            Reply.json(["Over", "capacity"], status=503),
            "x temporarily failed: HTTP 503: unreadable answer (AttributeError)",
        ),
        (
            Reply.json({"errors": None}, status=400),
            "x temporarily failed: HTTP 400: unreadable answer (TypeError)",
        ),
        (
            Reply.json({"errors": [7]}, status=403),
            "x temporarily failed: HTTP 403: unreadable answer (TypeError)",
        ),
        (
            Reply.json(
                {"title": "Too Many Requests"}, status=429, headers={"x-rate-limit-reset": "soon"}
            ),
            "x rate limited (no reset time sent): HTTP 429: unreadable answer (ValueError)",
        ),
    ],
    ids=["503-list", "400-errors-null", "403-errors-not-objects", "429-reset-not-a-number"],
)
def test_an_answer_tweepy_crashes_on_is_a_classified_failure_naming_the_status(
    make_runtime: RuntimeFactory, api: FakeAPI, reply: Reply, message: str
) -> None:
    # tweepy reads the body and x-rate-limit-reset while building its exception; a body
    # that is not the shape it expects raised its own TypeError or AttributeError, which
    # escaped as a crash of the poll.
    api.add("GET", MENTIONS, reply)
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    found = state(rt)
    assert found.last_error == message
    assert found.next_poll_at == NOW + timedelta(seconds=30)


def reply_quoting(n: int, parent: int, quoted: int) -> dict[str, Any]:
    """A reply that also quotes a post: X sends both in includes.tweets, billed."""
    refs = [{"type": "replied_to", "id": tid(parent)}, {"type": "quoted", "id": tid(quoted)}]
    return tweet(n, "@acme look", referenced_tweets=refs, conversation_id=tid(parent))


def expanded_page(first: int) -> dict[str, Any]:
    """Ten mentions, each replying to one post and quoting another: 30 posts billed."""
    mentions = [reply_quoting(first + i, first + 100 + i, first + 200 + i) for i in range(10)]
    included = [tweet(first + 100 + i, "earlier") for i in range(10)]
    included += [tweet(first + 200 + i, "quoted", author="77") for i in range(10)]
    return body(mentions, included=included)


def test_a_poll_never_requests_a_page_whose_includes_could_pass_the_read_budget(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The check left room for max_results posts only, but X bills the replied-to and
    # quoted posts in includes.tweets too: a page of 10 cost 30, and the second poll,
    # allowed at 30 of 40, read the day's total to 60.
    api.add("GET", MENTIONS, ok(expanded_page(1)), ok(expanded_page(301)))
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 40})
    poll_source(rt, "mentions")
    clock(rt).advance(minutes=5)
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 1
    with rt.sessions() as session:
        assert session.get(Usage, ("x:reads", "2026-11-20")).count == 30  # type: ignore[union-attr]
    assert state(rt).last_error == (
        "x read budget: 30 of 40 posts read today; polling resumes at 2026-11-21 00:00 UTC"
    )


def test_a_parent_fetch_is_held_to_the_posts_its_includes_could_bring(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The deeper-parent request was checked for the ids it asked for only; its answer
    # brought the grandparents' own parents in includes.tweets as well, past the budget.
    page = body(
        [tweet(i, "@acme hi", **reply_to(100 + i)) for i in range(1, 11)],
        included=[tweet(100 + i, "earlier", **reply_to(200 + i)) for i in range(1, 11)],
    )
    grandparents = body(
        [tweet(200 + i, "first", **reply_to(300 + i)) for i in range(1, 11)],
        included=[tweet(300 + i, "root") for i in range(1, 11)],
    )
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", ok(grandparents))
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10, "thread_depth": 3}]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 35})
    poll_source(rt, "mentions")
    assert api.seen("GET", r"/2/tweets") == []
    with rt.sessions() as session:
        assert session.get(Usage, ("x:reads", "2026-11-20")).count == 20  # type: ignore[union-attr]
    assert state(rt).last_error == (
        "thread context not fetched: x read budget: 20 of 35 posts read today"
    )


def test_two_sources_polling_at_once_cannot_pass_the_read_budget_together(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Each source checked the day's counter, which the other's request under way had
    # not added to yet: both pages fitted alone, both were read, 60 posts of 40.
    api.add("GET", MENTIONS, replace(ok(expanded_page(1)), delay=1.0))
    api.add("GET", SEARCH, ok(expanded_page(301)))
    sources = [
        {"name": "mentions", "type": "x_mentions", "max_results": 10},
        {"name": "search", "type": "x_search", "query": "acme", "max_results": 10},
    ]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 40})
    first = threading.Thread(target=poll_source, args=(rt, "mentions"))
    first.start()
    deadline = time.monotonic() + 5
    while not api.seen("GET", MENTIONS) and time.monotonic() < deadline:
        time.sleep(0.01)  # until the mentions request is under way
    poll_source(rt, "search")
    first.join()
    assert api.seen("GET", SEARCH) == []
    with rt.sessions() as session:
        assert session.get(Usage, ("x:reads", "2026-11-20")).count == 30  # type: ignore[union-attr]
        search = session.get(SourceState, "search")
        assert search is not None
        assert search.last_error is not None
        assert search.last_error.startswith("x read budget: 30 posts held by X requests under way")


def x_source(rt: Runtime, name: str) -> XSource:
    found = rt.sources[name]
    assert isinstance(found, XSource)
    return found


def held_rows(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        keys = session.scalars(select(Usage.key).where(Usage.key.startswith("x:reads_held")))
        return list(keys)


def test_a_hold_left_by_a_killed_worker_lapses_instead_of_shrinking_the_day(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A worker SIGKILLed while its request was under way never released its hold: the
    # 30 posts it held counted against the day's 40 until midnight, and the source,
    # whose worst case of 30 no longer fitted, waited "for requests under way" all day.
    api.add("GET", SEARCH, ok(expanded_page(301)))
    sources = [{"name": "search", "type": "x_search", "query": "acme", "max_results": 10}]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 40})
    x_source(rt, "search").ledger.hold_reads(NOW, 30, 40)  # the killed worker's
    poll_source(rt, "search")
    assert collect(rt).usage_today.get("x:reads_held") == 30
    clock(rt).advance(minutes=1)  # a request may still be under way: the hold counts
    poll_source(rt, "search")
    assert api.seen("GET", SEARCH) == []
    with rt.sessions() as session:
        search = session.get(SourceState, "search")
        assert search is not None
        assert search.last_error is not None
        assert search.last_error.startswith("x read budget: 30 posts held by X requests under way")
    clock(rt).advance(minutes=10)  # long past any request's timeout: the worker is gone
    assert "x:reads_held" not in collect(rt).usage_today
    poll_source(rt, "search")
    assert len(api.seen("GET", SEARCH)) == 1
    with rt.sessions() as session:
        assert session.get(Usage, ("x:reads", "2026-11-20")).count == 30  # type: ignore[union-attr]
    assert held_rows(rt) == []  # the lapsed hold is gone, and the poll released its own


def test_a_search_sweep_resumed_past_the_7_day_edge_reads_on_below_its_pages_once(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The sweep's since_id was 10 minutes inside the 7-day window; its first page spent
    # the rate limit and the reset came 20 minutes later. X answers 400 to a since_id
    # outside the window: the token was taken for refused, the sweep restarted from
    # scratch and read (and billed) its first page again.
    edge = snowflake_at(NOW - timedelta(days=7, minutes=-10))
    first = ok(body([tweet(5, "acme"), tweet(4, "acme")], next_token="p2"), remaining=0)
    api.add("GET", SEARCH, first, ok(body([])))
    out_of_window = problem(400, "Invalid 'since_id': must be within the last 7 days")
    api.add("GET", SEARCH, out_of_window, query={"pagination_token": "p2"})
    api.add("GET", SEARCH, ok(body([tweet(3, "acme")])), query={"until_id": tid(4)})
    sources = [{"name": "brand", "type": "x_search", "query": "acme", "overlap_seconds": 0}]
    rt = x_runtime(make_runtime, api, sources=sources)
    with rt.sessions.begin() as session:
        session.add(SourceState(name="brand", cursor=edge, consecutive_failures=0, items_total=0))
    poll_source(rt, "brand")
    assert stored(rt) == 2
    clock(rt).advance(minutes=20)
    poll_source(rt, "brand")
    clock(rt).advance(minutes=5)
    poll_source(rt, "brand")  # a failed resume would be retried here
    _, resumed, after = api.seen("GET", SEARCH)
    assert after.query["since_id"] == [tid(5)]
    assert "pagination_token" not in resumed.query
    assert resumed.query["until_id"] == [tid(4)]  # below the pages already read
    floor = snowflake_at(NOW + timedelta(minutes=20) - timedelta(days=7, minutes=-1))
    assert resumed.query["since_id"] == [floor]
    with rt.sessions() as session:
        brand = session.get(SourceState, "brand")
        assert brand is not None
        assert brand.last_error is None
        assert brand.cursor == f'{{"newest_id":"{tid(5)}"}}'
        gaps = [e.detail for e in session.scalars(select(Event).where(Event.kind == "gap"))]
        reads = sum(u.count for u in session.scalars(select(Usage).where(Usage.key == "x:reads")))
    assert stored(rt) == 3
    assert [g["reason"] for g in gaps] == ["sweep resumed after its since_id left the 7-day window"]
    assert reads == 3  # each post read and billed once


def test_a_search_sweep_whose_pages_left_the_7_days_starts_from_the_window_not_stopped(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A sweep cut short (a rate limit, a revoked token) and not polled for 8 days: its
    # pages read had left the 7 days too, yet it read on below them from the window's
    # edge, since_id above until_id. X refused that, and the source stopped for good
    # with "check x.user_id and the source's query", the cursor never to change.
    first = ok(body([tweet(5, "acme"), tweet(4, "acme")], next_token="p2"), remaining=0)
    later = int((NOW + timedelta(days=8) - snowflake_time(tid(0))).total_seconds() * 1000) << 22
    api.add("GET", SEARCH, first, ok(body([tweet(later, "acme")])))
    invalid = problem(400, "One or more parameters to your request was invalid.")
    api.add("GET", SEARCH, invalid, query={"next_token": "p2"})
    api.add("GET", SEARCH, invalid, query={"until_id": tid(4)})
    sources = [{"name": "brand", "type": "x_search", "query": "acme", "overlap_seconds": 0}]
    rt = x_runtime(make_runtime, api, sources=sources)
    with rt.sessions.begin() as session:
        session.add(SourceState(name="brand", cursor=tid(0), consecutive_failures=0, items_total=0))
    poll_source(rt, "brand")
    clock(rt).advance(days=8)
    poll_source(rt, "brand")
    resumed = api.seen("GET", SEARCH)[-1]
    assert "until_id" not in resumed.query
    assert "next_token" not in resumed.query
    floor = snowflake_at(NOW + timedelta(days=8) - timedelta(days=7, minutes=-1))
    assert resumed.query["since_id"] == [floor]
    with rt.sessions() as session:
        brand = session.get(SourceState, "brand")
        assert brand is not None
        assert (brand.last_error, brand.consecutive_failures) == (None, 0)
        assert brand.cursor == f'{{"newest_id":"{tid(later)}"}}'
        gaps = [e.detail for e in session.scalars(select(Event).where(Event.kind == "gap"))]
    assert [(g["reason"], g["since_id"]) for g in gaps] == [("cursor older than 7 days", tid(0))]
    assert stored(rt) == 3


def test_a_sweep_running_past_midnight_charges_and_holds_each_page_on_its_own_day(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Every hold and count of a sweep was dated from the poll's start: the page read
    # after midnight was held against the old day, full by then, and the sweep stopped
    # "for the day" on a new day's untouched budget (or counted its page on the old day).
    arrived, gate = threading.Event(), threading.Event()
    page = body([tweet(i) for i in range(10, 20)], next_token="p2")
    first = replace(ok(page), arrived=arrived, gate=gate)
    api.add("GET", MENTIONS, first)
    api.add("GET", MENTIONS, ok(body([tweet(3), tweet(4)])), query={"pagination_token": "p2"})
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    # A page's worst case is 30: after the first page's 10, a second fits in a new day only.
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 35})
    with rt.sessions.begin() as session:
        cursor = f'{{"newest_id":"{tid(0)}"}}'
        session.add(SourceState(name="mentions", cursor=cursor, consecutive_failures=0))
    clock(rt).set(datetime(2026, 11, 20, 23, 59, 50, tzinfo=UTC))
    polling = threading.Thread(target=poll_source, args=(rt, "mentions"))
    polling.start()
    assert arrived.wait(timeout=5)
    clock(rt).set(datetime(2026, 11, 21, 0, 0, 5, tzinfo=UTC))  # midnight, mid-request
    gate.set()
    polling.join(timeout=10)
    assert len(api.seen("GET", MENTIONS)) == 2
    assert stored(rt) == 12
    with rt.sessions() as session:
        rows = session.scalars(select(Usage).where(Usage.key.in_(["x:reads", "x:requests"])))
        counts = {(u.key, u.day): u.count for u in rows}
        assert list(session.scalars(select(Event).where(Event.kind == "budget"))) == []
    # The first page was asked for on the 20th, the second on the 21st.
    assert counts == {
        ("x:reads", "2026-11-20"): 10,
        ("x:requests", "2026-11-20"): 1,
        ("x:reads", "2026-11-21"): 2,
        ("x:requests", "2026-11-21"): 1,
    }
    assert state(rt).last_error is None


def test_a_429_whose_reset_lies_years_ahead_backs_off_instead_of_parking_the_source(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X's longest window is a day; a reset years ahead (a garbled header, a proxy's)
    parked the source until then, reading nothing, until a worker happened to restart."""
    far = int((NOW + timedelta(days=3650)).timestamp())
    api.add(
        "GET",
        MENTIONS,
        Reply.json({"title": "Too Many Requests"}, status=429, headers=limits(0, far)),
        ok(body([tweet(1)])),
    )
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    found = state(rt)
    assert found.next_poll_at == NOW + timedelta(seconds=30)
    assert found.last_error == ("x rate limited (no reset time sent): HTTP 429: Too Many Requests")
    clock(rt).advance(seconds=31)
    poll_source(rt, "mentions")
    assert stored(rt) == 1


def test_remaining_zero_with_a_reset_years_ahead_does_not_park_the_source(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    far = int((NOW + timedelta(days=3650)).timestamp())
    api.add("GET", MENTIONS, ok(body([tweet(1)], next_token="n"), remaining=0, reset=far))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert state(rt).rate_limit_reset_at is None


def test_thread_context_skipped_for_the_holds_of_requests_under_way_says_so(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Only another request under way kept the deeper-parent fetch out: 20 of the day's
    # 60 read, 20 held, 30 wanted. The message read "20 of 60 posts read today", as if
    # the day's budget were spent, with two thirds of it left.
    page = body(
        [tweet(i, "@acme hi", **reply_to(100 + i)) for i in range(1, 11)],
        included=[tweet(100 + i, "earlier", **reply_to(200 + i)) for i in range(1, 11)],
    )
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", ok(body([tweet(200 + i, "first") for i in range(1, 11)])))
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 60})
    x_source(rt, "mentions").ledger.hold_reads(NOW, 20, 60)  # another worker's request
    poll_source(rt, "mentions")
    assert api.seen("GET", r"/2/tweets") == []
    assert stored(rt) == 20
    assert state(rt).last_error == (
        "thread context not fetched: x read budget: 20 posts held by X requests under way, "
        "20 of 60 read today"
    )


@pytest.mark.parametrize(
    "redirect",
    [Reply(301, {"location": "/elsewhere"}, b""), Reply(302, {}, b"")],
    ids=["301", "302-no-location"],
)
def test_a_redirect_stops_the_source_naming_x_api_base_url(
    make_runtime: RuntimeFactory, api: FakeAPI, redirect: Reply
) -> None:
    """A 3xx backed off as temporary for ever: X's API never redirects, so only a wrong
    x.api_base_url or a proxy in front of X does, and no later poll gets past it."""
    api.add("GET", MENTIONS, redirect)
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    found = state(rt)
    assert str(found.last_error).startswith(
        "x.api_base_url answers with a redirect (X's API never redirects): a wrong "
        f"x.api_base_url, or a proxy in front of X that redirects; fix that setting (HTTP "
        f"{redirect.status}"
    )
    assert found.next_poll_at is not None
    assert found.next_poll_at > NOW + timedelta(days=3000)  # stopped until an operator acts
    assert api.seen("GET", "/elsewhere") == []


def test_a_redirect_names_where_it_pointed_without_its_credentials_or_query(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """The error is stored, shown by `status` and sent in alerts: a proxy's Location may
    carry a password (user:password@) or a token in its query, which none of those may
    show. Where it pointed (scheme, host, path) is what names the wrong setting."""
    location = (
        "https://relay:s3cret-pass@proxy.example.net:8443/v2/mentions?access_token=tok-123#frag"
    )
    api.add("GET", MENTIONS, Reply(307, {"location": location}, b""))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    error = str(state(rt).last_error)
    assert error.endswith("(HTTP 307: redirected to https://proxy.example.net:8443/v2/mentions)"), (
        error
    )
    for secret in ("relay", "s3cret-pass", "access_token", "tok-123", "frag"):
        assert secret not in error


def test_a_redirect_to_a_long_path_is_named_cut_short(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, Reply(301, {"location": "/" + "p" * 1000 + "?q=1"}, b""))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    error = str(state(rt).last_error)
    assert error.endswith(f"(HTTP 301: redirected to /{'p' * 199})"), error[-300:]
