"""`inchannel backfill` decides history in the order it was written, whatever order the
platform returns it in (X and Reddit: newest first), across chunk boundaries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from monitor.backfill import TAG, BackfillReport, backfill
from monitor.clock import Clock
from monitor.domain import Author, CaseState, Mention, Platform
from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, Window
from monitor.sources.replay import ReplaySource
from monitor.spool import Spool
from monitor.store.models import Case, Customer, Event, Message
from tests.conftest import RuntimeFactory, mention, write_jsonl
from tests.webkit import TEAMS

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
THREAD = {"conversation_id": "700", "author_id": "71", "author": "ria"}


def hourly(count: int, **extra: Any) -> list[dict[str, Any]]:
    """``count`` mentions an hour apart (past any cooldown), newest first, as X and
    Reddit return history."""
    start = datetime(2026, 11, 19, 8, tzinfo=UTC)
    rows = [
        mention(
            n,
            "@acme my order is late",
            created_at=(start + timedelta(hours=n)).isoformat(),
            **extra,
        )
        for n in range(count)
    ]
    return rows[::-1]


def chunked(make_runtime: RuntimeFactory, rows: list[dict[str, Any]], size: int) -> Runtime:
    """Pages of ``size`` from the platform, chunks of ``size`` in the import."""
    return make_runtime(rows, teams=TEAMS, processing={"batch_size": size})


def by_time(rt: Runtime) -> list[Message]:
    with rt.sessions() as session:
        return list(session.scalars(select(Message).order_by(Message.created_at)))


def state_events(rt: Runtime, case_id: int) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        query = select(Event).where(Event.case_id == case_id, Event.kind == "state")
        return [{"actor": e.actor, **e.detail} for e in session.scalars(query.order_by(Event.id))]


def test_a_thread_fetched_newest_first_is_decided_oldest_first(
    make_runtime: RuntimeFactory,
) -> None:
    rt = chunked(make_runtime, hourly(6, **THREAD), 2)
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.cases_opened) == (6, 1)
    messages = by_time(rt)
    replied = [bool((m.decision or {}).get("reply")) for m in messages]
    # The thread cap (2) spent on the first two messages as written, not on the newest
    # page, and not once per chunk.
    assert replied == [True, True, False, False, False, False]
    assert report.suppressed == 2
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert case.opened_at == messages[0].created_at
    assert (case.state, case.bot_replies, case.last_bot_reply_at) == ("resolved", 0, None)
    assert TAG in case.tags
    # Continued across chunks, never reopened; settled once, from where the replies
    # left it.
    assert state_events(rt, case.id) == [
        {
            "actor": "delivery-problem",
            "old": "new",
            "new": "awaiting_human",
            "team": "care",
            "sla_minutes": 60,
        },
        {
            "actor": "backfill",
            "old": "awaiting_human",
            "new": "resolved",
            "reason": "imported by backfill; its actions are suppressed",
        },
    ]


def test_the_author_cooldown_carries_from_chunk_to_chunk(make_runtime: RuntimeFactory) -> None:
    # One author, three threads, one message per page and per chunk, newest first: the
    # 30-minute cooldown must run between the messages' own times.
    times = ["2026-11-19T09:00:00Z", "2026-11-19T08:10:00Z", "2026-11-19T08:00:00Z"]
    rows = [
        mention(n, "@acme my order is late", created_at=at, author_id="77", author="sam")
        for n, at in enumerate(times, start=1)
    ]
    rt = chunked(make_runtime, rows, 1)
    source = rt.sources["feed"]
    assert isinstance(source, ReplaySource)
    rt.sources["feed"] = ReplaySource("feed", source.path, page_size=1)
    backfill(rt, "feed", Window(SINCE))
    replied = [bool((m.decision or {}).get("reply")) for m in by_time(rt)]
    assert replied == [True, False, True]
    with rt.sessions() as session:
        assert {c.last_bot_reply_at for c in session.scalars(select(Case))} == {None}
        assert session.scalars(select(Customer.last_bot_reply_at)).all() == [None]


def test_a_live_mention_between_chunks_takes_the_case_over(
    make_runtime: RuntimeFactory,
) -> None:
    rt = chunked(make_runtime, hourly(4, **THREAD), 2)
    live = mention(9, "@acme still waiting", created_at="2026-11-20T08:55:00Z", **THREAD)

    def live_mention_after_the_first_chunk(report: BackfillReport) -> None:
        if report.imported == 2 and "feed" in rt.sources:
            path = write_jsonl(rt.settings.base_dir / "live.jsonl", [live])
            rt.sources["feed"] = ReplaySource("feed", path, page_size=5)
            poll_source(rt, "feed")
            process_pending(rt)

    report = backfill(rt, "feed", Window(SINCE), on_page=live_mention_after_the_first_chunk)
    # The two later messages of the history join the now live case, undecided.
    assert (report.ingested, report.joined_live) == (4, 2)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert TAG not in case.tags
    assert case.state != CaseState.RESOLVED.value
    # The first chunk's resolution stays: the live mention reopened the case after it.
    steps = [(e["actor"], e["old"], e["new"]) for e in state_events(rt, case.id)]
    assert steps[1:3] == [("backfill", "awaiting_human", "resolved"), ("system", "resolved", "new")]


def test_a_live_mention_after_the_last_chunk_keeps_the_trail_live(
    make_runtime: RuntimeFactory,
) -> None:
    rt = chunked(make_runtime, hourly(4, **THREAD), 2)
    live = mention(9, "@acme still waiting", created_at="2026-11-20T08:55:00Z", **THREAD)

    def live_mention_after_the_last_chunk(report: BackfillReport) -> None:
        if report.importing and report.imported == report.fetched:
            path = write_jsonl(rt.settings.base_dir / "live.jsonl", [live])
            rt.sources["feed"] = ReplaySource("feed", path, page_size=5)
            poll_source(rt, "feed")
            process_pending(rt)

    backfill(rt, "feed", Window(SINCE), on_page=live_mention_after_the_last_chunk)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
    events = state_events(rt, case.id)
    # Resolved by the backfill once, then reopened by the live mention.
    assert [(e["actor"], e["old"], e["new"]) for e in events[1:3]] == [
        ("backfill", "awaiting_human", "resolved"),
        ("system", "resolved", "new"),
    ]
    assert case.state == events[-1]["new"] != CaseState.RESOLVED.value


class StopsAfterOnePage:
    """A source whose user presses Ctrl-C while the second page is being fetched."""

    name = "feed"

    def __init__(self, inner: ReplaySource) -> None:
        self.inner = inner

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:  # pragma: no cover
        return self.inner.poll(cursor, now=now)

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        pages = self.inner.backfill(window, clock=clock)
        yield next(pages)
        raise KeyboardInterrupt


def test_ctrl_c_while_fetching_imports_what_was_fetched(make_runtime: RuntimeFactory) -> None:
    rt = chunked(make_runtime, hourly(8), 5)
    source = rt.sources["feed"]
    assert isinstance(source, ReplaySource)
    rt.sources["feed"] = StopsAfterOnePage(source)
    report = backfill(rt, "feed", Window(SINCE))
    # A source that says nothing of how far it read: the message gave no command at all.
    assert report.failure == (
        "interrupted while fetching; what was fetched before was imported; rerun the same "
        "window with --since 2026-11-01T00:00:00 to fetch the rest (stored mentions are skipped)"
    )
    assert (report.fetched, report.to_import, report.ingested, report.imported) == (5, 5, 5, 5)
    assert all(m.processed for m in by_time(rt))


def test_ctrl_c_as_the_import_begins_is_reported_as_one_while_importing(
    make_runtime: RuntimeFactory,
) -> None:
    # The progress turning from fetching to importing was outside the import's handling:
    # Ctrl-C there ended the command with "Aborted!" and no word of how to go on.
    rt = chunked(make_runtime, hourly(8), 3)

    def progress(report: BackfillReport) -> None:
        if report.importing:
            raise KeyboardInterrupt

    report = backfill(rt, "feed", Window(SINCE), on_page=progress)
    assert report.failure == (
        "interrupted while importing, 0 of 8 imported; the rest was written from "
        "2026-11-19 08:00:00 UTC on: rerun with --since 2026-11-19T08:00:00 to import it "
        "(stored mentions are skipped)"
    )
    assert by_time(rt) == []


class CtrlCAtTheFifthScore:
    """The user presses Ctrl-C while the import scores its fifth mention: in the
    middle of the second chunk's transaction."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.calls = inner, 0

    def score(self, text: str, **options: Any) -> Any:
        self.calls += 1
        if self.calls == 5:
            raise KeyboardInterrupt
        return self.inner.score(text, **options)


def test_ctrl_c_while_importing_keeps_the_committed_chunks_and_says_so(
    make_runtime: RuntimeFactory,
) -> None:
    rt = chunked(make_runtime, hourly(8), 3)
    rt.scorer = CtrlCAtTheFifthScore(rt.scorer)  # type: ignore[assignment]
    report = backfill(rt, "feed", Window(SINCE))
    # Imported oldest first, the first three are in: the rest starts at the fourth's
    # time. "Rerun the same command" read (on X: billed) the whole window again.
    assert report.failure == (
        "interrupted while importing, 3 of 8 imported; the rest was written from "
        "2026-11-19 11:00:00 UTC on: rerun with --since 2026-11-19T11:00:00 to import it "
        "(stored mentions are skipped)"
    )
    assert (report.imported, report.ingested, report.cases_opened) == (3, 3, 3)
    stored = by_time(rt)
    assert len(stored) == 3  # the second chunk rolled back whole
    assert all(m.processed for m in stored)
    rt.scorer = rt.scorer.inner  # type: ignore[attr-defined]
    rest = Window(datetime(2026, 11, 19, 11, tzinfo=UTC))
    rerun = backfill(rt, "feed", rest)
    assert (rerun.failure, rerun.ingested, rerun.duplicates) == (None, 5, 0)
    assert len(by_time(rt)) == 8  # no gap


def test_the_rerun_ctrl_c_asks_for_goes_on_with_the_threads_it_left(
    make_runtime: RuntimeFactory,
) -> None:
    # Stopped after the first two chunks, with the thread's cap (2) spent: the rerun of
    # the rest reopened the settled case as if a customer had written again, counted no
    # replies before it, and would have replied twice more in the capped thread.
    rt = chunked(make_runtime, hourly(6, **THREAD), 2)
    rt.scorer = CtrlCAtTheFifthScore(rt.scorer)  # type: ignore[assignment]
    report = backfill(rt, "feed", Window(SINCE))
    assert report.failure is not None
    assert "rerun with --since 2026-11-19T12:00:00" in report.failure
    rt.scorer = rt.scorer.inner  # type: ignore[attr-defined]
    rerun = backfill(rt, "feed", Window(datetime(2026, 11, 19, 12, tzinfo=UTC)))
    assert (rerun.failure, rerun.ingested, rerun.cases_opened, rerun.suppressed) == (None, 2, 0, 0)
    replied = [bool((m.decision or {}).get("reply")) for m in by_time(rt)]
    assert replied == [True, True, False, False, False, False]  # as in one run
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
    assert (case.state, case.bot_replies, case.last_bot_reply_at) == ("resolved", 0, None)
    steps = [(e["actor"], e["old"], e["new"]) for e in state_events(rt, case.id)]
    assert steps == [
        ("delivery-problem", "new", "awaiting_human"),
        ("backfill", "awaiting_human", "resolved"),
    ]


def test_the_rerun_ctrl_c_asks_for_keeps_the_authors_cooldown(
    make_runtime: RuntimeFactory,
) -> None:
    # sam's 08:00 message got a reply; Ctrl-C stopped the run before the 08:10 one. The
    # rerun from 08:10 answered it too, 10 minutes into sam's 30-minute cooldown.
    times = ["08:00", "08:01", "08:02", "08:03", "08:10", "09:00"]
    authors = ["sam", "ann", "bob", "cy", "sam", "sam"]
    rows = [
        mention(
            n,
            "@acme my order is late",
            created_at=f"2026-11-19T{at}:00Z",
            author_id=str(90 + authors.index(who)),
            author=who,
        )
        for n, (at, who) in enumerate(zip(times, authors, strict=True), start=1)
    ]
    rt = chunked(make_runtime, rows, 2)
    rt.scorer = CtrlCAtTheFifthScore(rt.scorer)  # type: ignore[assignment]
    report = backfill(rt, "feed", Window(SINCE))
    assert report.failure is not None
    assert "rerun with --since 2026-11-19T08:10:00" in report.failure
    rt.scorer = rt.scorer.inner  # type: ignore[attr-defined]
    backfill(rt, "feed", Window(datetime(2026, 11, 19, 8, 10, tzinfo=UTC)))
    replied = [bool((m.decision or {}).get("reply")) for m in by_time(rt)]
    assert replied == [True, True, True, True, False, True]  # as in one run
    with rt.sessions() as session:
        assert set(session.scalars(select(Customer.last_bot_reply_at))) == {None}


def test_a_database_error_while_importing_keeps_the_committed_chunks_and_says_so(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # A lock timeout or a deadlock with the daemon in the second chunk: the command
    # printed only "the database cannot be used", no summary of the chunk committed and
    # no word that a rerun goes on (on X, the whole window had been read and billed).
    rt = chunked(make_runtime, hourly(8), 3)
    inserts = 0

    @event.listens_for(rt.engine, "before_cursor_execute")
    def second_chunk_fails(*args: Any) -> None:
        nonlocal inserts
        if str(args[2]).startswith("INSERT INTO messages"):
            inserts += 1
            if inserts == 2:
                raise OperationalError("INSERT", {}, Exception("database is locked"))

    report = backfill(rt, "feed", Window(SINCE))
    event.remove(rt.engine, "before_cursor_execute", second_chunk_fails)
    assert report.failure == (
        "importing failed (OperationalError, logged above), 3 of 8 imported; the rest was "
        "written from 2026-11-19 11:00:00 UTC on: rerun with --since 2026-11-19T11:00:00 "
        "to import it (stored mentions are skipped)"
    )
    assert (report.imported, report.ingested, report.cases_opened) == (3, 3, 3)
    assert "importing failed" in caplog.text
    assert len(by_time(rt)) == 3  # the second chunk rolled back whole
    rerun = backfill(rt, "feed", Window(SINCE))
    assert (rerun.failure, rerun.ingested, rerun.duplicates) == (None, 5, 3)


def test_a_mention_in_two_pages_is_imported_once(make_runtime: RuntimeFactory) -> None:
    rows = hourly(4)
    rt = chunked(make_runtime, [*rows, rows[0]], 2)  # overlapping listings
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.fetched, report.to_import, report.ingested, report.duplicates) == (5, 4, 4, 1)
    assert report.imported == report.to_import


def post(n: int, at: datetime) -> Mention:
    return Mention(
        platform=Platform.REDDIT,
        external_id=f"t1_{n}",
        author=Author(id=str(n), handle=f"u{n}"),
        text=f"post {n} " + "x" * 500,
        created_at=at,
        conversation_id="t3_a",
    )


def test_the_spool_gives_back_mentions_oldest_first() -> None:
    t = datetime(2026, 11, 19, tzinfo=UTC)
    newest_first = [post(30, t + timedelta(hours=2)), post(9, t), post(10, t), post(2, t)]
    with Spool() as spool:
        assert spool.add(newest_first) == 0
        assert spool.add([post(4, t + timedelta(hours=1)), post(9, t)]) == 1  # a repeat
        assert len(spool) == 5
        chunks = [[m.external_id for m in chunk] for chunk in spool.oldest_first(3)]
        # Equal times (platforms give seconds) in the order of the platform's ids.
        assert chunks == [["t1_2", "t1_9", "t1_10"], ["t1_4", "t1_30"]]
        first = next(iter(spool.oldest_first(1)))[0]
        assert first == newest_first[3]


class Exploding:
    """A mention whose pickling is interrupted, as by Ctrl-C in the middle of a page."""

    platform = Platform.REDDIT
    external_id = "t1_boom"
    created_at = datetime(2026, 11, 19, tzinfo=UTC)

    def __reduce__(self) -> tuple[Any, ...]:
        raise KeyboardInterrupt


def test_a_page_interrupted_while_spooled_leaves_the_spool_as_it_was() -> None:
    t = datetime(2026, 11, 19, tzinfo=UTC)
    with Spool() as spool:
        spool.add([post(1, t)])
        page: list[Any] = [post(2, t), Exploding(), post(3, t)]
        with pytest.raises(KeyboardInterrupt):
            spool.add(page)
        assert len(spool) == 1
        assert spool.add([post(2, t)]) == 0  # not remembered as seen either
        assert [[m.external_id for m in c] for c in spool.oldest_first(10)] == [["t1_1", "t1_2"]]


class FailsAfterOnePage(StopsAfterOnePage):
    """A source with a bug: anything but a SourceError after the first page."""

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        pages = self.inner.backfill(window, clock=clock)
        yield next(pages)
        raise RuntimeError("bug")


def test_an_unexpected_error_while_fetching_imports_what_was_fetched(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rt = chunked(make_runtime, hourly(8), 5)
    source = rt.sources["feed"]
    assert isinstance(source, ReplaySource)
    rt.sources["feed"] = FailsAfterOnePage(source)
    report = backfill(rt, "feed", Window(SINCE))
    assert report.failure == (
        "fetching failed (RuntimeError, logged above); what was fetched before was imported"
    )
    assert (report.fetched, report.ingested) == (5, 5)
    assert "RuntimeError: bug" in caplog.text


def test_a_chunk_of_more_than_a_thousand_mentions(make_runtime: RuntimeFactory) -> None:
    # The suppression once built one SQL term per message, over SQLite's 1,000 limit.
    at = "2026-11-19T08:00:00Z"
    rows = [mention(n, "@acme my order is late", created_at=at) for n in range(1050)]
    rt = chunked(make_runtime, rows, 2000)
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.failure) == (1050, None)
    assert report.suppressed == report.decisions["reply"] > 0


def test_the_thread_reply_cap_carries_from_chunk_to_chunk(make_runtime: RuntimeFactory) -> None:
    # Three customers in one thread, an hour apart, one per chunk. The cap (2) counts the
    # whole thread, as the live daemon does: the earlier chunks' cases, settled with no
    # reply counted, still count their replies for the next customers' decisions.
    rows = [
        {**row, "author_id": f"8{n}", "author": f"cus{n}"}
        for n, row in enumerate(hourly(3, conversation_id="800"))
    ]
    rt = chunked(make_runtime, rows, 1)
    source = rt.sources["feed"]
    assert isinstance(source, ReplaySource)
    rt.sources["feed"] = ReplaySource("feed", source.path, page_size=1)
    backfill(rt, "feed", Window(SINCE))
    messages = by_time(rt)
    assert [bool((m.decision or {}).get("reply")) for m in messages] == [True, True, False]
    assert (messages[2].decision or {})["notes"] == ["guard: already 2 bot replies in this thread"]


def test_a_live_case_opened_while_a_chunk_is_imported_is_not_settled(
    make_runtime: RuntimeFactory,
) -> None:
    # The daemon (another worker) opens a case in a thread while a backfill chunk holding
    # an older message of it runs: after the chunk looked for live cases, before it
    # opened its own. The chunk used to join that live case, decide into it and settle
    # it: resolved, tagged backfill, its SLA clock cleared, gone from the team's queue.
    known = mention(1, "@acme hello", created_at="2026-11-20T08:00:00Z", **THREAD)
    old = mention(2, "@acme my order is late", created_at="2026-11-19T08:00:00Z",
                  **{**THREAD, "conversation_id": "701"})  # fmt: skip
    live = mention(3, "@acme my order is STILL late", created_at="2026-11-20T08:55:00Z",
                   **{**THREAD, "conversation_id": "701"})  # fmt: skip
    daemon = make_runtime([known], teams=TEAMS)
    if daemon.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: the daemon waits for the chunk to commit")
    poll_source(daemon, "feed")  # the customer is known to the daemon
    process_pending(daemon)
    rt = make_runtime([old], teams=TEAMS)
    opened: list[str] = []

    def daemon_opens_the_case_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The chunk's first look at its customers' cases in id order: for live ones.
        words = " ".join(statement.split())
        looked = "FROM cases WHERE cases.customer_id IN" in words and "BY cases.id" in words
        if not looked or opened:
            return
        opened.append(statement)  # before the daemon's work: it must not come here again
        path = write_jsonl(daemon.settings.base_dir / "live.jsonl", [known, live])
        daemon.sources["feed"] = ReplaySource("feed", path, page_size=5)
        poll_source(daemon, "feed")
        process_pending(daemon)

    event.listen(rt.engine, "after_cursor_execute", daemon_opens_the_case_meanwhile)
    try:
        backfill(rt, "feed", Window(SINCE))
    finally:
        event.remove(rt.engine, "after_cursor_execute", daemon_opens_the_case_meanwhile)
    assert len(opened) == 1
    while process_pending(daemon):
        pass
    with rt.sessions() as session:
        case = session.scalars(select(Case).where(Case.conversation_id == "701")).one()
        decided = session.scalars(select(Message).where(Message.external_id == "1003")).one()
    assert TAG not in case.tags
    assert case.state == CaseState.AWAITING_HUMAN.value
    assert case.sla_due_at is not None
    assert decided.processed
    assert decided.case_id == case.id


def ctrl_c_after_the_first_page(report: BackfillReport) -> None:
    if not report.importing:
        raise KeyboardInterrupt


def test_ctrl_c_while_fetching_a_replay_file_gives_the_since_that_finishes_the_window(
    make_runtime: RuntimeFactory,
) -> None:
    # A replay file is read in its order, oldest first: what was fetched is the oldest
    # part of the window. The error said only that it was imported, with no way on.
    rt = chunked(make_runtime, hourly(8)[::-1], 5)
    until = datetime(2026, 11, 20, tzinfo=UTC)
    report = backfill(rt, "feed", Window(SINCE, until), on_page=ctrl_c_after_the_first_page)
    assert report.failure == (
        "interrupted while fetching; what was fetched before was imported; the rest was "
        "written from 2026-11-19 13:00:00 UTC on: rerun with --since 2026-11-19T13:00:00 "
        "--until 2026-11-20T00:00:00 to import it (stored mentions are skipped)"
    )
    assert len(by_time(rt)) == 5
    rerun = backfill(rt, "feed", Window(datetime(2026, 11, 19, 13, tzinfo=UTC), until))
    assert (rerun.failure, rerun.ingested, rerun.duplicates) == (None, 3, 0)
    assert len(by_time(rt)) == 8


def test_the_since_after_ctrl_c_covers_a_replay_file_out_of_order(
    make_runtime: RuntimeFactory,
) -> None:
    # Newest first in the file: the mentions not yet read are older than those fetched,
    # so a --since from the newest fetched would leave them out for good.
    rt = chunked(make_runtime, hourly(8), 5)
    report = backfill(rt, "feed", Window(SINCE), on_page=ctrl_c_after_the_first_page)
    assert report.failure is not None
    assert report.failure.endswith(
        "the rest was written from 2026-11-19 08:00:00 UTC on: rerun with --since "
        "2026-11-19T08:00:00 to import it (stored mentions are skipped)"
    )
    rerun = backfill(rt, "feed", Window(datetime(2026, 11, 19, 8, tzinfo=UTC)))
    assert (rerun.failure, rerun.ingested) == (None, 3)
