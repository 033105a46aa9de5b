"""Subreddit keyword watch and search, through praw.Reddit against FakeAPI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.ingest import poll_source
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.sources import reddit_base
from monitor.sources.reddit_cursor import ListingCursor, SourceCursor, decode_cursor
from monitor.sources.reddit_keywords import KeywordMatcher
from monitor.store.models import SourceState
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
    submission,
    token,
)
from tests.test_reddit_inbox import messages, state


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def watch_config(**source: Any) -> dict[str, Any]:
    return {
        "name": "watch",
        "type": "reddit_subreddit",
        "subreddits": ["acme"],
        "keywords": ["acme", "order number"],
        "context_depth": 0,
        **source,
    }


def watch_runtime(make_runtime: RuntimeFactory, api: FakeAPI, **source: Any) -> Runtime:
    return make_runtime(sources=[watch_config(**source)], reddit=reddit_section(api))


def test_only_keyword_hits_are_stored(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    serve_token(api)
    api.add(
        "GET",
        "/r/acme/comments/?",
        listing(
            comment("k1", "ACME lost my parcel", created=T0 + 5),
            comment("k2", "my order\nnumber is 123, help", created=T0 + 4),
            comment("m1", "acmeville is lovely", created=T0 + 3),  # not a whole word
            comment("m2", "nothing to see", created=T0 + 2),
            comment("o1", "acme here, sorry!", author=BRAND, created=T0 + 1),
        ),
    )
    api.add(
        "GET",
        "/r/acme/new/?",
        listing(submission("s1", "Is Acme down?", "it won't load"), submission("s2", "Cats")),
    )
    rt = watch_runtime(make_runtime, api)
    poll_source(rt, "watch")

    stored = {m.external_id: m for m in messages(rt)}
    assert sorted(stored) == ["t1_k1", "t1_k2", "t3_s1"]
    assert {m.kind for m in stored.values()} == {"keyword"}
    assert stored["t3_s1"].text == "Is Acme down?\n\nit won't load"
    assert (stored["t3_s1"].conversation_id, stored["t3_s1"].in_reply_to) == ("t3_s1", None)
    assert stored["t1_k1"].conversation_id == "t3_abc123"
    assert stored["t1_k1"].url == "https://www.reddit.com/r/acme/comments/abc123/x/k1/"
    details = state(rt, "watch").details
    assert (details["filtered_last_poll"], details["skipped_last_poll"]) == (3, {"own": 1})


def test_recorded_subreddit_listings_replay_and_filter(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(CASSETTES / "TestSubredditListings.test_comments.json")
    api.load_cassette(CASSETTES / "TestSubredditListings.test_new.json")
    serve_me(api)
    api.add("GET", "/r/askreddit/comments/?", listing(headers={}), query={"after": "t1_d4y8a9e"})
    api.add("GET", "/r/askreddit/new/?", listing(headers={}), query={"after": "t3_48f6io"})
    rt = watch_runtime(
        make_runtime, api, subreddits=["AskReddit"], keywords=["parents", "favorite"]
    )
    poll_source(rt, "watch")
    stored = messages(rt)
    assert stored
    matcher = KeywordMatcher(["parents", "favorite"])
    assert all(matcher.matches(m.text) for m in stored)
    details = state(rt, "watch").details
    assert (
        details["filtered_last_poll"] + len(stored) + sum(details["skipped_last_poll"].values())
        == 200
    )


def test_private_subreddit_is_disabled_alone_and_retried_a_day_later(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    private = Reply.json({"reason": "private", "message": "Forbidden", "error": 403}, status=403)
    api.add("GET", "/r/secret/(comments|new)/?", private)
    api.add("GET", "/r/acme/comments/?", listing(comment("k1", "acme broke", created=T0)))
    api.add("GET", "/r/acme/new/?", listing())
    rt = watch_runtime(make_runtime, api, subreddits=["secret", "acme"])
    poll_source(rt, "watch")

    assert [m.external_id for m in messages(rt)] == ["t1_k1"]
    status = state(rt, "watch")
    assert status.consecutive_failures == 0
    assert status.last_error is not None
    assert status.last_error.startswith("r/secret: 403 private; not watched until 2026-11-21T09:00")
    assert list(status.details["disabled_subreddits"]) == ["secret"]

    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=5)
    poll_source(rt, "watch")
    assert len(api.seen("GET", "/r/secret/.*")) == 1
    rt.clock.advance(hours=25)
    poll_source(rt, "watch")
    assert len(api.seen("GET", "/r/secret/.*")) == 2


def test_banned_subreddit_404_disables_it(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    serve_token(api)
    banned = Reply.json({"reason": "banned", "message": "Not Found", "error": 404}, status=404)
    api.add("GET", "/r/gone/comments/?", banned)
    rt = watch_runtime(make_runtime, api, subreddits=["gone"], submissions=False)
    poll_source(rt, "watch")
    status = state(rt, "watch")
    assert status.next_poll_at is None  # the source keeps running
    assert status.last_error is not None
    assert "r/gone: 404 banned" in status.last_error
    assert "no subreddit left to watch" in status.last_error


REFUSED = "Reddit refuses the request itself, so retrying cannot help: check the name in subreddits"
BLOCKED = "Reddit blocks it where the daemon runs: remove it from subreddits if that lasts"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            451,
            {"message": "Unavailable For Legal Reasons", "error": 451},
            f"451 Unavailable For Legal Reasons; {{until}}; {BLOCKED}",
        ),
        (400, {"message": "Bad Request", "error": 400}, f"400 Bad Request; {{until}}; {REFUSED}"),
        (
            400,
            {"reason": "BAD_SR_NAME", "explanation": "that name is not allowed"},
            f"BAD_SR_NAME: that name is not allowed; {{until}}; {REFUSED}",
        ),
        (409, {"message": "Conflict", "error": 409}, f"409 Conflict; {{until}}; {REFUSED}"),
        (
            413,
            {"message": "Payload Too Large", "error": 413},
            f"413 Payload Too Large; {{until}}; {REFUSED}",
        ),
    ],
    ids=["451", "400", "400-reason", "409", "413"],
)
def test_a_subreddit_reddit_refuses_for_good_is_disabled_alone_not_retried_every_poll(
    make_runtime: RuntimeFactory, api: FakeAPI, status: int, body: dict[str, Any], expected: str
) -> None:
    # These answers were taken for temporary: every poll of the source failed (the other
    # subreddits too) and was retried with backoff for ever.
    serve_token(api)
    api.add("GET", "/r/geo/comments/?", Reply.json(body, status=status))
    api.add("GET", "/r/acme/comments/?", listing(comment("k1", "acme broke", created=T0)))
    rt = watch_runtime(make_runtime, api, subreddits=["geo", "acme"], submissions=False)
    poll_source(rt, "watch")

    assert [m.external_id for m in messages(rt)] == ["t1_k1"]
    found = state(rt, "watch")
    assert (found.consecutive_failures, found.next_poll_at) == (0, None)
    until = "not watched until 2026-11-21T09:00+00:00"
    assert found.last_error == "r/geo: " + expected.format(until=until)
    assert list(found.details["disabled_subreddits"]) == ["geo"]
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=5)
    poll_source(rt, "watch")
    assert len(api.seen("GET", "/r/geo/comments/?")) == 1
    assert len(api.seen("GET", "/r/acme/comments/?")) == 2


def test_recorded_search_stores_submissions_as_keyword_hits(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.load_cassette(CASSETTES / "TestSubreddit.test_search.json")
    serve_me(api)
    config = {"name": "search", "type": "reddit_search"}
    rt = make_runtime(sources=[config], reddit=reddit_section(api))
    poll_source(rt, "search")

    stored = messages(rt)
    assert len(stored) == 6
    assert {(m.kind, m.external_id[:3]) for m in stored} == {("keyword", "t3_")}
    assert all(m.conversation_id == m.external_id for m in stored)
    (request,) = api.seen("GET", "/r/all/search/?")
    assert (request.query["q"], request.query["sort"]) == (['"Acme"'], ["new"])


def test_a_post_listed_late_is_read_once_inside_the_overlap(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    late = submission("a", "acme ate my order", created=T0 + 5)  # indexed after b
    route = api.add(
        "GET", "/r/acme/search/?", listing(submission("b", "acme broke", created=T0 + 10))
    )
    config = {"name": "search", "type": "reddit_search", "subreddits": ["acme"]}
    rt = make_runtime(sources=[config], reddit=reddit_section(api))
    poll_source(rt, "search")
    newer = submission("c", "acme again", created=T0 + 20)
    route.replies = [listing(newer, submission("b", "acme broke", created=T0 + 10), late)]
    poll_source(rt, "search")
    assert [m.external_id for m in messages(rt)] == ["t3_b", "t3_a", "t3_c"]  # a: written first
    poll_source(rt, "search")  # the window passes a and b again: nothing new
    assert len(messages(rt)) == 3
    assert state(rt, "search").details["requests_last_poll"] == 1  # one page per poll
    # Past the default 30 minutes an item is not looked for again.
    route.replies = [listing(submission("d", "acme late", created=T0 + 20 - 1801))]
    poll_source(rt, "search")
    assert len(messages(rt)) == 3


def search_config(query: str) -> dict[str, Any]:
    return {"name": "search", "type": "reddit_search", "subreddits": ["acme"], "query": query}


def search_keys(rt: Runtime) -> list[str]:
    return sorted(decode_cursor(state(rt, "search").cursor).listings)


def test_a_changed_search_query_starts_fresh_as_a_new_search_does(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The position was kept under search:<sub> whatever the query: the new query's first
    # poll stopped at the old query's newest post, so its older posts were never read.
    serve_token(api)
    route = api.add("GET", "/r/acme/search/?", listing(submission("b", "acme", created=T0)))
    rt = make_runtime(sources=[search_config("acme")], reddit=reddit_section(api))
    poll_source(rt, "search")
    # The operator widens the query; its newest post is an hour older than the position.
    route.replies = [listing(submission("w", "acmeco broke", created=T0 - 3600))]
    rt = make_runtime(sources=[search_config("acme OR acmeco")], reddit=reddit_section(api))
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(hours=1)
    poll_source(rt, "search")
    assert len(api.seen("GET", "/r/acme/search/?")) == 2
    assert [m.external_id for m in messages(rt)] == ["t3_b", "t3_w"]
    assert len(search_keys(rt)) == 1
    assert state(rt, "search").last_error is None


def test_a_search_position_from_before_the_query_key_is_used_once(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A deployment upgraded with its query unchanged resumes where it was: no fresh read
    # of the newest max_items, which would store a post older than the position.
    serve_token(api)
    legacy = SourceCursor({"search:acme": ListingCursor(T0, {"t3_b": T0})})
    rt = make_runtime(sources=[search_config("acme")], reddit=reddit_section(api))
    row = SourceState(name="search", cursor=legacy.encode(), consecutive_failures=0, items_total=0)
    with rt.sessions.begin() as session:
        session.add(row)
    old = submission("o", "acme, indexed late", created=T0 - 3600)
    api.add(
        "GET",
        "/r/acme/search/?",
        listing(submission("c", "acme", created=T0 + 10), submission("b", "acme", created=T0), old),
    )
    poll_source(rt, "search")
    assert [m.external_id for m in messages(rt)] == ["t3_c"]
    (key,) = search_keys(rt)
    assert key.startswith("search:acme:")
    assert decode_cursor(state(rt, "search").cursor).listings[key].since == T0 + 10


def test_a_search_gap_names_the_search_not_its_cursor_key(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The cursor key carries a digest of the query ("search:acme:3fa9..."), which the
    # operator reading `inchannel status` cannot place.
    serve_token(api)
    route = api.add("GET", "/r/acme/search/?", listing(submission("b", "acme", created=T0)))
    config = {**search_config("acme"), "max_items": 2}
    rt = make_runtime(sources=[config], reddit=reddit_section(api))
    poll_source(rt, "search")
    newer = [submission(f"n{n}", "acme", created=T0 + 100 - n) for n in range(1, 4)]
    route.replies = [listing(*newer)]
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(seconds=600)
    poll_source(rt, "search")
    assert state(rt, "search").last_error == (
        "search in r/acme: over 2 new items since the last poll, older missed"
    )


def test_the_login_account_is_own_without_brand_accounts(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_token(api)
    api.add(
        "GET",
        "/r/acme/comments/?",
        listing(
            comment("o1", "acme here, we're on it", author=BRAND, created=T0 + 2),
            comment("k1", "acme lost my parcel", created=T0 + 1),
        ),
    )
    section = reddit_section(api, username=BRAND, password="pw")
    del section["refresh_token"]
    config = {
        "name": "watch",
        "type": "reddit_subreddit",
        "subreddits": ["acme"],
        "keywords": ["acme"],
        "submissions": False,
        "context_depth": 0,
    }
    rt = make_runtime(sources=[config], reddit=section, brand={"name": "Acme"})
    poll_source(rt, "watch")
    assert [m.external_id for m in messages(rt)] == ["t1_k1"]
    assert state(rt, "watch").details["skipped_last_poll"] == {"own": 1}


def test_a_listing_that_ends_before_the_last_polls_newest_item_reports_the_gap(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Page 2 is asked for after the last item of page 1; once that item is deleted,
    # Reddit answers an empty page and the listing ends above the cursor.
    serve_token(api)
    route = api.add("GET", "/r/acme/comments/?", listing(comment("c0", "acme", created=T0)))
    rt = watch_runtime(make_runtime, api, submissions=False)
    poll_source(rt, "watch")
    assert state(rt, "watch").last_error is None
    new = [comment(f"n{n}", "acme help", created=T0 + 100 - n) for n in range(1, 4)]
    route.replies = [listing(*new, after="t1_n3")]
    api.add("GET", "/r/acme/comments/?", listing(), query={"after": "t1_n3"})
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(seconds=600)
    poll_source(rt, "watch")
    assert [m.external_id for m in messages(rt)] == ["t1_c0", "t1_n3", "t1_n2", "t1_n1"]
    assert state(rt, "watch").last_error == (
        "acme/comments: the listing ended after 3 items, above the last poll's newest "
        "item: new items below them were missed"
    )


def test_a_crosspost_is_matched_and_stored_with_the_text_it_shares(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A crosspost has a title of its own and no selftext: what it shares (here the
    # complaint naming the brand) is in crosspost_parent_list.
    serve_token(api)
    shared = submission("x1", "look at this")
    original = {"title": "Acme lost my order", "selftext": "3 weeks &amp; counting"}
    shared["data"] |= {"crosspost_parent": "t3_orig", "crosspost_parent_list": [original]}
    api.add("GET", "/r/acme/new/?", listing(shared))
    rt = watch_runtime(make_runtime, api, comments=False)
    poll_source(rt, "watch")
    [stored] = messages(rt)
    assert (stored.external_id, stored.conversation_id) == ("t3_x1", "t3_x1")
    assert stored.text == "look at this\n\nAcme lost my order\n\n3 weeks & counting"


def test_keywords_match_text_written_with_reddits_markdown_escapes(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit's rich-text editor saves "acme_support" as the markdown "acme\_support".
    serve_token(api)
    api.add(
        "GET",
        "/r/acme/comments/?",
        listing(
            comment("e1", "ping acme\\_support please", created=T0 + 2),
            comment("e2", "acme\\_supporter here", created=T0 + 1),
        ),
    )
    rt = watch_runtime(make_runtime, api, submissions=False, keywords=["acme_support"])
    poll_source(rt, "watch")
    assert [m.external_id for m in messages(rt)] == ["t1_e1"]


def test_the_account_a_refresh_token_logs_in_as_is_the_brands_own(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A refresh token does not say whose it is, and brand.accounts.reddit names
    # acme_official only: a comment posted by hand from acme_support read as a
    # customer's mention, and the bot could answer its own brand.
    api.add("POST", "/api/v1/access_token", token())
    api.add("GET", "/api/v1/me", Reply.json({"name": "Acme_Support", "id": "b2"}))
    api.add("GET", "/r/acme/new/?", listing())
    ours = comment("s1", "acme here: a fix for the login bug is rolling out", author="acme_support")
    theirs = comment("c1", "acme login still broken for me", author="dana")
    api.add("GET", "/r/acme/comments/?", listing(theirs, ours))
    rt = watch_runtime(make_runtime, api, subreddits=["acme"], keywords=["acme"])
    poll_source(rt, "watch")
    assert {m.external_id for m in messages(rt)} == {"t1_c1"}
    assert state(rt, "watch").details["skipped_last_poll"] == {"own": 1}


def test_a_refresh_token_is_asked_whose_it_is_even_with_a_username_set(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # reddit.username does nothing with a refresh token (praw logs in with the token),
    # yet it stopped the source asking whose the token is: posts from the account the
    # daemon really logs in as read as a customer's.
    api.add("POST", "/api/v1/access_token", token())
    api.add("GET", "/api/v1/me", Reply.json({"name": "Acme_Support", "id": "b2"}))
    api.add("GET", "/r/acme/new/?", listing())
    ours = comment("s1", "acme here: a fix for the login bug is rolling out", author="acme_support")
    theirs = comment("c1", "acme login still broken for me", author="dana")
    api.add("GET", "/r/acme/comments/?", listing(theirs, ours))
    reddit = reddit_section(api, username="acme_social")
    rt = make_runtime(sources=[watch_config(keywords=["acme"])], reddit=reddit)
    poll_source(rt, "watch")
    assert {m.external_id for m in messages(rt)} == {"t1_c1"}


def test_keywords_match_text_as_it_reads_styled_hidden_or_typographic(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The rules read "𝐀𝐜𝐦𝐞", "ａｃｍｅ" and "ac\u200bme" as "acme", and "don’t" as "don't";
    # the watch did not, so such posts were never stored for a rule to see.
    serve_token(api)
    api.add(
        "GET",
        "/r/acme/comments/?",
        listing(
            comment("b1", "\U0001d400\U0001d41c\U0001d426\U0001d41e lost it", created=T0 + 5),
            comment("w1", "\uff41\uff43\uff4d\uff45 is down", created=T0 + 4),
            comment("z1", "ac\u200bme never answers", created=T0 + 3),
            comment("q1", "I don\u2019t trust them", created=T0 + 2),
            comment("n1", "nothing to see", created=T0 + 1),
        ),
    )
    rt = watch_runtime(make_runtime, api, submissions=False, keywords=["acme", "don't trust"])
    poll_source(rt, "watch")
    assert sorted(m.external_id for m in messages(rt)) == ["t1_b1", "t1_q1", "t1_w1", "t1_z1"]


def test_a_subreddit_removed_from_the_config_loses_its_cursor_and_starts_fresh_when_readded(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The cursors of subreddits no longer watched stayed in the source's state for ever,
    # and one added back months later read from its old position: a fresh watch's first
    # poll was reported as "over N new items since the last poll, older missed".
    serve_token(api)
    api.add("GET", "/r/acme/comments/?", listing(comment("a1", "acme", created=T0)))
    gadgets = api.add("GET", "/r/gadgets/comments/?", listing(comment("g1", "acme", created=T0)))
    both = {"subreddits": ["acme", "gadgets"], "submissions": False, "max_items": 2}
    poll_source(watch_runtime(make_runtime, api, **both), "watch")
    # The config drops r/gadgets; the daemon is restarted a day later.
    rt = watch_runtime(make_runtime, api, subreddits=["acme"], submissions=False)
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(days=1)
    poll_source(rt, "watch")
    assert len(api.seen("GET", "/r/acme/comments/?")) == 2
    assert sorted(decode_cursor(state(rt, "watch").cursor).listings) == ["acme/comments"]

    # r/gadgets is added back 90 days later: its first poll is a new watch's.
    later = [comment(f"n{n}", "acme help", created=T0 + 90 * 86400 - n) for n in range(2)]
    gadgets.replies = [listing(*later)]
    rt = watch_runtime(make_runtime, api, **both)
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(days=90)
    poll_source(rt, "watch")
    assert len(api.seen("GET", "/r/gadgets/comments/?")) == 2
    assert {"t1_n0", "t1_n1"} <= {m.external_id for m in messages(rt)}
    assert state(rt, "watch").last_error is None


@pytest.mark.parametrize(
    ("brand", "query"),
    [
        ('Say "Hi" Ltd', '"Say Hi Ltd"'),
        ("Back\\Slash", '"Back Slash"'),
        ("-Minus OR (Not) AND Co", '"-Minus OR (Not) AND Co"'),
    ],
    ids=["quote", "backslash", "operators"],
)
def test_the_default_search_is_one_phrase_whatever_the_brand_name_holds(
    make_runtime: RuntimeFactory, api: FakeAPI, brand: str, query: str
) -> None:
    # A double quote in the brand name closed the phrase early ('"Say "Hi" Ltd"' is
    # two phrases around a bare word), and a backslash escaped its closing quote.
    # Inside the phrase, OR, AND, NOT, parentheses and a leading minus are plain words.
    serve_token(api)
    api.add("GET", "/r/all/search/?", listing())
    config = {"name": "search", "type": "reddit_search"}
    rt = make_runtime(sources=[config], reddit=reddit_section(api), brand={"name": brand})
    poll_source(rt, "search")
    (request,) = api.seen("GET", "/r/all/search/?")
    assert request.query["q"] == [query]


def test_a_poll_past_its_time_bound_stores_whole_listings_and_reads_on_from_the_next(
    make_runtime: RuntimeFactory, api: FakeAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll must end within its source's lease: past POLL_SECONDS it stores the
    listings it read whole, says ``more``, and the next poll starts with the listings it
    did not reach. A listing is never cut halfway: its cursor stands for all above it."""
    monkeypatch.setattr(reddit_base, "POLL_SECONDS", -1)
    serve_token(api)
    api.add("GET", "/r/acme/comments/?", listing(comment("k1", "acme broke", created=T0)))
    api.add("GET", "/r/other/comments/?", listing(comment("k2", "acme again", created=T0 + 1)))
    rt = watch_runtime(make_runtime, api, subreddits=["acme", "other"], submissions=False)

    assert poll_source(rt, "watch") is True
    assert [m.external_id for m in messages(rt)] == ["t1_k1"]
    assert api.seen("GET", "/r/other/.*") == []
    assert list(decode_cursor(state(rt, "watch").cursor).listings) == ["acme/comments"]

    assert poll_source(rt, "watch") is True
    assert [m.external_id for m in messages(rt)] == ["t1_k1", "t1_k2"]
    assert len(api.seen("GET", "/r/acme/.*")) == 1  # the one left waiting went first
    assert len(api.seen("GET", "/r/other/.*")) == 1
    assert poll_source(rt, "watch") is True
    assert len(api.seen("GET", "/r/acme/.*")) == 2


@pytest.mark.parametrize("placeholder", ["[removed]", "[deleted]", "[ Removed by Reddit ]"])
def test_a_titled_post_whose_text_is_gone_is_stored_with_its_title_alone(
    make_runtime: RuntimeFactory, api: FakeAPI, placeholder: str
) -> None:
    # Kept for its title, the post was stored as "Acme broke my order\n\n[removed]": the
    # team read Reddit's placeholder as the customer's words, and it was scored as such.
    serve_token(api)
    api.add("GET", "/r/acme/comments/?", listing())
    api.add("GET", "/r/acme/new/?", listing(submission("s1", "Acme broke my order", placeholder)))
    rt = watch_runtime(make_runtime, api)
    poll_source(rt, "watch")
    assert [m.text for m in messages(rt)] == ["Acme broke my order"]


def test_a_watched_comment_naming_the_brand_account_is_a_mention_whoever_reads_it_first(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The inbox and the watch store one message per comment (the unique key), with the
    # kind of whichever read it first: read by the watch, an explicit u/brand mention
    # stayed "keyword", and rules for kind [mention, reply] never saw it.
    serve_token(api)
    text = "u/acme_official my order number is 123 and nothing came"
    api.add(
        "GET",
        "/r/acme/comments/?",
        listing(
            comment("m1", text, created=T0 + 5),
            comment("m2", "/u/Acme\\_Official order number 9?", created=T0 + 4),
            comment("k1", "see reddit.com/u/acme_official for the order number", created=T0 + 3),
            comment("k2", "u/acme_officials order number 7", created=T0 + 2),
            comment("k3", "xu/acme_official order number 8", created=T0 + 1),
        ),
    )
    api.add("GET", "/message/mentions", listing(comment("m1", text, inbox="username_mention")))
    inbox = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0, "mark_read": False}
    inbox |= {"comment_replies": False, "submission_replies": False}
    rt = make_runtime(sources=[watch_config(submissions=False), inbox], reddit=reddit_section(api))

    poll_source(rt, "watch")
    poll_source(rt, "inbox")
    kinds = {m.external_id: m.kind for m in messages(rt)}
    assert kinds == {
        "t1_m1": "mention",
        "t1_m2": "mention",
        "t1_k1": "keyword",  # a link to the profile, which Reddit does not notify
        "t1_k2": "keyword",
        "t1_k3": "keyword",
    }
    assert state(rt, "inbox").last_error is None


def test_a_keyword_hit_the_inbox_reads_as_a_reply_before_it_is_decided_becomes_a_reply(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A reply to the brand's comment names no account: only the inbox knows it is a
    # reply. Read by the watch first it stayed "keyword" (ON CONFLICT DO NOTHING).
    serve_token(api)
    early = comment("r1", "order number 5 still missing", created=T0 + 2, parent="t1_ours")
    late = comment("r2", "order number 6 too", created=T0 + 1, parent="t1_ours")
    watched = api.add("GET", "/r/acme/comments/?", listing(late))
    inbox = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0, "mark_read": False}
    inbox |= {"mentions": False, "submission_replies": False}
    replies = api.add("GET", "/message/comments/?", listing())
    rt = make_runtime(sources=[watch_config(submissions=False), inbox], reddit=reddit_section(api))
    poll_source(rt, "watch")
    process_pending(rt)  # r2 decided as a keyword hit: it stays what the rules saw
    watched.replies = [listing(early, late)]
    poll_source(rt, "watch")

    as_inbox = [
        {**c, "data": {**c["data"], "type": "comment_reply", "new": True}} for c in (early, late)
    ]
    replies.replies = [listing(*as_inbox)]
    poll_source(rt, "inbox")
    kinds = {m.external_id: (m.kind, m.source) for m in messages(rt)}
    assert kinds == {"t1_r1": ("reply", "watch"), "t1_r2": ("keyword", "watch")}


def test_an_item_without_a_creation_time_is_skipped_and_the_scan_reads_on(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Read as created at 0 (1970), it was below the cursor and ended the scan: every
    # item under it was missed at every poll while it stayed in the listing, unsaid.
    serve_token(api)
    route = api.add("GET", "/r/acme/comments/?", listing(comment("k1", "acme one", created=T0)))
    rt = watch_runtime(make_runtime, api, submissions=False)
    poll_source(rt, "watch")
    undated = comment("k0", "acme, no date", created=T0 + 25)
    del undated["data"]["created_utc"]
    route.replies = [
        listing(
            comment("k3", "acme three", created=T0 + 30),
            undated,
            comment("k2", "acme two", created=T0 + 20),
            comment("k1", "acme one", created=T0),
        )
    ]
    poll_source(rt, "watch")
    assert [m.external_id for m in messages(rt)] == ["t1_k1", "t1_k2", "t1_k3"]
    assert state(rt, "watch").last_error == "skipped 1 without a creation time"
