"""Backfill from X through the real tweepy.Client against the local FakeAPI server."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from monitor.backfill import BackfillReport, backfill
from monitor.cli import main
from monitor.clock import FakeClock
from monitor.domain import ActionStatus
from monitor.pipeline import poll_source
from monitor.sources import x_usage
from monitor.sources.base import BackfillRefused, Window
from monitor.sources.x_cursor import snowflake_at
from monitor.sources.x_source import EDGE_MARGIN
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Message, SourceState, Usage
from monitor.store.queries import insert_state_row
from tests.conftest import REPO, RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.test_leases import wait_for_a_blocked_insert
from tests.webkit import TEAMS
from tests.xapi import (
    BRAND_ID,
    MENTIONS,
    SEARCH,
    body,
    ok,
    reply_to,
    tid,
    too_many,
    tweet,
    user,
    x_runtime,
    x_section,
)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def test_mentions_are_imported_page_by_page_and_suppressed(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5), tweet(4)], next_token="page2")))
    old = tweet(3, created_at="2026-11-01T08:00:00.000Z")  # before --since: not stored
    api.add("GET", MENTIONS, ok(body([old])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert (report.fetched, report.ingested, report.failure) == (2, 2, None)
    with rt.sessions() as session:
        stored = set(session.scalars(select(Message.external_id)))
        assert stored == {tid(5), tid(4)}
        sent = select(ActionRow).where(ActionRow.status != ActionStatus.SUPPRESSED.value)
        assert session.scalars(sent).all() == []
        state = session.get(SourceState, "mentions")
        assert state is None or state.cursor is None  # the live sweep is untouched


def test_recent_search_refuses_windows_older_than_seven_days(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    search = [{"name": "search", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=search)
    with pytest.raises(BackfillRefused) as refused:
        backfill(rt, "search", Window(datetime(2026, 11, 1, tzinfo=UTC)))
    assert str(refused.value) == (
        "source search: X recent search reaches back 7 days only; use --since "
        "2026-11-13T10:00 or later (older posts need the full-archive search, which "
        "inchannel does not use)"
    )
    assert api.seen("GET", ".*") == []  # refused before any billed request


def test_the_since_a_refusal_suggests_is_accepted(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The suggestion used to be the date of the reach's first day ("--since 2026-11-13"),
    # whose midnight lies before it: taken at its word, it was refused again.
    search = [{"name": "search", "type": "x_search", "query": "acme"}]
    api.add("GET", SEARCH, ok(body([tweet(5)])))
    rt = x_runtime(make_runtime, api, sources=search)
    with pytest.raises(BackfillRefused) as refused:
        backfill(rt, "search", Window(datetime(2026, 11, 13, tzinfo=UTC)))
    suggested = re.search(r"--since (\S+)", str(refused.value))
    assert suggested is not None
    since = datetime.fromisoformat(suggested.group(1)).replace(tzinfo=UTC)
    rt.clock.advance(minutes=30)  # retyping the command takes a while
    report = backfill(rt, "search", Window(since))
    assert (report.fetched, report.failure) == (1, None)


def test_until_bounds_every_request_so_later_posts_are_not_read(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5)], next_token="page2")))
    api.add("GET", MENTIONS, ok(body([tweet(4)])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    since, until = datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 19, 12, tzinfo=UTC)
    backfill(rt, "mentions", Window(since, until))
    sent = [request.query for request in api.seen("GET", MENTIONS)]
    assert len(sent) == 2
    assert {q["until_id"][0] for q in sent} == {snowflake_at(until)}
    assert {q["since_id"][0] for q in sent} == {str(int(snowflake_at(since)) - 1)}


def test_a_post_created_at_the_first_moment_of_since_is_read(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's since_id is exclusive, --since inclusive: sent as the smallest id a post of
    # that millisecond can have, it left out the post that has it.
    since = datetime(2026, 11, 15, tzinfo=UTC)
    first = tweet(1, created_at="2026-11-15T00:00:00.000Z", id=snowflake_at(since))
    api.add("GET", MENTIONS, ok(body([tweet(2), first])))
    # As X answers since_id: posts with a greater id only.
    api.add("GET", MENTIONS, ok(body([tweet(2)])), query={"since_id": snowflake_at(since)})
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(since))
    assert (report.ingested, report.failure) == (2, None)


def test_without_until_or_when_live_no_until_id_is_sent(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5)])), ok(body([])))
    rt = x_runtime(make_runtime, api)
    backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    poll_source(rt, "mentions")
    sent = [request.query for request in api.seen("GET", MENTIONS)]
    assert len(sent) == 2
    assert all("until_id" not in q for q in sent)


@pytest.fixture
def x_config(tmp_path: Path, api: FakeAPI) -> Path:
    """A config for the CLI: one x_mentions source against the fake X API, the shipped
    rules copied to ``tmp_path/rules`` (a test may break them)."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "config" / "rules", rules)
    config = {
        "brand": {"name": "Acme", "accounts": {"x": ["acme"]}},
        "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        "sources": [{"name": "mentions", "type": "x_mentions"}],
        "x": x_section(api),
        "responders": {"x": {"type": "recording", "path": None}},
        "rules": {"path": str(rules)},
        "teams": TEAMS,
    }
    path = tmp_path / "inchannel.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(path)]).exit_code == 0
    return path


def test_broken_rules_are_refused_before_any_billed_read(x_config: Path, api: FakeAPI) -> None:
    # Decided only at import time, broken rules used to be found after the whole
    # window had been read (and billed): a traceback, exit 1, nothing imported.
    bad = "name: broken\nmatch: {label: negatve}\nthen: {tag: [x]}\n"
    (x_config.parent / "rules" / "40-bad.yaml").write_text(bad, encoding="utf-8")
    api.add("GET", MENTIONS, ok(body([tweet(5)])))
    args = ["backfill", "mentions", "--since", "2026-11-15", "--config", str(x_config)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the rules are not loaded: {x_config.parent}/rules/40-bad.yaml:2:9: "
        "rule 'broken': match.label: unknown label 'negatve'; did you mean 'negative'?; "
        "fix them (inchannel check-config) and run the backfill again"
    )
    assert api.seen("GET", ".*") == []


def timeline(count: int) -> list[list[dict[str, Any]]]:
    """``count`` posts a minute apart back from 08:59, newest first, in pages of 100."""
    newest = datetime(2026, 11, 20, 8, 59, tzinfo=UTC)
    tweets = [
        tweet(count - n, created_at=f"{newest - timedelta(minutes=n):%Y-%m-%dT%H:%M}:00.000Z")
        for n in range(count)
    ]
    return [tweets[i : i + 100] for i in range(0, count, 100)]


def serve_timeline(api: FakeAPI, count: int, path: str = MENTIONS) -> None:
    pages = timeline(count)
    for n, page in enumerate(pages):
        token = f"page{n + 1}" if n + 1 < len(pages) else None
        # The timeline pages with pagination_token, search with next_token.
        name = "pagination_token" if path == MENTIONS else "next_token"
        query = {name: f"page{n}"} if n else None
        api.add("GET", path, ok(body(page, next_token=token)), query=query)


def test_a_mentions_timeline_cut_at_800_before_since_says_so(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X serves the 800 most recent mentions and moves since_id up to the oldest of them:
    # the window was not covered, and the summary must say so, as for Reddit's listings.
    serve_timeline(api, 800)
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert (report.fetched, report.failure) == (800, None)
    assert report.problems == [
        "mentions: X's mentions timeline ends at 2026-11-19 19:40 UTC (X keeps the 800 most "
        "recent mentions); older mentions cannot be fetched"
    ]


def test_a_mentions_timeline_that_ends_sooner_is_the_whole_history(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_timeline(api, 250)
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert (report.fetched, report.problems) == (250, [])


def test_a_fetch_stopped_by_the_budget_says_how_to_go_on(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Every run reads the window from its newest post: rerun as it was, a window larger
    # than a day's read budget (or a rate-limit window) read the same newest pages again
    # each day, billed again, and never got further. The error says where to go on from.
    serve_timeline(api, 300, SEARCH)
    search = [{"name": "search", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=search, budget={"reads_per_day": 450})
    since = datetime(2026, 11, 15, tzinfo=UTC)
    report = backfill(rt, "search", Window(since))
    assert (report.fetched, report.ingested) == (200, 200)
    assert report.failure == (
        "x read budget: 200 of 450 posts read today; polling resumes at 2026-11-21 00:00 UTC; "
        "the window was read back to 2026-11-20 05:40:00 UTC: to go on from there, rerun "
        "with --until 2026-11-20T05:40:01"
    )
    until = datetime(2026, 11, 20, 5, 40, 1, tzinfo=UTC)
    api.add("GET", SEARCH, ok(body(timeline(300)[2])), query={"until_id": snowflake_at(until)})
    rt.clock.advance(days=1)
    again = backfill(rt, "search", Window(since, until))
    assert (again.fetched, again.ingested, again.failure) == (100, 100, None)
    assert len(api.seen("GET", SEARCH)) == 3  # the first two pages were not read again


def test_a_rate_limit_mid_window_says_how_to_go_on(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    pages = timeline(200)
    api.add("GET", MENTIONS, ok(body(pages[0], next_token="page1")))
    api.add("GET", MENTIONS, too_many(), query={"pagination_token": "page1"})
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert report.failure == (
        "x rate limited until 2026-11-18 11:06:40 UTC: HTTP 429: Too Many Requests; the window was "
        "read back to 2026-11-20 07:20:00 UTC: to go on from there, rerun with --until "
        "2026-11-20T07:20:01"
    )


def test_merging_details_waits_for_a_live_poll_and_keeps_what_it_wrote(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The backfill merges its rate limits into the source's row while the daemon may be
    # storing a poll in it. Read unlocked, the merge wrote back the row as it was before
    # the poll committed: the poll's details were lost.
    rt = x_runtime(make_runtime, api)
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the two cannot interleave")
    with transaction(rt.sessions) as session:
        insert_state_row(session, "mentions")
    ledger = x_usage.XLedger(rt.sessions)
    merge = threading.Thread(
        target=ledger.merge_details, args=("mentions", {"rate_limit": {"remaining": 3}})
    )
    with transaction(rt.sessions) as live:  # as the live poll stores a page (ingest)
        state = live.get(SourceState, "mentions", with_for_update=True)
        assert state is not None
        merge.start()
        wait_for_a_blocked_insert(rt)
        state.details = {**(state.details or {}), "cursor_at": "2026-11-20T08:59:00+00:00"}
    merge.join(timeout=30)
    assert ledger.details("mentions") == {
        "cursor_at": "2026-11-20T08:59:00+00:00",
        "rate_limit": {"remaining": 3},
    }


class PastMidnight:
    """Moves the clock past midnight once a page is fetched: the next is read next day."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __call__(self, report: BackfillReport) -> None:
        if not report.importing:
            self.clock.set(datetime(2026, 11, 21, 0, 5, tzinfo=UTC))


def test_reads_after_midnight_are_booked_to_the_day_they_were_made(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Booked to the day the run started, the new day's reads were charged to the old
    # one: its total overran the budget, and the new day's budget looked untouched.
    api.add("GET", MENTIONS, ok(body([tweet(5), tweet(4)], next_token="page2")))
    api.add("GET", MENTIONS, ok(body([tweet(3)])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    assert isinstance(rt.clock, FakeClock)
    rt.clock.set(datetime(2026, 11, 20, 23, 55, tzinfo=UTC))
    window = Window(datetime(2026, 11, 15, tzinfo=UTC))
    report = backfill(rt, "mentions", window, on_page=PastMidnight(rt.clock))
    assert (report.fetched, report.failure) == (3, None)
    with rt.sessions() as session:
        rows = session.execute(select(Usage.day, Usage.count).where(Usage.key == x_usage.READS))
        assert sorted(rows) == [("2026-11-20", 2), ("2026-11-21", 1)]


def ctrl_c_once_fetching(report: BackfillReport) -> None:
    if not report.importing:
        raise KeyboardInterrupt


def test_ctrl_c_while_fetching_says_how_to_go_on(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Every read is billed: rerun as it was, an interrupted window was read (and paid
    # for) again from its newest post. Like a budget stop, Ctrl-C says where to go on.
    pages = timeline(200)
    api.add("GET", MENTIONS, ok(body(pages[0], next_token="page1")))
    api.add("GET", MENTIONS, ok(body(pages[1])), query={"pagination_token": "page1"})
    rt = x_runtime(make_runtime, api)
    window = Window(datetime(2026, 11, 15, tzinfo=UTC))
    report = backfill(rt, "mentions", window, on_page=ctrl_c_once_fetching)
    assert (report.fetched, report.ingested) == (100, 100)
    assert report.failure == (
        "interrupted while fetching; what was fetched before was imported; the window was "
        "read back to 2026-11-20 07:20:00 UTC: to go on from there, rerun with --until "
        "2026-11-20T07:20:01"
    )


def test_ctrl_c_before_a_mention_was_read_gives_the_same_window_to_rerun(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The first page held only the brand's own posts, so nothing said how far back the
    # window was read: the message ended without any command to go on with.
    own = [tweet(n, "@carla sorry to hear", author=BRAND_ID) for n in (5, 4)]
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    api.add("GET", MENTIONS, ok(body(own, users=users, next_token="page1")))
    api.add("GET", MENTIONS, ok(body([tweet(3)])), query={"pagination_token": "page1"})
    rt = x_runtime(make_runtime, api)
    window = Window(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 20, 9, tzinfo=UTC))
    report = backfill(rt, "mentions", window, on_page=ctrl_c_once_fetching)
    assert (report.fetched, report.ingested) == (0, 0)
    assert report.failure == (
        "interrupted while fetching; what was fetched before was imported; rerun the same "
        "window with --since 2026-11-15T00:00:00 --until 2026-11-20T09:00:00 to fetch the "
        "rest (stored mentions are skipped)"
    )


def test_a_backfill_never_requests_a_page_whose_includes_could_pass_the_read_budget(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Each page of 10 replies brings their 10 parents in includes.tweets, billed too:
    # the second request, allowed at 20 of 35 for "10 more posts", read 40.
    pages = [
        [tweet(20 - n - 10 * p, "@acme hi", **reply_to(500 + 20 * p + n)) for n in range(10)]
        for p in range(2)
    ]
    parents = [[tweet(500 + 20 * p + n, "before") for n in range(10)] for p in range(2)]
    api.add("GET", MENTIONS, ok(body(pages[0], included=parents[0], next_token="page1")))
    second = ok(body(pages[1], included=parents[1]))
    api.add("GET", MENTIONS, second, query={"pagination_token": "page1"})
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 35})
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert len(api.seen("GET", MENTIONS)) == 1
    assert report.failure is not None
    assert report.failure.startswith("x read budget: 20 of 35 posts read today;")
    with rt.sessions() as session:
        assert session.get(Usage, ("x:reads", "2026-11-20")).count == 20  # type: ignore[union-attr]


def test_a_mention_first_seen_as_a_later_posts_parent_is_stored_as_the_mention(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Newest first, a follow-up's parent arrives as thread context (replies not allowed)
    # a page before the mention itself. The spool kept the first copy, so the mention was
    # decided as context: "the author does not allow replies", escalated, where the live
    # poll (mentions before context) would have answered it.
    parent = tweet(4, "@acme my order is late", created_at="2026-11-20T08:00:00.000Z")
    follow_up = tweet(5, "@acme still nothing", **reply_to(4))
    api.add("GET", MENTIONS, ok(body([follow_up], included=[parent], next_token="page2")))
    api.add("GET", MENTIONS, ok(body([parent])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert (report.ingested, report.failure) == (2, None)
    with rt.sessions() as session:
        stored = session.scalars(select(Message).where(Message.external_id == tid(4))).one()
        assert (stored.reply_allowed, stored.kind) == (True, "mention")
        assert "does not allow replies" not in str(stored.decision)


def test_parents_held_back_are_still_imported_when_the_fetch_stops(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    parent = tweet(4, "@acme my order is late", created_at="2026-11-20T08:00:00.000Z")
    follow_up = tweet(5, "@acme still nothing", **reply_to(4))
    api.add("GET", MENTIONS, ok(body([follow_up], included=[parent], next_token="page2")))
    api.add("GET", MENTIONS, too_many(), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert report.failure is not None
    assert report.failure.startswith("x rate limited")
    with rt.sessions() as session:
        stored = set(session.scalars(select(Message.external_id)))
    assert stored == {tid(5), tid(4)}


def test_parents_held_back_are_still_imported_when_ctrl_c_stops_the_fetch(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Held until the listing read past it, the parent was dropped by Ctrl-C between two
    # pages: the follow-up was imported without it, and opened a case of its own.
    parent = tweet(4, "@acme my order is late", created_at="2026-11-20T08:00:00.000Z")
    follow_up = tweet(5, "@acme still nothing", **reply_to(4))
    api.add("GET", MENTIONS, ok(body([follow_up], included=[parent], next_token="page2")))
    api.add("GET", MENTIONS, ok(body([])), query={"pagination_token": "page2"})
    rt = x_runtime(make_runtime, api)
    window = Window(datetime(2026, 11, 15, tzinfo=UTC))
    report = backfill(rt, "mentions", window, on_page=ctrl_c_once_fetching)
    assert report.failure is not None
    assert report.failure.startswith("interrupted while fetching")
    assert len(api.seen("GET", MENTIONS)) == 1
    with rt.sessions() as session:
        rows = session.execute(select(Message.external_id, Message.case_id))
        cases = dict(rows.all())
    assert set(cases) == {tid(5), tid(4)}
    assert cases[tid(5)] == cases[tid(4)]


class TenMinutesPerPage:
    """Moves the clock ten minutes on once a page is fetched: a slow, long backfill."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __call__(self, report: BackfillReport) -> None:
        if not report.importing:
            self.clock.advance(minutes=10)


def test_a_search_backfill_whose_since_leaves_the_seven_days_reads_on_from_the_edge(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A --since just inside recent search's 7 days passed the check, then left them while
    # the pages were read: X refused the next page (400 on since_id) and the run stopped
    # with "x refused the page token; the sweep restarts", which no backfill does.
    search = [{"name": "search", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=search)
    assert isinstance(rt.clock, FakeClock)
    since = rt.clock.now() - timedelta(days=7) + timedelta(minutes=5)
    api.add("GET", SEARCH, ok(body([tweet(5), tweet(4)], next_token="page2")))
    refused = Reply.json({"title": "Invalid Request", "status": 400}, status=400)
    api.add("GET", SEARCH, refused, query={"next_token": "page2"})
    api.add("GET", SEARCH, ok(body([tweet(3)])), query={"until_id": tid(4)})
    report = backfill(rt, "search", Window(since), on_page=TenMinutesPerPage(rt.clock))
    assert (report.fetched, report.failure) == (3, None)
    second = api.seen("GET", SEARCH)[1].query
    edge = (
        rt.clock.now() - timedelta(minutes=10) - timedelta(days=7) + timedelta(minutes=1)
    ) + EDGE_MARGIN
    assert "next_token" not in second
    assert second["since_id"] == [snowflake_at(edge)]
    assert report.problems == [
        "search: X recent search no longer reaches back to --since: posts before "
        f"{edge:%Y-%m-%d %H:%M:%S} UTC were not read (the window's start left the 7 days "
        "while the backfill ran)"
    ]


class AtMostPages(TenMinutesPerPage):
    """Ten minutes a page, and a failure (not a hang) past ``pages`` pages."""

    def __init__(self, clock: FakeClock, pages: int) -> None:
        super().__init__(clock)
        self.left = pages

    def __call__(self, report: BackfillReport) -> None:
        if not report.importing:
            self.left -= 1
            assert self.left >= 0, "the backfill asked for the same pages again and again"
        super().__call__(report)


def test_a_search_backfill_moved_to_the_edge_keeps_its_page_token_for_a_while(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Moved to the very edge, since_id left the 7 days again by the next page, and every
    # page after the move was asked without its page token (an empty page with one
    # would have been asked again and again). The edge is taken with a margin.
    search = [{"name": "search", "type": "x_search", "query": "acme"}]
    rt = x_runtime(make_runtime, api, sources=search)
    assert isinstance(rt.clock, FakeClock)
    since = rt.clock.now() - timedelta(days=7) + timedelta(minutes=5)
    api.add("GET", SEARCH, ok(body([tweet(5), tweet(4)], next_token="page2")))
    api.add("GET", SEARCH, ok(body([tweet(3)], next_token="page3")), query={"until_id": tid(4)})
    api.add("GET", SEARCH, ok(body([tweet(2)])), query={"next_token": "page3"})
    report = backfill(rt, "search", Window(since), on_page=AtMostPages(rt.clock, 5))
    assert (report.fetched, report.failure) == (4, None)
    third = api.seen("GET", SEARCH)[2].query
    assert third["next_token"] == ["page3"]


class CtrlCAfterTheFirstChunk:
    def __call__(self, report: BackfillReport) -> None:
        if report.importing and report.imported == 100:
            raise KeyboardInterrupt


def test_ctrl_c_while_importing_says_the_since_that_goes_on_without_a_gap(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The import runs oldest first, so what is left is the newest part of the window.
    # "Rerun the same command" read (and X billed) the whole window again.
    serve_timeline(api, 300)
    rt = make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        responders={"x": {"type": "recording", "path": None}},
        x=x_section(api),
        teams=TEAMS,
        processing={"batch_size": 100},
    )
    since, until = datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 20, 8, 59, 30, tzinfo=UTC)
    report = backfill(rt, "mentions", Window(since, until), on_page=CtrlCAfterTheFirstChunk())
    assert report.failure == (
        "interrupted while importing, 100 of 300 imported; the rest was written from "
        "2026-11-20 05:40:00 UTC on: rerun with --since 2026-11-20T05:40:00 --until "
        "2026-11-20T08:59:30 to import it (stored mentions are skipped)"
    )
    rest = datetime(2026, 11, 20, 5, 40, tzinfo=UTC)
    since_id = str(int(snowflake_at(rest)) - 1)
    pages = timeline(300)
    api.add("GET", MENTIONS, ok(body(pages[0], next_token="rest1")), query={"since_id": since_id})
    api.add("GET", MENTIONS, ok(body(pages[1])), query={"pagination_token": "rest1"})
    before = len(api.seen("GET", MENTIONS))
    again = backfill(rt, "mentions", Window(rest, until))
    assert (again.fetched, again.ingested, again.duplicates, again.failure) == (200, 200, 0, None)
    rerun = api.seen("GET", MENTIONS)[before:]
    assert len(rerun) == 2  # the part imported was not read again
    assert all(r.query["since_id"] == [since_id] for r in rerun)
    with rt.sessions() as session:
        assert len(session.scalars(select(Message.external_id)).all()) == 300  # no gap


def test_a_grandparent_shared_by_two_pages_is_fetched_once(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # carla's first post, answered twice by the brand, each answer replied to on its own
    # page. Held back for the import, the post was in no table when the second page
    # looked for it: fetched again by id, and billed again, for every such page.
    first = tweet(1, "my router died")
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    answers = [tweet(n, "@carla try a restart", author=BRAND_ID, **reply_to(1)) for n in (2, 4)]
    newer = tweet(5, "@acme still broken", **reply_to(4, 1))
    older = tweet(3, "@acme no luck", **reply_to(2, 1))
    page1 = body([newer], users=users, included=[answers[1]], next_token="page2")
    api.add("GET", MENTIONS, ok(page1))
    page2 = body([older], users=users, included=[answers[0]])
    api.add("GET", MENTIONS, ok(page2), query={"pagination_token": "page2"})
    api.add("GET", r"/2/tweets", ok(body([first])))
    rt = x_runtime(make_runtime, api)
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert report.failure is None
    assert [r.query["ids"] for r in api.seen("GET", r"/2/tweets")] == [[tid(1)]]
    with rt.sessions() as session:
        stored = set(session.scalars(select(Message.external_id)))
    assert stored == {tid(n) for n in range(1, 6)}


def test_an_until_before_xs_ids_carried_time_is_refused(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # X's ids carry their time from 2010-11-04 on: an earlier --until went to X as
    # until_id=0, an id no post has, after the command had started.
    rt = x_runtime(make_runtime, api)
    window = Window(datetime(2009, 1, 1, tzinfo=UTC), datetime(2010, 6, 1, tzinfo=UTC))
    with pytest.raises(BackfillRefused) as refused:
        backfill(rt, "mentions", window)
    assert str(refused.value) == (
        "source mentions: --until 2010-06-01 00:00 UTC is before 2010-11-04 01:42 UTC, "
        "when X's post ids start to carry their time, so X cannot be asked for posts "
        "before it (and the mentions timeline holds the 800 most recent mentions only)"
    )
    assert api.seen("GET", ".*") == []


def test_a_rate_limit_before_a_mention_was_read_gives_the_same_window_to_rerun(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # With no mention read, nothing said how far back the window was read, and the
    # message ended without any command to go on with (Reddit and replay give one).
    api.add("GET", MENTIONS, too_many())
    rt = x_runtime(make_runtime, api)
    window = Window(datetime(2026, 11, 15, tzinfo=UTC), datetime(2026, 11, 20, 9, tzinfo=UTC))
    report = backfill(rt, "mentions", window)
    assert report.failure == (
        "x rate limited until 2026-11-18 11:06:40 UTC: HTTP 429: Too Many Requests; no "
        "mention of the window was read: rerun the same window with --since "
        "2026-11-15T00:00:00 --until 2026-11-20T09:00:00"
    )


def test_a_budget_stop_before_a_mention_was_read_gives_the_same_window_to_rerun(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    own = [tweet(n, "@carla sorry to hear", author=BRAND_ID) for n in (5, 4)]
    users = [user("42", "carla"), user(BRAND_ID, "acme")]
    api.add("GET", MENTIONS, ok(body(own, users=users, next_token="page1")))
    api.add("GET", MENTIONS, ok(body([tweet(3)])), query={"pagination_token": "page1"})
    sources = [{"name": "mentions", "type": "x_mentions", "max_results": 10}]
    # The first request may read 30 (10 posts and their includes); it read 2: no room
    # for a second.
    rt = x_runtime(make_runtime, api, sources=sources, budget={"reads_per_day": 31})
    report = backfill(rt, "mentions", Window(datetime(2026, 11, 15, tzinfo=UTC)))
    assert report.fetched == 0
    assert report.failure is not None
    assert report.failure.startswith("x read budget: ")
    assert report.failure.endswith(
        "; no mention of the window was read: rerun the same window with --since "
        "2026-11-15T00:00:00"
    )
