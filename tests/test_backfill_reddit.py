"""Backfill from Reddit through the real praw.Reddit against the local FakeAPI server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import select

from monitor.backfill import TAG, BackfillReport, backfill
from monitor.cli import main
from monitor.clock import FakeClock
from monitor.domain import ActionStatus, CaseState
from monitor.ingest import poll_source
from monitor.pipeline import process_pending
from monitor.runtime import Runtime
from monitor.sources.base import BackfillRefused, PollResult, Window
from monitor.store.models import ActionRow, Case, Message, SourceState
from tests.conftest import REPO, RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import BRAND, RATE, comment, listing, reddit_section, serve_token, submission
from tests.webkit import TEAMS

NEWEST = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # an hour before the FakeClock's now
SINCE = datetime(2026, 11, 1, tzinfo=UTC)
COMMENTS = "/r/acme/comments/?"
SPENT = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "240"}


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        serve_token(server)
        yield server


def minutes_ago(n: int) -> float:
    """A created_utc ``n`` minutes before NEWEST."""
    return (NEWEST - timedelta(minutes=n)).timestamp()


def numbered(count: int, *, hit_every: int = 10, **extra: Any) -> list[dict[str, Any]]:
    """``count`` comments one minute apart, newest first; every ``hit_every``th names acme."""
    texts = ["acme lost my order" if n % hit_every == 0 else "nice weather" for n in range(count)]
    return [comment(f"c{n}", text, created=minutes_ago(n), **extra) for n, text in enumerate(texts)]


def serve_pages(api: FakeAPI, path: str, things: list[dict[str, Any]]) -> None:
    """``things`` (newest first) as Reddit pages them: 100 a page, ``after`` = the last."""
    pages = [things[i : i + 100] for i in range(0, len(things), 100)]
    previous: str | None = None
    for n, page in enumerate(pages):
        after = page[-1]["data"]["name"] if n + 1 < len(pages) else None
        query = {"after": previous} if previous else None
        api.add("GET", path, listing(*page, after=after), query=query)
        previous = page[-1]["data"]["name"]
    if pages and len(pages[-1]) == 100:
        api.add("GET", path, listing(), query={"after": str(previous)})


def watch(make_runtime: RuntimeFactory, api: FakeAPI, **source: Any) -> Runtime:
    config = {
        "name": "watch",
        "type": "reddit_subreddit",
        "subreddits": ["acme"],
        "keywords": ["acme"],
        "submissions": False,
        "context_depth": 0,
        **source,
    }
    return make_runtime(sources=[config], reddit=reddit_section(api), teams=TEAMS)


def stored(rt: Runtime) -> set[str]:
    with rt.sessions() as session:
        query = select(Message.external_id).where(Message.direction == "inbound")
        return set(session.scalars(query))


def assert_history_only(rt: Runtime, source: str, report: BackfillReport) -> None:
    """Decided, nothing sent, cases settled, the live source state never written."""
    assert report.failure is None
    assert report.decisions["reply"] > 0
    assert report.suppressed > 0
    with rt.sessions() as session:
        actions = session.scalars(select(ActionRow)).all()
        assert {a.status for a in actions} == {ActionStatus.SUPPRESSED.value}
        cases = session.scalars(select(Case)).all()
        assert cases
        assert all(TAG in c.tags and c.state == CaseState.RESOLVED.value for c in cases)
        assert session.get(SourceState, source) is None


def test_subreddit_keeps_window_keyword_hits_and_stops_paging_past_since(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    things = numbered(300)
    things[20] = comment("own", "acme here, sorry!", author=BRAND, created=minutes_ago(20))
    things[30] = comment("gone", "acme is the worst", author=None, created=minutes_ago(30))
    serve_pages(api, COMMENTS, things)
    rt = watch(make_runtime, api)
    # Inside the window: c10 (at --until: out) ... c150 (at --since: in).
    window = Window(NEWEST - timedelta(minutes=150), NEWEST - timedelta(minutes=10))
    report = backfill(rt, "watch", window)

    hits = {f"t1_c{n}" for n in range(11, 151) if n % 10 == 0} - {"t1_c20", "t1_c30"}
    assert stored(rt) == hits
    assert report.fetched == len(hits)
    assert report.problems == ["r/acme/comments: skipped 1 deleted; skipped 1 own"]
    # c150 is on page 2, c151 ends the scan there: page 3 is never asked for.
    requests = api.seen("GET", COMMENTS)
    assert [r.query.get("after") for r in requests] == [None, ["t1_c99"]]
    assert {r.query["limit"][0] for r in requests} == {"100"}
    assert_history_only(rt, "watch", report)


def test_an_item_without_a_creation_time_is_skipped_not_the_end_of_the_listing(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Read as 1970, older than --since: it ended the listing's backfill, and every item
    # below it in the window was left out without a word.
    things = numbered(200)
    del things[40]["data"]["created_utc"]
    serve_pages(api, COMMENTS, things)
    rt = watch(make_runtime, api)
    window = Window(NEWEST - timedelta(minutes=150), NEWEST - timedelta(minutes=10))
    report = backfill(rt, "watch", window)

    assert stored(rt) == {f"t1_c{n}" for n in range(11, 151) if n % 10 == 0} - {"t1_c40"}
    assert report.problems == ["r/acme/comments: skipped 1 without a creation time"]


def test_inbox_backfill_marks_nothing_read_and_stores_thread_context(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    text = "u/acme_official my order is late"
    mention = comment("m1", text, created=minutes_ago(5), parent="t1_p1", inbox="username_mention")
    text = "still late, where is my order?"
    reply = comment("r1", text, created=minutes_ago(3), link="def456", inbox="comment_reply")
    api.add("GET", "/message/mentions", listing(mention))
    api.add("GET", "/message/comments/?", listing(reply))
    api.add("GET", "/message/selfreply/?", listing())
    parent = comment("p1", "my order is late too", author="customer2", created=minutes_ago(9))
    api.add("GET", "/api/info/?", listing(parent, submission("abc123", "Order help")))
    api.add("POST", "/api/read_message/?", Reply.json({}))
    config = {"name": "inbox", "type": "reddit_inbox", "context_depth": 1}
    rt = make_runtime(sources=[config], reddit=reddit_section(api), teams=TEAMS)
    report = backfill(rt, "inbox", Window(SINCE))

    assert stored(rt) == {"t1_m1", "t1_r1"}
    assert api.seen("POST", "/api/read_message/?") == []
    with rt.sessions() as session:
        rows = session.execute(select(Message.external_id, Message.direction, Message.kind))
        found = {external_id: (direction, kind) for external_id, direction, kind in rows}
    assert found == {
        "t1_m1": ("inbound", "mention"),
        "t1_r1": ("inbound", "reply"),
        "t1_p1": ("context", "reply"),
        "t3_abc123": ("context", "reply"),
    }
    # One request per page, as the live poll; the fake answers both with p1 and abc123.
    requested = [r.query["id"][0] for r in api.seen("GET", "/api/info/?")]
    assert requested == ["t1_p1,t3_abc123", "t3_def456"]
    assert_history_only(rt, "inbox", report)


def test_thread_context_that_cannot_be_fetched_is_a_problem_not_a_failure(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", COMMENTS, listing(comment("k1", "acme broke", created=minutes_ago(1))))
    api.add("GET", "/api/info/?", Reply.json({"message": "Forbidden", "error": 403}, 403))
    rt = watch(make_runtime, api, context_depth=2)
    report = backfill(rt, "watch", Window(SINCE))
    assert report.failure is None
    assert stored(rt) == {"t1_k1"}
    assert report.problems == ["thread context not fetched: 403 Forbidden"]


def test_a_listing_cut_off_by_reddit_before_since_says_so(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    things = numbered(1000, hit_every=100)
    serve_pages(api, COMMENTS, things)
    api.add("GET", COMMENTS, listing(things[-1]), query={"after": "t1_c998"})
    rt = watch(make_runtime, api)
    report = backfill(rt, "watch", Window(SINCE))
    assert report.ingested == 10
    assert report.problems == [
        "r/acme/comments: Reddit's listing ends at 2026-11-19 15:21 UTC (about 1,000 items "
        "back); older items cannot be fetched"
    ]
    # 10 pages, the empty one, then one step back (c999 might have been deleted).
    assert len(api.seen("GET", COMMENTS)) == 12


def test_a_short_listing_is_the_whole_history_not_a_cut(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    serve_pages(api, COMMENTS, numbered(130))
    rt = watch(make_runtime, api)
    report = backfill(rt, "watch", Window(SINCE))
    assert report.ingested == 13
    assert report.problems == []
    assert len(api.seen("GET", COMMENTS)) == 2


def test_search_is_read_newest_first_and_a_cut_search_is_reported(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    posts = [submission(f"s{n}", f"Acme order {n}", created=minutes_ago(n)) for n in range(230)]
    serve_pages(api, "/r/all/search/?", posts)
    config = {"name": "search", "type": "reddit_search"}
    rt = make_runtime(sources=[config], reddit=reddit_section(api), teams=TEAMS)
    report = backfill(rt, "search", Window(SINCE))
    assert report.ingested == 230
    assert report.problems == [
        "search in r/all: Reddit's listing ends at 2026-11-20 04:11 UTC (Reddit search stops "
        "after a few hundred to about 1,000 results); older items cannot be fetched"
    ]
    requests = api.seen("GET", "/r/all/search/?")
    assert [(r.query["q"], r.query["sort"]) for r in requests] == [(['"Acme"'], ["new"])] * 3
    assert [r.query.get("after") for r in requests] == [None, ["t3_s99"], ["t3_s199"]]


@pytest.mark.parametrize(
    ("refusal", "problem"),
    [
        (
            Reply.json({"reason": "banned", "message": "Not Found", "error": 404}, status=404),
            "r/gone: 404 banned; skipped",
        ),
        (
            Reply.json({"message": "Unavailable For Legal Reasons", "error": 451}, status=451),
            "r/gone: 451 Unavailable For Legal Reasons; skipped",
        ),
        (
            Reply.json({"message": "Bad Request", "error": 400}, status=400),
            "r/gone: 400 Bad Request; skipped",
        ),
    ],
    ids=["404", "451", "400"],
)
def test_a_banned_subreddit_is_skipped_with_a_problem(
    make_runtime: RuntimeFactory, api: FakeAPI, refusal: Reply, problem: str
) -> None:
    api.add("GET", "/r/gone/(comments|new)/?", refusal)
    api.add("GET", COMMENTS, listing(comment("k1", "acme broke", created=minutes_ago(1))))
    post = submission("s1", "Acme is down", created=minutes_ago(0))
    api.add("GET", "/r/acme/new/?", listing(post))
    rt = watch(make_runtime, api, subreddits=["gone", "acme"], submissions=True)
    report = backfill(rt, "watch", Window(SINCE))
    assert report.failure is None
    assert stored(rt) == {"t1_k1", "t3_s1"}
    assert report.problems == [problem]
    assert len(api.seen("GET", "/r/gone/.*")) == 1  # its second listing is not tried
    with rt.sessions() as session:
        assert session.get(SourceState, "watch") is None  # not disabled for the live poll


@pytest.mark.parametrize(
    "retry_after", ["120", "Fri, 20 Nov 2026 09:02:00 GMT"], ids=["seconds", "date"]
)
def test_a_429_stops_the_backfill_and_keeps_the_pages_before(
    make_runtime: RuntimeFactory, api: FakeAPI, retry_after: str
) -> None:
    serve_pages(api, COMMENTS, numbered(300))
    headers = {**RATE, "retry-after": retry_after}  # the date: 120 s after the clock's now
    limited = Reply.json({"message": "Too Many Requests", "error": 429}, 429, headers)
    api.add("GET", COMMENTS, limited, query={"after": "t1_c99"})
    rt = watch(make_runtime, api)
    # "Rerun the backfill" named no window: the user had to remember both dates, and a
    # rerun without --until imported past it.
    until = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    report = backfill(rt, "watch", Window(SINCE, until))
    assert report.failure == (
        "Reddit rate limited: 429 Too Many Requests; in 120 s or later, rerun with --since "
        "2026-11-01T00:00:00 --until 2026-11-20T08:30:00 (Reddit cannot be asked for a time "
        "range: each listing is read again from its newest item; stored mentions are skipped)"
    )
    assert stored(rt) == {f"t1_c{n}" for n in range(0, 100, 10)}


@pytest.fixture
def config_file(tmp_path: Path, api: FakeAPI) -> Path:
    source = {"name": "watch", "type": "reddit_subreddit", "subreddits": ["acme"]}
    config = {
        "brand": {"name": "Acme", "accounts": {"reddit": [BRAND]}},
        "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        "sources": [{**source, "keywords": ["acme"], "submissions": False, "context_depth": 0}],
        "reddit": reddit_section(api),
        "rules": {"path": str(REPO / "config" / "rules")},
        "teams": TEAMS,
    }
    path = tmp_path / "inchannel.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_a_spent_quota_stops_the_command_with_exit_1_without_sleeping(
    config_file: Path, api: FakeAPI
) -> None:
    things = numbered(200)
    # Page 1 spends the quota: prawcore would sleep 240 s before asking for page 2.
    api.add("GET", COMMENTS, listing(*things[:100], after="t1_c99", headers=SPENT))
    api.add("GET", COMMENTS, listing(*things[100:]), query={"after": "t1_c99"})
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(config_file)]).exit_code == 0
    args = ["backfill", "watch", "--since", "2026-11-01", "--config", str(config_file)]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Reddit rate limited: request quota spent (600 used); in 240 s or later, "
        "rerun with --since 2026-11-01T00:00:00 (Reddit cannot be asked for a time range: "
        "each listing is read again from its newest item; stored mentions are skipped)"
    )
    assert "fetched: 10\ningested: 10\n" in result.stdout
    assert len(api.seen("GET", COMMENTS)) == 1


def test_the_command_shows_every_problem_line(config_file: Path, api: FakeAPI) -> None:
    things = numbered(1000, hit_every=100)
    things[5] = comment("own", "acme here, sorry!", author=BRAND, created=minutes_ago(5))
    serve_pages(api, COMMENTS, things)
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade", "--config", str(config_file)])
    args = ["backfill", "watch", "--since", "2026-11-01", "--config", str(config_file)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(
        "problems: 2\n"
        "  r/acme/comments: Reddit's listing ends at 2026-11-19 15:21 UTC (about 1,000 items "
        "back); older items cannot be fetched\n"
        "  r/acme/comments: skipped 1 own\n"
    )


class PollOnly:
    name = "feed"

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        return PollResult([], None)


def test_a_source_without_backfill_is_refused_by_name(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    rt.sources["feed"] = PollOnly()
    with pytest.raises(BackfillRefused) as refused:
        backfill(rt, "feed", Window(SINCE))
    assert str(refused.value) == (
        "source feed (replay) cannot backfill; replay, x_mentions, x_search, reddit_inbox, "
        "reddit_subreddit and reddit_search sources can"
    )


def test_a_429_met_later_in_the_run_waits_from_when_it_was_met(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Measured from the run's start, a retry-after date met a minute into the fetching
    # was a minute too far away; met after the date, it was still in the future.
    serve_pages(api, COMMENTS, numbered(300))
    headers = {**RATE, "retry-after": "Fri, 20 Nov 2026 09:02:00 GMT"}
    limited = Reply.json({"message": "Too Many Requests", "error": 429}, 429, headers)
    api.add("GET", COMMENTS, limited, query={"after": "t1_c99"})
    rt = watch(make_runtime, api)
    assert isinstance(rt.clock, FakeClock)
    clock = rt.clock
    report = backfill(rt, "watch", Window(SINCE), on_page=lambda _: clock.advance(seconds=60))
    assert report.failure is not None
    assert report.failure.startswith(
        "Reddit rate limited: 429 Too Many Requests; in 60 s or later, rerun with --since "
        "2026-11-01T00:00:00 ("
    )


def test_a_page_asked_after_an_item_deleted_meanwhile_does_not_end_the_backfill(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Reddit answers an empty page for ``after`` = an item deleted since it was read.
    things = numbered(300)
    serve_pages(api, COMMENTS, things)
    api.add("GET", COMMENTS, listing(), query={"after": "t1_c99"})
    second = things[100:200]
    api.add("GET", COMMENTS, listing(*second, after="t1_c199"), query={"after": "t1_c98"})
    rt = watch(make_runtime, api)
    window = Window(NEWEST - timedelta(minutes=150), NEWEST - timedelta(minutes=10))
    report = backfill(rt, "watch", window)
    assert report.failure is None
    assert stored(rt) == {f"t1_c{n}" for n in range(20, 151, 10)}


def test_a_late_item_the_live_polls_overlap_still_reads_is_left_to_the_daemon(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # The daemon polled at 09:00 and caught up. A comment written at 08:40 showed in the
    # listing only after that (approved from the mod queue); the daemon's next poll
    # re-reads the overlap below its cursor to find such items. A backfill run before
    # that poll imported it as history (reply suppressed, case resolved), and the poll
    # then skipped it as stored: a live customer never answered.
    first = comment("c1", "acme lost my order", author="alice", created=NEWEST.timestamp())
    api.add("GET", COMMENTS, listing(first))
    rt = watch(make_runtime, api)
    poll_source(rt, "watch")
    late_at = rt.clock.now() - timedelta(minutes=20)
    late = comment("late", "acme lost my order", author="bob", created=late_at.timestamp())
    api.add("GET", COMMENTS, listing(late, first))
    rt.clock.advance(minutes=1)
    report = backfill(rt, "watch", Window(SINCE))
    assert (report.ingested, report.duplicates, report.left_to_daemon) == (1, 1, 1)
    assert sum(report.decisions.values()) == 0
    process_pending(rt)
    with rt.sessions() as session:
        message = session.scalars(select(Message).where(Message.external_id == "t1_late")).one()
        case = session.get(Case, message.case_id)
        assert case is not None
        assert TAG not in case.tags
        actions = session.scalars(select(ActionRow).where(ActionRow.case_id == case.id)).all()
        assert actions
        assert ActionStatus.SUPPRESSED.value not in {a.status for a in actions}


def test_an_item_shown_late_just_before_since_does_not_end_the_listing(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # A comment written 10 minutes before --since showed in the listing only later
    # (approved from the mod queue), among newer ones: the live poll reads its overlap
    # (30 minutes) below its cursor for such items. Stopping at the first item older
    # than --since, the backfill ended the listing there, and the window's comments
    # listed after it were never read, with no problem line saying so.
    since = NEWEST - timedelta(minutes=60)
    things = [
        comment("c0", "acme lost my order", created=minutes_ago(0)),
        comment("late", "acme lost my order", created=minutes_ago(70)),
        comment("c30", "acme lost my order", created=minutes_ago(30)),
        comment("c50", "acme lost my order", created=minutes_ago(50)),
        comment("c80", "acme lost my order", created=minutes_ago(80)),
        comment("c100", "acme lost my order", created=minutes_ago(100)),
        comment("c200", "acme lost my order", created=minutes_ago(200)),
    ]
    serve_pages(api, COMMENTS, things)
    rt = watch(make_runtime, api)
    report = backfill(rt, "watch", Window(since))
    assert stored(rt) == {"t1_c0", "t1_c30", "t1_c50"}
    assert report.problems == []


def ctrl_c_once_fetching(report: BackfillReport) -> None:
    if not report.importing:
        raise KeyboardInterrupt


def test_ctrl_c_while_fetching_the_last_listing_gives_the_until_that_finishes_it(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # Newest first, as on X: what was fetched is the newest part of the window. The
    # error said only that it was imported, with no way to finish the window.
    serve_pages(api, COMMENTS, numbered(300))
    rt = watch(make_runtime, api)
    report = backfill(rt, "watch", Window(SINCE), on_page=ctrl_c_once_fetching)
    assert report.failure == (
        "interrupted while fetching; what was fetched before was imported; r/acme/comments "
        "was read back to 2026-11-20 06:21:00 UTC: to go on from there, rerun with --until "
        "2026-11-20T06:21:01"
    )
    assert stored(rt) == {f"t1_c{n}" for n in range(0, 100, 10)}
    until = datetime(2026, 11, 20, 6, 21, 1, tzinfo=UTC)
    rerun = backfill(rt, "watch", Window(SINCE, until))
    assert rerun.failure is None
    assert stored(rt) == {f"t1_c{n}" for n in range(0, 300, 10)}


def test_ctrl_c_with_listings_left_unread_gives_the_whole_window_again(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    # An --until from the comments read would leave the submissions after it unread.
    serve_pages(api, COMMENTS, numbered(300))
    newest = submission("s1", "Acme is down", created=minutes_ago(0))
    api.add("GET", "/r/acme/new/?", listing(newest))
    rt = watch(make_runtime, api, submissions=True)
    until = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    report = backfill(rt, "watch", Window(SINCE, until), on_page=ctrl_c_once_fetching)
    assert report.failure == (
        "interrupted while fetching; what was fetched before was imported; not read in "
        "full: r/acme/comments, r/acme/new; rerun with --since 2026-11-01T00:00:00 --until "
        "2026-11-20T08:30:00 (Reddit cannot be asked for a time range: each listing is "
        "read again from its newest item; stored mentions are skipped)"
    )
    rerun = backfill(rt, "watch", Window(SINCE, until))
    assert rerun.failure is None
    assert stored(rt) == {f"t1_c{n}" for n in range(0, 300, 10)} | {"t3_s1"}
