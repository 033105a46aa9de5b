"""`inchannel backfill`: history through the live pipeline, decided, never answered."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor import casework_actions, casework_replies
from monitor.backfill import TAG, backfill
from monitor.cli import main
from monitor.commands.backfill import problem_lines
from monitor.domain import ActionStatus, CaseState
from monitor.pipeline import dispatch_outbox, poll_source, process_pending, run_cycle
from monitor.runtime import Runtime
from monitor.sources.base import Window
from monitor.sources.replay import ReplaySource, parse_mention
from monitor.store.context import store_context
from monitor.store.models import ActionRow, Case, Customer, Message, SourceState
from monitor.web.reports import build_report
from tests.conftest import REPO, RuntimeFactory, mention, write_jsonl
from tests.webkit import TEAMS, sample_rows

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
BAD_ARGS = REPO / "tests" / "data" / "backfill_bad_args.tsv"


def statuses(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        query = select(ActionRow.status, func.count()).group_by(ActionRow.status)
        return {status: int(n) for status, n in session.execute(query).all()}


def cursor(rt: Runtime) -> str | None:
    with rt.sessions() as session:
        state = session.get(SourceState, "feed")
        return state.cursor if state else None


def refeed(rt: Runtime, rows: list[dict[str, object]]) -> None:
    """The platform now has ``rows``: a new replay file behind the same source name."""
    path = write_jsonl(rt.settings.base_dir / "refeed.jsonl", rows)
    rt.sources["feed"] = ReplaySource("feed", path, page_size=5)


def test_history_is_decided_and_nothing_is_sent(make_runtime: RuntimeFactory) -> None:
    samples = len(sample_rows())
    rt = make_runtime(sample_rows(), teams=TEAMS)
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.fetched, report.ingested, report.duplicates) == (samples, samples, 0)
    assert report.failure is None
    assert report.decisions["reply"] > 0
    assert report.decisions["escalate"] > 0
    assert report.suppressed > 0
    found = statuses(rt)
    assert found == {ActionStatus.SUPPRESSED.value: report.suppressed}
    with rt.sessions() as session:
        inbound = session.scalars(select(Message).where(Message.direction == "inbound")).all()
        assert all(m.processed for m in inbound)
        decided = [m for m in inbound if m.decision is not None]
        assert len(decided) == sum(1 for m in inbound if m.kind != "own")
        opened = session.scalars(select(Case)).all()
        assert len(opened) == report.cases_opened
        assert all(TAG in c.tags and c.state == CaseState.RESOLVED.value for c in opened)
        assert all(c.sla_due_at is None and c.bot_replies == 0 for c in opened)
    assert cursor(rt) is None  # the live source state was never touched
    run_cycle(rt)  # the daemon afterwards: everything is a duplicate, nothing is sent
    assert statuses(rt) == found
    again = backfill(rt, "feed", Window(SINCE))
    assert (again.ingested, again.duplicates, again.suppressed) == (0, samples, 0)


def test_window_bounds(make_runtime: RuntimeFactory) -> None:
    rows = [
        mention(1, created_at="2026-10-31T23:59:59Z"),
        mention(2, created_at="2026-11-01T00:00:00Z"),
        mention(3, created_at="2026-11-09T12:00:00Z"),
        mention(4, created_at="2026-11-10T00:00:00Z"),
    ]
    rt = make_runtime(rows)
    until = datetime(2026, 11, 10, tzinfo=UTC)
    report = backfill(rt, "feed", Window(SINCE, until))
    assert report.ingested == 2
    with rt.sessions() as session:
        assert set(session.scalars(select(Message.external_id))) == {"1002", "1003"}


def test_live_cursor_and_live_cases_are_left_alone(make_runtime: RuntimeFactory) -> None:
    thread = {"conversation_id": "777", "author_id": "55", "author": "kim"}
    live = mention(1, "@acme the app is down", created_at="2026-11-20T08:30:00Z", **thread)
    old = mention(2, "@acme the app is down again", created_at="2026-11-19T08:00:00Z", **thread)
    rt = make_runtime([live, old], teams=TEAMS)
    poll_source(rt, "feed")
    process_pending(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        before = (case.state, case.bot_replies, case.sla_due_at, case.tags)
    live_cursor, live_actions = cursor(rt), statuses(rt)
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.duplicates, report.joined_live) == (0, 2, 0)
    # The live poll stored both; now a mention the daemon never saw, in the live thread.
    newer = mention(3, "@acme still down", created_at="2026-11-18T08:00:00Z", **thread)
    refeed(rt, [live, old, newer])
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.joined_live, report.suppressed) == (1, 1, 0)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert (case.state, case.bot_replies, case.sla_due_at, case.tags) == before
        joined = session.scalars(select(Message).where(Message.external_id == "1003")).one()
        assert joined.case_id == case.id
        assert joined.decision == {
            "backfill": f"joined {case.ref}, opened before the backfill; not decided"
        }
    assert cursor(rt) == live_cursor
    assert statuses(rt) == live_actions


def test_a_later_live_mention_reopens_a_backfilled_case(make_runtime: RuntimeFactory) -> None:
    thread = {"conversation_id": "888", "author_id": "66", "author": "lee"}
    old = mention(1, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **thread)
    rt = make_runtime([old], teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    new = mention(2, "@acme my order is still late", created_at="2026-11-20T08:50:00Z", **thread)
    refeed(rt, [old, new])
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.state != CaseState.RESOLVED.value
        assert case.bot_replies == 1  # the backfilled reply never counted against the cap
        # The conversation is live now: its clocks start now, and it is no longer a
        # backfill's to settle.
        assert TAG not in case.tags
        assert case.opened_at == rt.clock.now()
        assert case.sla_due_at is None or case.sla_due_at > rt.clock.now()
    assert statuses(rt)[ActionStatus.SENT.value] >= 1
    # A second backfill bringing an even older message of the thread leaves it alone.
    older = mention(0, "@acme ordered today", created_at="2026-11-18T08:00:00Z", **thread)
    refeed(rt, [older, old, new])
    report = backfill(rt, "feed", Window(SINCE))
    assert report.joined_live == 1
    with rt.sessions() as session:
        again = session.scalars(select(Case)).one()
        assert (again.state, again.bot_replies) == (case.state, 1)


def test_a_rerun_leaves_a_backfilled_case_a_person_took_up_alone(
    make_runtime: RuntimeFactory,
) -> None:
    # The first run imported the thread and resolved its case; a person has since
    # answered the customer in it. A rerun bringing an older message of the thread must
    # treat the case as live: linked, not decided, the person's case not resolved.
    thread = {"conversation_id": "889", "author_id": "67", "author": "max"}
    old = mention(1, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **thread)
    rt = make_runtime([old], teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    with rt.sessions() as session:
        ref = session.scalars(select(Case)).one().ref
    casework_replies.reply(rt, ref, "Sorry Max, it leaves the warehouse today.", user="lena")
    with rt.sessions() as session:
        before = session.scalars(select(Case)).one()
    older = mention(0, "@acme ordered today", created_at="2026-11-18T08:00:00Z", **thread)
    refeed(rt, [older, old])
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.joined_live, sum(report.decisions.values())) == (1, 1, 0)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.state == CaseState.REPLIED.value
        assert (case.updated_at, case.tags) == (before.updated_at, before.tags)
        joined = session.scalars(select(Message).where(Message.external_id == "1000")).one()
        assert joined.decision == {
            "backfill": f"joined {ref}, opened before the backfill; not decided"
        }


def bad_args() -> list[tuple[str, int, str]]:
    lines = BAD_ARGS.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    return [(args, int(code), message) for args, code, message in rows]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    feed = write_jsonl(tmp_path / "feed.jsonl", [mention(1)])
    config = {
        "brand": {"name": "Acme", "accounts": {"x": ["acme"]}},
        "database": {"url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
        "sources": [
            {"name": "feed", "type": "replay", "path": str(feed)},
            {
                "name": "watch",
                "type": "reddit_subreddit",
                "subreddits": ["acme"],
                "keywords": ["acme"],
            },
        ],
        "reddit": {
            "client_id": "id",
            "client_secret": "secret",
            "refresh_token": "refresh",
            "user_agent": {"by": "acme"},
        },
        "rules": {"path": str(REPO / "config" / "rules")},
        "teams": [{"name": n} for n in ("care", "billing", "tech", "international")],
    }
    path = tmp_path / "inchannel.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.parametrize(("args", "code", "message"), bad_args())
def test_bad_arguments(config_file: Path, args: str, code: int, message: str) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(config_file)]).exit_code == 0
    result = runner.invoke(main, ["backfill", *args.split(), "--config", str(config_file)])
    assert result.exit_code == code, result.output
    assert result.stderr.strip().splitlines()[-1] == message


def test_command_prints_a_summary(config_file: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade", "--config", str(config_file)])
    args = ["backfill", "feed", "--since", "2026-11-01", "--config", str(config_file)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "ingested: 1\nduplicates skipped: 0\ncases opened: 1\n" in result.stdout
    rerun = runner.invoke(main, args)
    assert "ingested: 0\nduplicates skipped: 1\n" in rerun.stdout


def test_no_progress_output_when_stderr_is_not_a_terminal(config_file: Path) -> None:
    # Cron mail and log collectors got a blank line on stderr from every run: the
    # progress display, transient on a terminal, printed it when it stopped elsewhere.
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade", "--config", str(config_file)])
    args = ["backfill", "feed", "--since", "2026-11-01", "--config", str(config_file)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_unmigrated_database_is_refused(config_file: Path) -> None:
    args = ["backfill", "feed", "--since", "2026-11-01", "--config", str(config_file)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "inchannel db upgrade" in result.stderr


def test_escalation_notices_are_suppressed_too(make_runtime: RuntimeFactory) -> None:
    teams = [{**team, "channels": ["ops"]} for team in TEAMS]
    rt = make_runtime(sample_rows(), teams=teams, channels={"ops": {"url": "json://localhost"}})
    report = backfill(rt, "feed", Window(SINCE))
    with rt.sessions() as session:
        kinds = session.execute(select(ActionRow.kind, ActionRow.status)).all()
    notices = [status for kind, status in kinds if kind == "notify"]
    assert len(notices) == report.decisions["escalate"]
    assert set(notices) == {ActionStatus.SUPPRESSED.value}
    assert report.suppressed == len(kinds)


def test_each_message_of_a_page_is_decided_as_of_its_own_time(
    make_runtime: RuntimeFactory,
) -> None:
    # One author, three threads, one page: the reply cooldown (30 minutes) must run
    # between the messages' own times, as it would have live.
    author = {"author_id": "77", "author": "sam"}
    times = ["2026-11-19T08:00:00Z", "2026-11-19T08:10:00Z", "2026-11-19T09:00:00Z"]
    rows = [
        mention(n, "@acme my order is late", created_at=at, **author)
        for n, at in enumerate(times, start=1)
    ]
    rt = make_runtime(rows, teams=TEAMS)
    report = backfill(rt, "feed", Window(SINCE))
    assert report.ingested == 3
    with rt.sessions() as session:
        messages = session.scalars(select(Message).order_by(Message.created_at)).all()
        replied = [bool((m.decision or {}).get("reply")) for m in messages]
        opened = {c.id: c.opened_at for c in session.scalars(select(Case))}
        assert [opened[m.case_id] for m in messages if m.case_id] == [
            m.created_at for m in messages
        ]
    assert replied == [True, False, True]
    assert "author cooldown" in str(messages[1].decision)


def test_a_live_reply_after_a_message_does_not_hold_its_author_in_cooldown(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot answered the author live this morning. Judged against that reply, every
    # message of theirs from before it was "replied to recently" (the cooldown's span
    # came out negative) and the backfill recorded no reply for any of their history.
    author = {"author_id": "78", "author": "ria"}
    live = mention(1, "@acme my order is late", created_at="2026-11-20T08:50:00Z", **author)
    rt = make_runtime([live], teams=TEAMS)
    run_cycle(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Customer.last_bot_reply_at)).one() == rt.clock.now()
    old = mention(2, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **author)
    refeed(rt, [live, old])
    report = backfill(rt, "feed", Window(SINCE))
    assert report.ingested == 1
    with rt.sessions() as session:
        decided = session.scalars(select(Message).where(Message.external_id == "1002")).one()
        assert "author cooldown" not in str(decided.decision)
        assert decided.decision is not None
        assert decided.decision.get("reply")
        # The live cooldown itself is left as it was.
        assert session.scalars(select(Customer.last_bot_reply_at)).one() == rt.clock.now()


def test_live_replies_after_a_message_do_not_count_against_its_threads_cap(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot answered two customers live under the brand's post (the cap is 2). An
    # older message of a third customer in that thread was judged against them: "already
    # 2 bot replies in this thread", replies that had not happened when it was written.
    thread = {"conversation_id": "900"}
    live = [
        mention(1, "@acme my order is late", created_at="2026-11-20T08:40:00Z", **thread),
        mention(2, "@acme my order is late", created_at="2026-11-20T08:45:00Z", **thread),
    ]
    rt = make_runtime(live, teams=TEAMS)
    run_cycle(rt)
    assert statuses(rt)[ActionStatus.SENT.value] == 2
    old = mention(3, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **thread)
    refeed(rt, [*live, old])
    report = backfill(rt, "feed", Window(SINCE))
    assert report.ingested == 1
    with rt.sessions() as session:
        decided = session.scalars(select(Message).where(Message.external_id == "1003")).one()
        assert "bot replies in this thread" not in str(decided.decision)
        assert decided.decision is not None
        assert decided.decision.get("reply")


def test_a_post_stored_as_thread_context_is_imported_as_a_mention(
    make_runtime: RuntimeFactory,
) -> None:
    # A live poll stored this post only to show a later mention's thread; history then
    # brings it as a mention of its own: it must be decided, not skipped as a duplicate.
    row = mention(1, "@acme my order is late", created_at="2026-11-19T08:00:00Z")
    rt = make_runtime([row], teams=TEAMS)
    post = parse_mention(row)
    with rt.sessions() as session, session.begin():
        store_context(session, [post], "feed", rt.clock.now(), rt.own_handles)
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.duplicates, report.cases_opened) == (1, 0, 1)
    with rt.sessions() as session:
        stored = session.scalars(select(Message)).one()
        assert (stored.direction, stored.processed) == ("inbound", True)
        assert stored.decision is not None
        assert stored.case_id is not None


def test_the_brands_reply_joins_the_case_opened_earlier_in_the_same_page(
    make_runtime: RuntimeFactory,
) -> None:
    thread = {"conversation_id": "900"}
    rows = [
        mention(1, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **thread),
        mention(
            2,
            "@user1 sorry, we're on it",
            author="AcmeHelp",
            author_id="9",
            created_at="2026-11-19T08:05:00Z",
            **thread,
        ),
    ]
    rt = make_runtime(rows, teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        links = dict(session.execute(select(Message.external_id, Message.case_id)).all())
    assert links == {"1001": case.id, "1002": case.id}


def test_the_summary_counts_a_problem_repeated_page_after_page() -> None:
    context = "thread context not fetched: Reddit temporary: 503"
    lines = problem_lines([context, "r/acme: banned; skipped", context, context])
    assert lines == [
        "problems: 2",
        "  thread context not fetched: Reddit temporary: 503 (x3)",
        "  r/acme: banned; skipped",
    ]
    many = problem_lines([f"line {n}" for n in range(25)])
    assert many[0] == "problems: 25"
    assert many[-1] == "  ... and 5 more"
    assert len(many) == 22


def test_backfilled_cases_count_in_no_resolution_time(make_runtime: RuntimeFactory) -> None:
    # A backfill resolves its cases when it imports them, days after they were written:
    # no one resolved them, and counted as resolutions they gave the team a resolution
    # time of days. A live case resolved the same day still counts.
    old = mention(1, "@acme my order is late", created_at="2026-11-10T08:00:00Z")
    rt = make_runtime([old], teams=TEAMS)
    assert backfill(rt, "feed", Window(SINCE)).cases_opened == 1
    live = mention(2, "@acme my order is late", created_at="2026-11-20T08:55:00Z")
    refeed(rt, [live])
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case).where(Case.conversation_id == "1002")).one()
    rt.clock.advance(minutes=90)
    casework_actions.resolve(rt, case.ref, user="lena")
    report = build_report(rt, days=30)
    timings = [(t.group, t.count, t.median, t.p90) for t in report.resolution]
    assert timings == [("care", 1, 90.0, 90.0)]


@pytest.mark.parametrize(
    "since",
    [
        "2026-11-20T08:00",
        "2026-11-20T08:00:00Z",
        "2026-11-20T09:00:00+01:00",
        "2026-11-20+11:00",
    ],
    ids=["UTC as written", "Z", "an offset", "a date and an offset"],
)
def test_since_takes_the_apis_timestamps_as_the_same_moment(config_file: Path, since: str) -> None:
    """A timestamp pasted from X or Reddit ends in Z; one with an offset is converted.
    The mention is dated 2026-11-20T10:00Z: each form imports it, and an --until at
    that moment (exclusive) leaves it out. A date with an offset is that day's start
    there (2026-11-19T13:00Z at +11:00): it was read as 11:00 UTC, 22 hours late and past
    the mention."""
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade", "--config", str(config_file)])
    until = ["--until", "2026-11-20T11:00:00+01:00"]  # 10:00 UTC: the mention's moment
    args = ["backfill", "feed", "--since", since, *until, "--config", str(config_file)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "ingested: 0\n" in result.stdout
    args = ["backfill", "feed", "--since", since, "--config", str(config_file)]
    assert "ingested: 1\n" in runner.invoke(main, args).stdout


def test_a_post_first_stored_as_thread_context_may_be_answered_once_it_is_a_mention(
    make_runtime: RuntimeFactory,
) -> None:
    # X stores a parent fetched for display with reply_allowed false (the bot never
    # answers context). Arriving later as a mention of its own (a keyword search finds
    # it), it is a mention like any other: the guard must not escalate it claiming the
    # author does not allow replies.
    row = mention(1, "@acme how do I reset my password?")
    rt = make_runtime([row], teams=TEAMS)
    context = replace(parse_mention(row), reply_allowed=False)
    with rt.sessions() as session, session.begin():
        store_context(session, [context], "feed", rt.clock.now(), rt.own_handles)
    poll_source(rt, "feed")
    process_pending(rt)
    with rt.sessions() as session:
        stored = session.scalars(select(Message)).one()
    assert (stored.direction, stored.reply_allowed) == ("inbound", True)
    assert "does not allow replies" not in str(stored.decision)


def test_a_mention_written_after_the_daemons_last_poll_is_left_to_the_daemon(
    make_runtime: RuntimeFactory,
) -> None:
    # The daemon polled at 09:00; a customer wrote at 09:00:30, and a backfill up to now
    # ran before the daemon's next poll. Imported as history, the mention was resolved
    # with its reply suppressed, and the daemon's poll then skipped it as stored: a live
    # customer never answered and in no queue.
    old = mention(1, "@acme my order is late", created_at="2026-11-20T08:50:00Z")
    rt = make_runtime([old], teams=TEAMS)
    run_cycle(rt)
    sent = statuses(rt)[ActionStatus.SENT.value]
    written = rt.clock.now() + timedelta(seconds=30)
    fresh = mention(2, "@acme my order is late", created_at=written.isoformat())
    rt.clock.advance(minutes=1)
    refeed(rt, [old, fresh])
    report = backfill(rt, "feed", Window(SINCE))
    assert (report.ingested, report.left_to_daemon, sum(report.decisions.values())) == (1, 1, 0)
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case).where(Case.conversation_id == "1002")).one()
        assert TAG not in case.tags
        assert case.state != CaseState.RESOLVED.value
    assert statuses(rt) == {ActionStatus.SENT.value: sent + 1}


def test_a_backfilled_case_going_live_keeps_the_times_the_reports_count(
    make_runtime: RuntimeFactory,
) -> None:
    # A live message in an imported thread moved the case's opening to now: past the
    # reply a person had already posted in it (a first response of -30 minutes), and,
    # for a message the rules ignore, past the resolution the case kept, which then
    # counted as a resolution of -30 minutes, the backfill tag gone.
    answered = {"conversation_id": "888", "author_id": "66", "author": "lee"}
    ignored = {"conversation_id": "889", "author_id": "67", "author": "max"}
    old = [
        mention(1, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **answered),
        mention(2, "@acme my order is late", created_at="2026-11-19T08:00:00Z", **ignored),
    ]
    rt = make_runtime(old, teams=TEAMS)
    backfill(rt, "feed", Window(SINCE))
    with rt.sessions() as session:
        lee = session.scalars(select(Case).where(Case.conversation_id == "888")).one().ref
    casework_replies.reply(rt, lee, "Sorry Lee, it leaves the warehouse today.", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(minutes=30)
    now = rt.clock.now().isoformat()
    new = [
        mention(3, "@acme thanks, still waiting though", created_at=now, **answered),
        mention(4, "@acme giveaway! follow to win", created_at=now, **ignored),
    ]
    refeed(rt, [*old, *new])
    run_cycle(rt)
    report = build_report(rt, days=30)
    # Lee's first response: from the imported message, as before Lee wrote again.
    assert [(t.group, t.count, t.median) for t in report.first_response] == [
        ("care", 1, 1500.0),
        ("by human", 1, 1500.0),
    ]
    assert report.resolution == []
    with rt.sessions() as session:
        max_case = session.scalars(select(Case).where(Case.conversation_id == "889")).one()
        # An ignored message changes nothing (docs/rules.md): still the backfill's case.
        assert (max_case.state, TAG in max_case.tags) == (CaseState.RESOLVED.value, True)
        lee_case = session.scalars(select(Case).where(Case.conversation_id == "888")).one()
        assert TAG not in lee_case.tags
