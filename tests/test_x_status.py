"""What ``inchannel x status`` shows: usage against the budget, cost, limits, gaps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from monitor.cli import main
from monitor.pipeline import poll_source
from monitor.sources.x_source import XSource
from monitor.sources.x_status import status_lines
from monitor.sources.x_usage import READS
from tests.conftest import REPO, RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.reddit_fake import reddit_section
from tests.xapi import MENTIONS, SEARCH, body, limits, ok, tweet, x_runtime, x_section

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_status_shows_usage_cost_rate_limit_gap_and_error(
    make_runtime: RuntimeFactory, db_url: str, tmp_path: Path
) -> None:
    with FakeAPI() as api:
        api.add("GET", MENTIONS, ok(body([tweet(i) for i in range(1, 11)], next_token="more")))
        sources = [{"name": "mentions", "type": "x_mentions", "max_pages": 1}]
        rt = x_runtime(make_runtime, api, sources=sources)
        poll_source(rt, "mentions")  # first start: one page, no gap
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        poll_source(rt, "mentions")  # a page cap of 1 with more waiting: a gap
        api.add("GET", MENTIONS, Reply.json({"title": "Unauthorized"}, 401, limits(447)))
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        poll_source(rt, "mentions")
    with rt.sessions() as session:
        lines = status_lines(session, rt.settings, NOW + timedelta(hours=1))
    assert lines[0] == (
        "x usage 2026-11-20: 20/2000 posts read, 0/100 posts created, 2 users read, 3 requests"
    )
    # 20 posts x $0.005 + 2 users x $0.010, over 19 days 10 hours of a 30-day month.
    assert lines[1] == "x cost: $0.12 today, $0.12 this month, $0.19 projected for the month"
    assert lines[2].startswith("  mentions: 10 stored; last success 2026-11-20 09:05:00; ")
    assert "rate limit 447/450 until 2026-11-18T" in lines[2]
    assert lines[2].endswith(
        "error: x rejected the credentials (HTTP 401: Unauthorized); check x.bearer_token"
    )
    assert lines[3] == "  ! 2026-11-20 09:05:00 gap in mentions: page cap of 1 reached"

    config = tmp_path / "inchannel.yaml"
    config.write_text(
        "brand: {name: Acme, accounts: {x: [acme]}}\n"
        f"database: {{url: '{db_url}'}}\n"
        f"rules: {{path: {REPO / 'config' / 'rules'}}}\n"
        "teams: [{name: care}, {name: tech}, {name: billing}, {name: international}]\n"
        "sources: [{name: mentions, type: x_mentions}]\n"
        "x: {user_id: '783214', bearer_token: t}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["x", "status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "gap in mentions: page cap of 1 reached" in result.output
    assert "  mentions: 10 stored;" in result.output


def test_a_stored_error_is_one_inert_line(make_runtime: RuntimeFactory) -> None:
    # X's error text is not ours: an escape sequence in it cleared the operator's
    # terminal when `inchannel x status` printed it, and a line break split the line.
    with FakeAPI() as api:
        title = "Service \x1b[2JUnavailable\r\nretry \x9b31m later \u202eevil"
        api.add("GET", MENTIONS, Reply.json({"title": title}, 401, limits(447)))
        rt = x_runtime(make_runtime, api, sources=[{"name": "mentions", "type": "x_mentions"}])
        poll_source(rt, "mentions")
    with rt.sessions() as session:
        lines = status_lines(session, rt.settings, NOW)
    (line,) = [line for line in lines if "error:" in line]
    assert "(HTTP 401: Service [2JUnavailable retry" in line
    assert not any(ch in "".join(lines) for ch in "\x1b\r\n\x9b\u202e")


def test_only_x_sources_are_listed(make_runtime: RuntimeFactory) -> None:
    # A brand on both platforms: its Reddit sources are no X sources, and listed here
    # they read as X sources never polled, or with Reddit's last error as X's.
    with FakeAPI() as api:
        reddit = {"name": "inbox", "type": "reddit_inbox", "context_depth": 0}
        rt = make_runtime(
            sources=[{"name": "mentions", "type": "x_mentions"}, reddit],
            x=x_section(api),
            reddit=reddit_section(api),
        )
    with rt.sessions() as session:
        lines = status_lines(session, rt.settings, NOW)
    assert lines[2:] == ["  mentions: never polled"]


def test_a_rate_limit_with_headers_missing_shows_what_x_sent(make_runtime: RuntimeFactory) -> None:
    # X left out x-rate-limit-limit (or the reset): the line read "rate limit 447/None"
    # and "until None".
    with FakeAPI() as api:
        no_limit = {k: v for k, v in limits(447).items() if k != "x-rate-limit-limit"}
        no_reset = {k: v for k, v in limits(446).items() if k != "x-rate-limit-reset"}
        sources = [{"name": "mentions", "type": "x_mentions"}, {"name": "s", "type": "x_search",
                   "query": "acme"}]  # fmt: skip
        api.add("GET", MENTIONS, Reply.json(body([tweet(1)]), headers=no_limit))
        api.add("GET", SEARCH, Reply.json(body([tweet(2)]), headers=no_reset))
        rt = x_runtime(make_runtime, api, sources=sources)
        poll_source(rt, "mentions")
        poll_source(rt, "s")
    with rt.sessions() as session:
        lines = status_lines(session, rt.settings, NOW)
    assert "rate limit 447 left until 2026-11-18T" in lines[2]
    assert "None" not in lines[2]
    assert lines[3].endswith("rate limit 446/450")
    assert "None" not in lines[3]


def test_reads_held_by_requests_under_way_are_shown_until_their_hold_lapses(
    make_runtime: RuntimeFactory,
) -> None:
    # `inchannel status` showed the reads held by requests under way and this command
    # did not: a source waiting "for requests under way" beside a day far from spent.
    with FakeAPI() as api:
        rt = x_runtime(make_runtime, api, budget={"reads_per_day": 2000, "writes_per_day": 100})
    source = rt.sources["mentions"]
    assert isinstance(source, XSource)
    source.ledger.add(NOW, {READS: 20})
    source.ledger.hold_reads(NOW, 300, 2000)
    with rt.sessions() as session:
        under_way = status_lines(session, rt.settings, NOW + timedelta(seconds=30))
        lapsed = status_lines(session, rt.settings, NOW + timedelta(minutes=10))
    assert under_way[0].startswith(
        "x usage 2026-11-20: 20/2000 posts read, 300 held by requests under way, 0/100 "
    )
    assert under_way[1].startswith("x cost: $0.10 today")  # a hold is no read: not billed
    assert lapsed[0].startswith("x usage 2026-11-20: 20/2000 posts read, 0/100 posts created")
