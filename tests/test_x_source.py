"""The X sources through the real tweepy.Client against the local FakeAPI server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.sources import x_source
from monitor.sources.x_cursor import snowflake_at, snowflake_time
from monitor.store.models import Case, Customer, Event, Message, SourceState, Usage
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.rulekit import write
from tests.xapi import (
    BRAND_ID,
    CASSETTES,
    MENTIONS,
    SEARCH,
    body,
    ok,
    recorded_json,
    reply_to,
    tid,
    tweet,
    user,
    x_runtime,
    x_section,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    started = time.monotonic()
    with FakeAPI() as server:
        yield server
    # Nothing waits on a rate limit or a backoff: every test here takes seconds of wall
    # time, not the minutes a scripted reset or a backoff would take if slept through.
    assert time.monotonic() - started < 10


def state(rt: Runtime, name: str = "mentions") -> SourceState:
    with rt.sessions() as session:
        found = session.get(SourceState, name)
        assert found is not None
        return found


def messages(rt: Runtime) -> list[Message]:
    with rt.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.external_id)))


def usage(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        return {u.key: u.count for u in session.scalars(select(Usage))}


def events(rt: Runtime, kind: str) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [e.detail for e in session.scalars(select(Event).where(Event.kind == kind))]


def cursor_of(newest: str) -> str:
    return json.dumps({"newest_id": newest}, separators=(",", ":"))


def set_cursor(rt: Runtime, cursor: str, name: str = "mentions") -> None:
    with rt.sessions.begin() as session:
        session.merge(SourceState(name=name, cursor=cursor, consecutive_failures=0, items_total=0))


def test_recorded_mentions_replay_requests_fields_and_reports_items_without_them(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(CASSETTES / "test_client_get_users_mentions.yaml")
    rt = x_runtime(make_runtime, api)
    assert poll_source(rt, "mentions") is False  # first start: one page, not the window
    (request,) = api.seen("GET", MENTIONS)
    assert request.headers["authorization"] == "Bearer bearer-secret"
    assert request.query["max_results"] == ["100"]
    assert "since_id" not in request.query
    assert request.query["tweet.fields"] == [
        "author_id,created_at,conversation_id,in_reply_to_user_id,referenced_tweets,lang,"
        "reply_settings,note_tweet,edit_history_tweet_ids,entities"
    ]
    assert request.query["expansions"] == [
        "author_id,referenced_tweets.id,referenced_tweets.id.author_id"
    ]
    assert request.query["user.fields"] == ["username,name,verified,public_metrics,created_at"]
    # The recording was made without fields: every item lacks its author, and says so.
    recorded = recorded_json("test_client_get_users_mentions.yaml")
    first = recorded["data"][0]["id"]
    found = state(rt)
    assert messages(rt) == []
    assert found.last_error is not None
    assert found.last_error.startswith(f"post '{first}': missing author_id; ")
    assert found.last_error.count("missing author_id") == 10
    assert found.cursor == cursor_of(recorded["meta"]["newest_id"])
    assert found.details["rate_limit"] == {
        "limit": 450,
        "remaining": 448,
        "reset_at": "2022-10-07T22:53:48+00:00",
    }
    assert usage(rt) == {"x:requests": 1, "x:reads": 10}


@pytest.mark.parametrize(
    "cassette",
    ["test_client_search_recent_tweets.yaml", "test_asyncclient_search_recent_tweets.yaml"],
)
def test_recorded_search_with_the_requested_fields_lands_in_the_database(
    make_runtime: RuntimeFactory, api: FakeAPI, cassette: str
) -> None:
    recorded = recorded_json(cassette)
    # The real posts, with the fields our request asks for filled in as X would.
    enriched = [
        {**item, "author_id": "42", "created_at": "2026-11-20T08:00:00.000Z",
         "conversation_id": item["id"], "lang": "en", "reply_settings": "everyone"}
        for item in recorded["data"]
    ]  # fmt: skip
    api.add(
        "GET",
        SEARCH,
        ok({**recorded, "data": enriched, "includes": {"users": [user("42", "carla")]}}),
    )
    rt = x_runtime(
        make_runtime, api, sources=[{"name": "brand", "type": "x_search", "query": "Tweepy"}]
    )
    poll_source(rt, "brand")
    assert api.seen("GET", SEARCH)[0].query["query"] == ["Tweepy"]
    stored = messages(rt)
    assert sorted(m.external_id for m in stored) == sorted(t["id"] for t in recorded["data"])
    texts = {m.external_id: m.text for m in stored}
    assert all("&amp;" not in t for t in texts.values())  # v2 escapes &, < and >
    assert {m.kind for m in stored} == {"keyword"}
    assert {m.author_handle for m in stored} == {"carla"}
    assert stored[0].url == f"https://x.com/carla/status/{stored[0].external_id}"
    assert process_pending(rt) is False
    with rt.sessions() as session:
        assert session.scalars(select(Customer)).one().followers == 10


def test_a_long_post_is_stored_with_its_whole_text_not_x_s_truncated_one(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A post over 280 characters (X's long posts) comes with its first 280 or so in
    # `text`, cut with an ellipsis and a link; the whole text is in note_tweet, sent
    # only when tweet.fields asks for it. The brand's name and the complaint are often
    # in the part cut off.
    whole = "My order never came. " * 15 + "Refund now @acme &amp; fast"
    cut = whole[:270] + "\u2026 https://t.co/abc"
    long_post = tweet(1, cut, note_tweet={"text": whole, "entities": {}})
    api.add("GET", SEARCH, ok(body([long_post, tweet(2, "acme is fine")])))
    rt = x_runtime(
        make_runtime, api, sources=[{"name": "brand", "type": "x_search", "query": "acme"}]
    )
    poll_source(rt, "brand")
    fields = api.seen("GET", SEARCH)[0].query["tweet.fields"][0].split(",")
    assert "note_tweet" in fields
    stored = {m.external_id: m for m in messages(rt)}
    assert stored[tid(1)].text.endswith("Refund now @acme & fast")
    assert stored[tid(1)].kind == "mention"  # @acme is only in the part X cut off
    assert stored[tid(2)].text == "acme is fine"


def test_sweep_follows_next_token_from_the_overlap_and_advances_only_at_the_end(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5), tweet(4)], next_token="page2")))
    api.add("GET", MENTIONS, ok(body([tweet(3)])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    newest = int(tid(0))
    set_cursor(rt, str(newest))
    assert poll_source(rt, "mentions") is False  # one poll reads the whole sweep
    first, second = api.seen("GET", MENTIONS)
    overlap = str(newest - (15_000 << 22))  # 15 s of snowflake time below the newest
    assert first.query["since_id"] == second.query["since_id"] == [overlap]
    assert second.query["pagination_token"] == ["page2"]
    assert [m.external_id for m in messages(rt)] == [tid(3), tid(4), tid(5)]
    assert state(rt).cursor == cursor_of(tid(5))
    poll_source(rt, "mentions")
    assert api.seen("GET", MENTIONS)[-1].query["since_id"] == [str(int(tid(5)) - (15_000 << 22))]
    assert len(messages(rt)) == 3  # the overlap re-read stored nothing twice


def test_a_sweep_is_decided_in_the_order_it_was_written_across_its_pages(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """X pages newest first: the customer's thanks is on the first page, the complaint
    it follows on the second. The complaint opens the case; the thanks follows it."""
    at = {"created_at": "2026-11-20T08:50:00.000Z"}
    later = {"created_at": "2026-11-20T08:58:00.000Z", **reply_to(3)}
    thanks = tweet(5, "@acme it arrived, thanks!", **later)
    api.add("GET", MENTIONS, ok(body([thanks], next_token="p2")))
    api.add(
        "GET",
        MENTIONS,
        ok(body([tweet(3, "@acme my order is late, this is awful", **at)])),
        query={"pagination_token": "p2"},
    )
    rt = x_runtime(make_runtime, api)
    set_cursor(rt, tid(0))
    poll_source(rt, "mentions")
    while process_pending(rt):
        pass
    with rt.sessions() as session:
        (case,) = session.scalars(select(Case))
        order = select(Message.external_id).where(Message.case_id == case.id)
        assert list(session.scalars(order.order_by(Message.id))) == [tid(3), tid(5)]
        opened = session.scalars(select(Event).where(Event.kind == "opened")).one()
        assert opened.detail["message"] == tid(3)
    assert case.latest_label == "positive"  # the latest message written, the thanks


def test_a_sweep_slower_than_its_time_bound_is_stored_and_read_on_at_once(
    make_runtime: RuntimeFactory, api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll must end within the source's lease: past SWEEP_SECONDS the pages read are
    stored and the poll says ``more``, so the daemon reads on at once."""
    monkeypatch.setattr(x_source, "SWEEP_SECONDS", -1)
    api.add("GET", MENTIONS, ok(body([tweet(5)], next_token="p2")))
    api.add("GET", MENTIONS, ok(body([tweet(3)])), query={"pagination_token": "p2"})
    rt = x_runtime(make_runtime, api)
    set_cursor(rt, tid(0))
    assert poll_source(rt, "mentions") is True
    assert [m.external_id for m in messages(rt)] == [tid(5)]
    assert poll_source(rt, "mentions") is False
    assert [m.external_id for m in messages(rt)] == [tid(3), tid(5)]
    assert state(rt).cursor == cursor_of(tid(5))


def test_page_cap_and_window_overflow_record_gap_events(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1)], next_token="more")))
    rt = x_runtime(
        make_runtime, api, sources=[{"name": "mentions", "type": "x_mentions", "max_pages": 2}]
    )
    set_cursor(rt, tid(0))
    assert poll_source(rt, "mentions") is False
    assert len(api.seen("GET", MENTIONS)) == 2
    (gap,) = events(rt, "gap")
    assert gap["reason"] == "page cap of 2 reached"
    assert state(rt).details["last_gap"]["reason"] == "page cap of 2 reached"
    big = body([tweet(2)])
    big["meta"]["result_count"] = 800
    api.add("GET", MENTIONS, ok(big))
    poll_source(rt, "mentions")
    assert events(rt, "gap")[-1]["reason"] == "800 new mentions: the 800-post window overflowed"


def test_own_posts_and_plain_retweets_are_skipped_quotes_and_replies_kept(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    page = body(
        [
            tweet(1, "we are on it", author="783214"),
            tweet(2, "@acme thanks", author="7", **reply_to(0)),
            tweet(3, "RT @carla: @acme my order is late",
                  referenced_tweets=[{"type": "retweeted", "id": tid(9)}]),
            tweet(4, "@acme same here", referenced_tweets=[{"type": "quoted", "id": tid(9)}]),
            tweet(5, "@acme ugh", in_reply_to_user_id="783214", **reply_to(0)),
        ],
        users=[user("42", "carla"), user("7", "acmehelp"), user("783214", "acme")],
    )  # fmt: skip
    api.add("GET", MENTIONS, ok(page))
    rt = x_runtime(
        make_runtime, api, sources=[{"name": "mentions", "type": "x_mentions", "thread_depth": 0}]
    )
    poll_source(rt, "mentions")
    kinds = {m.external_id: m.kind for m in messages(rt)}
    assert kinds == {tid(4): "mention", tid(5): "reply"}


def test_a_post_found_by_mentions_and_by_search_is_stored_once(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1)])))
    api.add("GET", SEARCH, ok(body([tweet(1), tweet(2, "acme is great")])))
    sources = [
        {"name": "mentions", "type": "x_mentions"},
        {"name": "brand", "type": "x_search", "query": "acme -is:retweet"},
    ]
    rt = x_runtime(make_runtime, api, sources=sources)
    poll_source(rt, "mentions")
    poll_source(rt, "brand")
    stored = {m.external_id: (m.kind, m.source) for m in messages(rt)}
    assert stored == {tid(1): ("mention", "mentions"), tid(2): ("keyword", "brand")}


def test_a_search_hit_takes_a_reply_only_when_it_mentions_the_brand(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's API refuses a reply to a post that does not mention the posting account,
    # whatever its reply_settings; a mention may be answered whatever they are.
    page = body(
        [
            tweet(1, "acme lost my parcel", reply_settings="following"),
            tweet(2, "@Acme lost my parcel", reply_settings="mentionedUsers"),
            tweet(3, "acme lost my parcel", reply_settings="everyone"),
        ]
    )
    api.add("GET", SEARCH, ok(page))
    rt = x_runtime(
        make_runtime, api, sources=[{"name": "brand", "type": "x_search", "query": "acme"}]
    )
    poll_source(rt, "brand")
    allowed = {m.external_id: m.reply_allowed for m in messages(rt)}
    assert allowed == {tid(1): False, tid(2): True, tid(3): False}


def test_a_post_from_the_mentions_timeline_may_be_answered_whatever_its_reply_settings(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The timeline holds only posts that mention the brand account, and X lets a mentioned
    # account reply whatever the reply settings. Checked against the text alone, a
    # mention without a handle listed in brand.accounts.x, or a reply in the thread that
    # does not name the brand in its text, was taken for one the bot may not answer, and
    # was escalated instead of answered.
    page = body(
        [
            tweet(1, "@acme my parcel is lost", reply_settings="mentionedUsers"),
            tweet(2, "still nothing arrived", reply_settings="following"),
        ]
    )
    api.add("GET", MENTIONS, ok(page))
    rt = make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        x=x_section(api),
        brand={"name": "Acme"},  # no brand.accounts.x
    )
    poll_source(rt, "mentions")
    allowed = {m.external_id: m.reply_allowed for m in messages(rt)}
    assert allowed == {tid(1): True, tid(2): True}


def test_thread_context_uses_includes_fetches_deeper_and_skips_deleted_parents(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    page = body(
        [
            tweet(10, "@acme still broken", **reply_to(9, 7)),  # parent 9 in includes
            tweet(20, "@acme me too", **reply_to(19)),  # parent 19 deleted
            tweet(30, "@acme agreed", author="44", **reply_to(29)),  # parent by a third party
        ],
        included=[
            tweet(9, "my router died", **reply_to(8, 7)),
            tweet(29, "acme is the worst", author="43"),
        ],
        users=[user("42", "carla"), user("43", "dan"), user("44", "erin")],
        errors=[{"resource_id": tid(19), "title": "Not Found Error", "type": "https://api.twitter.com/2/problems/resource-not-found"}],
    )  # fmt: skip
    brand_post = tweet(8, "Router firmware 2.1 is out", author="783214")
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", ok(body([brand_post], users=[user("783214", "acme")])))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    stored = {m.external_id: m for m in messages(rt)}
    assert sorted(stored) == [tid(8), tid(9), tid(10), tid(20), tid(30)]
    parent = stored[tid(9)]
    assert (parent.kind, parent.reply_allowed, parent.author_handle) == ("reply", False, "carla")
    assert (stored[tid(8)].kind, stored[tid(8)].author_handle) == ("own", "acme")
    assert stored[tid(10)].reply_allowed is True
    assert api.seen("GET", r"/2/tweets")[0].query["ids"] == [tid(8)]
    assert state(rt).last_error is None  # a deleted parent is not an error
    process_pending(rt)
    with rt.sessions() as session:
        case_of = {m.external_id: m.case_id for m in session.scalars(select(Message))}
    assert case_of[tid(9)] == case_of[tid(10)] is not None  # the thread shows in one case


def test_a_parent_by_another_customer_of_the_page_is_not_stored_as_context(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Parents were kept when their author wrote any mention of the page: erin's reply to
    # dan's post stored dan's post, which never addressed the brand, and opened a case
    # for dan in a thread he never brought to the brand, because dan had mentioned the
    # brand elsewhere on the same page.
    page = body(
        [
            tweet(30, "@acme agreed", author="44", **reply_to(29)),
            tweet(40, "@acme where is my refund", author="43"),
        ],
        included=[tweet(29, "the match was awful", author="43")],
        users=[user("43", "dan"), user("44", "erin")],
    )
    api.add("GET", MENTIONS, ok(page))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert [m.external_id for m in messages(rt)] == [tid(30), tid(40)]


def test_the_customers_post_above_a_brand_reply_is_stored_as_context(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # carla's complaint, the brand's answer, carla's follow-up: two levels up, her own
    # first post was left out, as a parent was kept only by the author of its direct
    # reply (here the brand), so the case showed the brand answering nothing.
    follow_up = tweet(10, "@acme still broken", in_reply_to_user_id=BRAND_ID, **reply_to(9, 8))
    answer = tweet(9, "@carla try a restart", author=BRAND_ID, **reply_to(8, 8))
    first = tweet(8, "my router died again")
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    api.add("GET", MENTIONS, ok(body([follow_up], users=users, included=[answer])))
    api.add("GET", r"/2/tweets", ok(body([first])))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    stored = {m.external_id: (m.kind, m.reply_allowed) for m in messages(rt)}
    assert stored == {tid(8): ("reply", False), tid(9): ("own", False), tid(10): ("reply", True)}


def test_a_failing_parent_fetch_is_skipped_not_fatal(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    page = body([tweet(10, "@acme hi", **reply_to(9))], included=[tweet(9, "hm", **reply_to(8))])
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", Reply.json({"title": "Not Found Error"}, status=404))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert [m.external_id for m in messages(rt)] == [tid(9), tid(10)]
    assert state(rt).consecutive_failures == 0


def test_malformed_items_are_skipped_with_their_id(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    bad_time = tweet(2, created_at="yesterday")
    no_author = tweet(3)
    del no_author["author_id"]
    api.add("GET", MENTIONS, ok(body([tweet(1), bad_time, no_author, "junk", {"id": 5}])))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert [m.external_id for m in messages(rt)] == [tid(1)]
    assert state(rt).last_error == (
        f"post '{tid(2)}': created_at is not an ISO 8601 time: 'yesterday'; "
        f"post '{tid(3)}': missing author_id; "
        "post without id: expected a JSON object; "
        "post '5': missing text, author_id"
    )


def test_hostile_author_fields_are_bounded_and_never_reach_urls(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    evil = user("42", "carla/../../admin?<script>")
    evil["name"] = "N" * 5000
    page = body([tweet(1, "<b>@acme</b> {{ config }}", lang="en'; drop table")], users=[evil])
    api.add("GET", MENTIONS, ok(page))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    (stored,) = messages(rt)
    assert stored.author_handle == "42"
    assert stored.url == f"https://x.com/42/status/{tid(1)}"
    assert stored.text == "<b>@acme</b> {{ config }}"  # kept verbatim; escaped when shown
    assert stored.lang is None
    with rt.sessions() as session:
        assert session.scalars(select(Customer)).one().display_name == "N" * 256


@pytest.mark.parametrize("name", ["Carla\x00", "Carla \ud83d"], ids=["nul", "surrogate"])
def test_an_author_name_no_column_takes_is_cleaned_not_a_page_that_fails_every_poll(
    make_runtime: RuntimeFactory, api: FakeAPI, name: str
) -> None:
    # A NUL (which PostgreSQL refuses in text) or a lone surrogate (which no driver
    # encodes) in one author's name failed the page's insert: nothing of it was stored,
    # the source recorded no failure, and the same page was read (and billed) at every
    # poll while the author stayed among the newest mentions.
    odd = user("42", "carla")
    odd["name"] = name
    page = body([tweet(1), tweet(2, author="43")], users=[odd, user("43", "dana")])
    api.add("GET", MENTIONS, ok(page))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert [m.external_id for m in messages(rt)] == [tid(1), tid(2)]
    with rt.sessions() as session:
        names = {c.handle: c.display_name for c in session.scalars(select(Customer))}
    assert names == {"carla": name.replace("\x00", "").replace("\ud83d", "?"), "dana": "Dana"}


def test_the_authors_account_creation_time_reaches_account_age_rules(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    # X gives it in the same request when asked; without it an account_age rule never
    # matched in the daemon.
    write(tmp_path / "rules", "name: new\nmatch: {author: {account_age: '< 3 days'}}\n"
          "then: {tag: [new-account]}\n")  # fmt: skip
    fresh = {**user("42", "carla"), "created_at": "2026-11-19T08:00:00.000Z"}
    garbled = {**user("43", "bob"), "created_at": "yesterday"}
    unsaid = {k: v for k, v in user("44", "dana").items() if k != "created_at"}
    page = body([tweet(1), tweet(2, author="43"), tweet(3, author="44")],
                users=[fresh, garbled, unsaid])  # fmt: skip
    api.add("GET", MENTIONS, ok(page))
    rt = ruled_runtime(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    process_pending(rt)
    (request,) = api.seen("GET", MENTIONS)
    assert request.query["user.fields"] == ["username,name,verified,public_metrics,created_at"]
    with rt.sessions() as session:
        born = {c.handle: c.account_created_at for c in session.scalars(select(Customer))}
    assert born == {"carla": datetime(2026, 11, 19, 8, tzinfo=UTC), "bob": None, "dana": None}
    tags = {m.author_handle: (m.decision or {}).get("tags") for m in messages(rt)}
    assert tags == {"carla": ["new-account"], "bob": None, "dana": None}


def test_environment_proxies_never_capture_the_redirected_requests(
    make_runtime: RuntimeFactory, api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    api.add("GET", MENTIONS, ok(body([tweet(1)])))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert [m.external_id for m in messages(rt)] == [tid(1)]


def test_a_quiet_search_keeps_its_since_id_inside_the_7_day_window(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", SEARCH, ok(body([])))
    search = {"name": "s", "type": "x_search", "query": "acme", "overlap_seconds": 3600}
    rt = x_runtime(make_runtime, api, sources=[search])
    now = rt.clock.now()
    # The newest post is 2 minutes inside the window; an hour of overlap reaches past it.
    set_cursor(rt, cursor_of(snowflake_at(now - timedelta(days=7, minutes=-2))), "s")
    poll_source(rt, "s")
    (request,) = api.seen("GET", SEARCH)
    since = snowflake_time(request.query["since_id"][0])
    assert now - timedelta(days=7) < since <= now - timedelta(days=7, minutes=-1)
    assert state(rt, "s").last_error is None
    assert events(rt, "gap") == []  # nothing was missed: the cursor is inside the window


def test_the_brand_account_is_own_by_its_user_id_without_brand_accounts(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    brand_post = tweet(1, "We shipped v2!", author=BRAND_ID)
    mention = tweet(2, "@acme it broke", in_reply_to_user_id=BRAND_ID, **reply_to(1))
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    api.add("GET", MENTIONS, ok(body([mention], users=users, included=[brand_post])))
    rt = make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        x=x_section(api),
        brand={"name": "Acme"},  # no brand.accounts.x
    )
    poll_source(rt, "mentions")
    process_pending(rt)
    kinds = {m.external_id: (m.direction, m.kind) for m in messages(rt)}
    assert kinds == {tid(1): ("inbound", "own"), tid(2): ("inbound", "reply")}
    with rt.sessions() as session:
        cases = session.scalars(select(Case)).all()
        owners = {session.get_one(Customer, c.customer_id).platform_user_id for c in cases}
    assert owners == {"42"}  # a case for the customer only, none against the brand


def test_an_author_x_leaves_out_of_includes_keeps_the_stored_name_and_is_not_greeted_by_id(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    # X leaves suspended, withheld and protected authors (and some under load) out of
    # includes.users. Their numeric id stood in for the handle: it replaced a known
    # customer's handle, and the bot greeted a new one as "Hi 77" and tagged "@77".
    write(tmp_path / "rules", "name: hello\nthen: {reply: 'Hi {first_name}, thanks {author}!'}\n")
    api.add("GET", MENTIONS, ok(body([tweet(1)], users=[user("42", "carla")])))
    rt = ruled_runtime(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    later = [tweet(2, "@acme still late", author="42"), tweet(3, author="77")]
    api.add("GET", MENTIONS, ok(body(later, users=[user("9", "someone_else")])))
    poll_source(rt, "mentions")
    process_pending(rt)
    with rt.sessions() as session:
        names = {c.platform_user_id: (c.handle, c.display_name)
                 for c in session.scalars(select(Customer))}  # fmt: skip
    assert names == {"42": ("carla", "Carla"), "77": ("77", "")}
    stored = {m.external_id: m for m in messages(rt)}
    assert stored[tid(2)].author_handle == "carla"
    replies = {i: (stored[tid(i)].decision or {})["reply"]["text"] for i in (1, 3)}
    assert replies == {1: "Hi Carla, thanks @carla!", 3: "Hi, thanks!"}


def ruled_runtime(make_runtime: RuntimeFactory, api: FakeAPI, rules: Path) -> Runtime:
    """The mentions source (no thread context) with the rule files in ``rules``."""
    return make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions", "thread_depth": 0}],
        responders={"x": {"type": "recording", "path": None},
                    "reddit": {"type": "recording", "path": None}},
        x=x_section(api),
        rules={"path": str(rules)},
    )  # fmt: skip


def test_a_parent_fetch_answering_an_item_without_id_keeps_the_page(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Payload items are checked one by one, but the deeper-parent answer was indexed by
    # each item's "id" unchecked: one item without it raised KeyError, the poll crashed
    # and every poll after it asked for the same page and crashed again.
    page = body([tweet(10, "@acme hi", **reply_to(9))], included=[tweet(9, "hm", **reply_to(8))])
    idless = {k: v for k, v in tweet(99, "no id").items() if k != "id"}
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", ok(body([tweet(8, "first"), idless])))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert [m.external_id for m in messages(rt)] == [tid(8), tid(9), tid(10)]
    assert state(rt).consecutive_failures == 0


def test_a_deeper_parent_fetch_keeps_the_grandparents_its_includes_brought(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # GET /2/tweets has the same expansions, so the parents' own parents come back (and
    # are billed) in its includes.tweets; they were thrown away, and the next level
    # asked X for the same posts again: one more request, its posts billed twice.
    follow_up = tweet(10, "@acme still broken", **reply_to(9, 7))
    page = body([follow_up], included=[tweet(9, "day three now", **reply_to(8, 7))])
    deeper = body([tweet(8, "day two", **reply_to(7, 7))], included=[tweet(7, "router died")])
    api.add("GET", MENTIONS, ok(page))
    api.add("GET", r"/2/tweets", ok(deeper), ok(body([tweet(7, "router died")])))
    sources = [{"name": "mentions", "type": "x_mentions", "thread_depth": 3}]
    rt = x_runtime(make_runtime, api, sources=sources)
    poll_source(rt, "mentions")
    assert [r.query["ids"] for r in api.seen("GET", r"/2/tweets")] == [[tid(8)]]
    assert [m.external_id for m in messages(rt)] == [tid(7), tid(8), tid(9), tid(10)]
    assert usage(rt)["x:reads"] == 4  # each post billed once
    assert state(rt).last_error is None


def test_a_grandparent_listed_as_a_mention_of_the_same_page_is_not_fetched(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # carla's complaint and her follow-up to the brand's answer come on one page. Past
    # the first level, the mentions of the page were no longer left out of the parents
    # wanted: her complaint, read a moment before, was asked for again by id and billed.
    first = tweet(8, "@acme my router died", created_at="2026-11-20T08:00:00.000Z")
    answer = tweet(9, "@carla try a restart", author=BRAND_ID, **reply_to(8, 8))
    follow_up = tweet(10, "@acme still broken", in_reply_to_user_id=BRAND_ID, **reply_to(9, 8))
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    api.add("GET", MENTIONS, ok(body([follow_up, first], users=users, included=[answer])))
    api.add("GET", r"/2/tweets", ok(body([first], users=users)))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    assert api.seen("GET", r"/2/tweets") == []
    stored = {m.external_id: (m.kind, m.reply_allowed) for m in messages(rt)}
    assert stored == {tid(8): ("mention", True), tid(9): ("own", False), tid(10): ("reply", True)}
    assert usage(rt)["x:reads"] == 3


def test_a_grandparent_shared_by_two_pages_of_one_sweep_is_fetched_once(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # carla's first post, answered twice by the brand, each answer replied to on its own
    # page of one sweep. The sweep stores its pages together at its end, so the second
    # page looked for the post in the database, did not find it, and X billed it again.
    first = tweet(1, "my router died")
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    answers = [tweet(n, "@carla try a restart", author=BRAND_ID, **reply_to(1)) for n in (2, 4)]
    newer = tweet(5, "@acme still broken", **reply_to(4, 1))
    older = tweet(3, "@acme no luck", **reply_to(2, 1))
    seed = body([tweet(0, "@acme hello", author="43")], users=[user("43", "dan")])
    page1 = body([newer], users=users, included=[answers[1]], next_token="page2")
    api.add("GET", MENTIONS, ok(seed), ok(page1))
    page2 = body([older], users=users, included=[answers[0]])
    api.add("GET", MENTIONS, ok(page2), query={"pagination_token": "page2"})
    api.add("GET", r"/2/tweets", ok(body([first])))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")  # the first start reads one page: the sweep starts next
    poll_source(rt, "mentions")
    assert len(api.seen("GET", MENTIONS)) == 3
    assert [r.query["ids"] for r in api.seen("GET", r"/2/tweets")] == [[tid(1)]]
    assert {m.external_id for m in messages(rt)} == {tid(n) for n in range(6)}


def test_a_reply_to_the_account_the_replies_come_from_is_a_reply(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Read as @acme, answered from @acmehelp (its token names id 7): a customer answering
    # @acmehelp's reply answers the brand, as one answering @acme's post does. Only
    # x.user_id was compared, so the follow-up was a `mention` (naming @acmehelp) or a
    # `keyword` hit (its leading handle removed), and `kind: reply` rules missed it.
    posts = [
        tweet(1, "@acmehelp still broken", in_reply_to_user_id="7", **reply_to(0)),
        tweet(2, "still broken, acme", author="43", in_reply_to_user_id="7", **reply_to(0)),
        tweet(3, "@acmehelp my kettle leaks", author="44"),
    ]
    users = [user("42", "carla"), user("43", "dana"), user("44", "erin")]
    api.add("GET", SEARCH, ok(body(posts, users=users)))
    sources = [{"name": "brand", "type": "x_search", "query": "acme", "thread_depth": 0}]
    rt = x_runtime(make_runtime, api, sources=sources, access_token="7-at")
    poll_source(rt, "brand")
    stored = {m.external_id: (m.kind, m.reply_allowed) for m in messages(rt)}
    assert stored == {
        tid(1): ("reply", True),
        tid(2): ("reply", True),
        tid(3): ("mention", True),
    }


def test_a_post_naming_the_account_the_replies_come_from_is_a_mention_though_unlisted(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Answered from @acmehelp (its token names id 7) with only @acme in brand.accounts.x:
    # a post naming @acmehelp (X lists it by id in entities.mentions) was answerable but
    # a `keyword` hit, as the handles alone were compared, so `kind: mention` rules
    # missed the customers writing to the very account that answers them.
    api.add("GET", SEARCH, ok(body([tweet(1, "@acmehelp my kettle leaks")])))
    sources = [{"name": "brand", "type": "x_search", "query": "acme", "thread_depth": 0}]
    rt = make_runtime(
        sources=sources,
        x=x_section(api, access_token="7-at"),
        brand={"name": "Acme", "accounts": {"x": ["acme"]}},
    )
    poll_source(rt, "brand")
    assert [(m.kind, m.reply_allowed) for m in messages(rt)] == [("mention", True)]
