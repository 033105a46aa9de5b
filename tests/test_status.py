"""`inchannel status`: what is unhealthy, and the exit code health checks rely on."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from monitor import notifications, triage
from monitor.cli import main
from monitor.clock import FakeClock
from monitor.domain import ActionStatus, Author, CaseState, Mention, Platform
from monitor.pipeline import dispatch_outbox, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, SourceError
from monitor.status import COPIED_NOT_STARTED, NOT_STARTED, collect
from monitor.store.db import transaction
from tests.conftest import REPO, RuntimeFactory, mention
from tests.fakes import CrashAfterPost, ScriptedResponder
from tests.test_dispatch_notify import closed_port


def test_healthy_after_a_clean_cycle(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    status = collect(rt)
    assert status.healthy
    assert [s.name for s in status.sources] == ["feed"]
    assert status.sources[0].items_total == 1


def polled_each_minute(rt: Runtime, minutes: int) -> None:
    """The feed polled as the daemon would for ``minutes`` minutes: each minute, the
    retry backoff skipping some. Failing time is time spent being polled and failing."""
    for minute in range(minutes + 1):
        rt.clock.advance(minutes=1 if minute else 0)  # type: ignore[attr-defined]
        poll_source(rt, "feed")


def test_failing_source_and_backlog_are_unhealthy(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    broken = [{"name": "feed", "type": "replay", "path": str(tmp_path / "missing.jsonl")}]
    rt = make_runtime(sources=broken)
    polled_each_minute(rt, 120)
    status = collect(rt)
    assert not status.healthy
    # Failing for alerts.source_failing_minutes (15), as the "source failing" alert says.
    assert status.problems[0].startswith("source feed: failing for 120 min, 9 failed polls: cannot")


class Unavailable:
    """A source whose API answers 503 with its whole HTML page, as a proxy does."""

    name = "feed"

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("x temporarily failed: 503 Service Unavailable\n" + "<p>down</p>\n" * 200)


def test_a_failing_source_problem_quotes_one_bounded_line(make_runtime: RuntimeFactory) -> None:
    # The whole body used to be printed (up to 2,000 characters over many lines) in the
    # one-line result a monitoring agent shows for the health check.
    rt = make_runtime()
    rt.sources["feed"] = Unavailable()
    polled_each_minute(rt, 120)
    (problem,) = collect(rt).problems
    prefix = "source feed: failing for 120 min, 9 failed polls: x temporarily failed: 503 Service"
    assert problem.startswith(prefix + " Unavailable <p>down</p> <p>down</p>")
    assert "\n" not in problem
    assert len(problem) == len("source feed: failing for 120 min, 9 failed polls: ") + 300
    assert problem.endswith("…")
    assert len(collect(rt).sources[0].last_error or "") == 2000  # kept whole


def test_mentions_nobody_decides_are_unhealthy(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1), mention(2)])
    poll_source(rt, "feed")  # stored; the processing job fails on every run from here on
    for _ in range(10):
        rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
        poll_source(rt, "feed")  # the source is polled on: only processing is stuck
    assert collect(rt).problems == []
    rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
    poll_source(rt, "feed")
    assert collect(rt).problems == [
        "processing: 2 messages not decided, the oldest stored 11 min ago"
    ]
    process_pending(rt)
    assert collect(rt).healthy


def test_outbox_backlog_is_unhealthy(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme the site is down")])
    poll_source(rt, "feed")
    process_pending(rt)  # queued, never dispatched
    rt.clock.advance(minutes=16)  # type: ignore[attr-defined]
    poll_source(rt, "feed")  # the source is still polled: only the outbox is late
    assert collect(rt).problems == ["outbox: an action has been due for 16 min"]


@pytest.mark.parametrize(
    ("due_minutes", "healthy_at", "unhealthy_at"), [(15, 14, 15), (30, 29, 30)]
)
def test_the_backlog_threshold_is_the_alerts_one(
    make_runtime: RuntimeFactory, due_minutes: int, healthy_at: int, unhealthy_at: int
) -> None:
    # alerts.outbox_due_minutes, reached (>=) as for the "outbox backing up" alert.
    rt = make_runtime(
        [mention(1, "@acme the site is down")], alerts={"outbox_due_minutes": due_minutes}
    )
    poll_source(rt, "feed")
    process_pending(rt)  # queued, never dispatched
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    start = clock.now()
    clock.set(start + timedelta(minutes=healthy_at))
    poll_source(rt, "feed")
    assert collect(rt).problems == []
    clock.set(start + timedelta(minutes=unhealthy_at))
    poll_source(rt, "feed")
    assert collect(rt).problems == [f"outbox: an action has been due for {unhealthy_at} min"]


def test_no_backlog_check_when_the_alerts_one_is_off(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme the site is down")], alerts={"outbox_due_minutes": 0})
    poll_source(rt, "feed")
    process_pending(rt)
    rt.clock.advance(hours=5)  # type: ignore[attr-defined]
    poll_source(rt, "feed")
    assert collect(rt).problems == []


def test_status_command_exit_codes(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    path = config / "inchannel.yaml"
    text = path.read_text(encoding="utf-8").replace("sqlite:///var/", f"sqlite:///{tmp_path}/")
    path.write_text(text, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(path)]).exit_code == 0
    assert runner.invoke(main, ["run", "--once", "--config", str(path)]).exit_code == 0
    result = runner.invoke(main, ["status", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["healthy"] is True
    # The configured source, not the @rules row --once writes as the daemon does.
    (source,) = (s for s in document["sources"] if s["configured"])
    assert source["lease_owner"] is None  # --once released its lease
    assert 0 <= source["cursor_lag_seconds"] < 600  # the run just read it all
    assert document["outbox"]["sent"] > 0
    table = runner.invoke(main, ["status", "--config", str(path)], env={"COLUMNS": "200"})
    assert "cursor lag" in table.output


def test_status_json_has_the_x_budget_the_text_prints(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    x = {"user_id": "1", "budget": {"reads_per_day": 1234, "writes_per_day": 56}}
    rt = make_runtime(x=x)
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()
    text = runner.invoke(main, ["status", "--config", str(config)]).output
    assert "0/1234 posts read, 0/56 posts created" in text
    result = runner.invoke(main, ["status", "--json", "--config", str(config)])
    document = json.loads(result.output)
    assert document["x_budget"] == {"reads_per_day": 1234, "writes_per_day": 56}


def test_cursor_lag_is_how_long_a_mention_can_have_waited_unread(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [mention(n, created_at=f"2026-11-20T10:0{n}:00Z") for n in range(7)]
    rt = make_runtime(rows)  # the feed's pages hold 5
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.fromisoformat("2026-11-20T10:30:00+00:00"))
    assert collect(rt).sources[0].cursor_lag_seconds is None  # never polled
    assert poll_source(rt, "feed")  # a page read, another one waiting
    assert collect(rt).sources[0].cursor_lag_seconds == 26 * 60  # the newest read: 10:04
    clock.advance(minutes=1)
    assert not poll_source(rt, "feed")  # caught up
    clock.advance(minutes=5)
    assert collect(rt).sources[0].cursor_lag_seconds == 5 * 60


class NewestFirst:
    """A source read newest first, as X's search and Reddit's listings are: each poll
    reads the newest ``page`` mentions not read yet; the older ones wait for a later
    poll (a rate limit's reset), the sweep unfinished."""

    name = "feed"

    def __init__(self, page: int) -> None:
        self.page = page
        self.unread: list[Mention] = []  # oldest first

    def post(self, at: datetime) -> None:
        n = len(self.unread) + 1
        who = Author(id=f"a{at:%H%M}{n}", handle=f"customer{n}")
        self.unread.append(Mention(Platform.X, f"m{at:%H%M}{n}", who, "@acme hi", at, f"c{n}"))

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        page, self.unread = self.unread[-self.page :], self.unread[: -self.page]
        return PollResult(page, cursor, caught_up=not self.unread, newest_first=True)


def test_cursor_lag_of_a_newest_first_sweep_counts_from_its_last_complete_read(
    make_runtime: RuntimeFactory,
) -> None:
    """The newest mention read says nothing of the older ones a newest-first sweep has
    not reached: they have waited since the last poll that read all there was. Status
    showed 1 min for mentions unread for 30."""
    rt = make_runtime()
    source = NewestFirst(page=2)
    rt.sources["feed"] = source
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.fromisoformat("2026-11-20T10:00:00+00:00"))
    assert not poll_source(rt, "feed")  # read all there was (nothing) at 10:00
    start = clock.now()
    for minute in (1, 10, 28, 29):
        source.post(start + timedelta(minutes=minute))
    clock.set(start + timedelta(minutes=30))
    poll_source(rt, "feed")  # 10:28 and 10:29 read; 10:01 and 10:10 wait
    assert collect(rt).sources[0].cursor_lag_seconds == 30 * 60
    clock.advance(minutes=1)
    poll_source(rt, "feed")  # the sweep reaches 10:00: caught up, as before
    assert collect(rt).sources[0].cursor_lag_seconds == 0


def test_cursor_lag_of_an_oldest_first_backlog_counts_from_the_newest_mention_read(
    make_runtime: RuntimeFactory,
) -> None:
    """The replay source (the demo, --dry-run) pages oldest first: the mentions it has
    not reached are newer than the newest one read. Once it had caught up, status
    counted a later backlog from that catch-up, as for a newest-first sweep: 30 min
    for mentions posted at most 5 min before."""
    rt = make_runtime([mention(0, created_at="2026-11-20T10:00:00Z")])  # pages of 5
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.fromisoformat("2026-11-20T10:00:00+00:00"))
    assert not poll_source(rt, "feed")  # read all there was at 10:00
    later = [mention(n, created_at=f"2026-11-20T10:{20 + n}:00Z") for n in range(1, 10)]
    feed = Path(str(rt.settings.source("feed").path))
    with feed.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in later)
    clock.set(datetime.fromisoformat("2026-11-20T10:30:00+00:00"))
    assert poll_source(rt, "feed")  # 10:21 to 10:25 read; 10:26 to 10:29 wait
    assert collect(rt).sources[0].details["newest_first"] is False  # the replay says
    assert collect(rt).sources[0].cursor_lag_seconds == 5 * 60
    clock.advance(minutes=1)
    assert not poll_source(rt, "feed")  # caught up
    assert collect(rt).sources[0].cursor_lag_seconds == 0


def test_a_reply_a_crashed_worker_left_sending_is_due_once_its_claim_is_stale(
    make_runtime: RuntimeFactory,
) -> None:
    """A `sending` row older than the dispatcher's stale-claim bound is work nobody is
    doing until a dispatcher recovers it: it was neither backlog nor due, and a dead
    dispatch job with its replies claimed left status healthy."""
    rt = make_runtime([mention(1, "@acme the site is down")])
    responder = ScriptedResponder(crash_after_post=True)
    rt.responders[Platform.X] = responder
    poll_source(rt, "feed")
    process_pending(rt)
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    claimed = clock.now()
    with pytest.raises(CrashAfterPost):
        dispatch_outbox(rt)
    status = collect(rt)  # a fresh claim is a send in progress
    assert (status.outbox["sending"], status.outbox_backlog, status.oldest_due_at) == (1, 0, None)
    stale = claimed + timedelta(seconds=rt.settings.workers.stale_claim_seconds)
    clock.set(stale + timedelta(minutes=16))
    poll_source(rt, "feed")  # the source is still polled: only the outbox is late
    status = collect(rt)
    assert (status.outbox_backlog, status.outbox_held, status.oldest_due_at) == (1, 0, stale)
    assert status.problems == ["outbox: an action has been due for 16 min"]


@pytest.mark.parametrize("garbled", ["yesterday\x1b[2J", "2026-11-20T09:00:00", 42])
def test_a_garbled_failing_since_is_unknown_not_a_crash(
    make_runtime: RuntimeFactory, garbled: object
) -> None:
    """``failing_since`` is read back from the database like the cursor time: a value
    no release wrote (a hand edit, a restore gone wrong) crashed `inchannel status` and
    every run of the health job, the one that would have said something is wrong."""
    from monitor.health_alerts import check_health
    from monitor.store.db import transaction
    from monitor.store.models import SourceState

    rt = make_runtime(alerts={"source_failing_minutes": 15})
    rt.sources["feed"] = Unavailable()
    poll_source(rt, "feed")
    with transaction(rt.sessions) as session:
        row = session.get(SourceState, "feed")
        assert row is not None
        row.details = {**(row.details or {}), "failing_since": garbled}
    rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
    check_health(rt)  # raised ValueError (TypeError without a zone)
    (problem,) = collect(rt).problems
    assert problem.startswith(
        "source feed: failing since an unknown time (unreadable failing_since), "
        "1 failed poll: x temporarily failed: 503 Service Unavailable <p>down</p>"
    )


def test_a_database_no_daemon_ever_ran_on_is_not_healthy(make_runtime: RuntimeFactory) -> None:
    # A fresh database (or a daemon that never started: wrong config, crash at start)
    # said "healthy", exit 0, to the health check meant to catch exactly that.
    from monitor.health_alerts import check_health

    rt = make_runtime([mention(1)])
    assert collect(rt).problems == [NOT_STARTED]
    check_health(rt)  # a daemon started: its sources have the not-polled time to poll
    assert collect(rt).healthy
    for _ in range(8):  # the health job runs each minute; no poll job does
        rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
        check_health(rt)
    assert collect(rt).problems == ["source feed: never polled; the daemon has been up for 8 min"]
    poll_source(rt, "feed")
    assert collect(rt).healthy


def test_status_command_on_a_database_never_run(tmp_path: Path) -> None:
    path = REPO / "config" / "inchannel.yaml"
    config = tmp_path / "config"
    shutil.copytree(path.parent, config)
    copy = config / "inchannel.yaml"
    text = copy.read_text(encoding="utf-8").replace("sqlite:///../var/", f"sqlite:///{tmp_path}/")
    copy.write_text(text, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(copy)]).exit_code == 0
    result = runner.invoke(main, ["status", "--json", "--config", str(copy)])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert (document["healthy"], document["problems"]) == (False, [NOT_STARTED])


def test_status_after_db_copy_is_not_started_until_a_worker_runs(
    demo: Path, tmp_path: Path
) -> None:
    # The copy carries the old database's health checks: a minute after `db copy`,
    # status on the new database said healthy, exit 0, with no worker running there.
    runner = CliRunner()
    target = f"sqlite:///{tmp_path / 'moved.db'}"
    copied = runner.invoke(main, ["db", "copy", "--to", target, "--config", str(demo)])
    assert copied.exit_code == 0, copied.output
    text = demo.read_text(encoding="utf-8")
    demo.write_text(text.replace(f"sqlite:///{tmp_path}/inchannel.db", target), "utf-8")
    result = runner.invoke(main, ["status", "--json", "--config", str(demo)])
    assert result.exit_code == 1, result.output
    document = json.loads(result.output)
    assert document["problems"] == [COPIED_NOT_STARTED]
    assert runner.invoke(main, ["run", "--once", "--config", str(demo)]).exit_code == 0
    result = runner.invoke(main, ["status", "--config", str(demo)])
    assert result.exit_code == 0, result.output


def test_each_problem_is_one_line_however_narrow_the_output(tmp_path: Path) -> None:
    # A monitoring agent reads the output through a pipe, which rich takes as 80
    # columns: the problem was wrapped onto a second line, cut mid-sentence.
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    copy = config / "inchannel.yaml"
    text = copy.read_text(encoding="utf-8").replace("sqlite:///../var/", f"sqlite:///{tmp_path}/")
    copy.write_text(text, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(copy)]).exit_code == 0
    result = runner.invoke(main, ["status", "--config", str(copy)], env={"COLUMNS": "80"})
    assert result.exit_code == 1, result.output
    assert f"unhealthy: {NOT_STARTED}" in result.output.splitlines()


class Hostile:
    """A source whose API's error body drives a terminal: it clears the screen, sets
    the window title, and reorders what follows."""

    name = "feed"

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("x failed: \x1b[2J\x1b]0;pwned\x07 body\nnext\x9b31m \u202eevil")


def test_the_status_table_prints_a_stored_error_inert(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # An operator runs `inchannel status` in a terminal: the last error (an API's body,
    # not ours) was printed raw, escape sequences and line breaks included.
    rt = make_runtime()
    rt.sources["feed"] = Hostile()
    polled_each_minute(rt, 20)
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--config", str(config)], env={"COLUMNS": "400"})
    assert "x failed:" in result.output
    assert not any(ch in result.output for ch in "\x1b\x07\x9b\u202e")
    (row,) = [line for line in result.output.splitlines() if "x failed:" in line]
    assert "body next" in row  # the error's lines on the table's one row
    # The problem (a health check's one line, an alert's text) quotes it inert too.
    (problem,) = collect(rt).problems
    assert problem.startswith("source feed: failing for 20 min, ")
    assert not any(ch in problem for ch in "\x1b\x07\x9b\u202e")


def test_status_json_keys_do_not_depend_on_the_data(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A script reading `doc["outbox"]["pending"]` or `doc["cases"]["awaiting_human"]`
    # failed with a KeyError whenever there were none: only statuses present were listed.
    rt = make_runtime()
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--json", "--config", str(config)])
    document = json.loads(result.output)
    assert document["outbox"] == {status.value: 0 for status in ActionStatus}
    assert document["cases"] == {state.value: 0 for state in CaseState}
    # The keys docs/operations.md lists: scripts read them, a rename must be deliberate.
    assert set(document) == {
        "healthy", "problems", "at", "sources", "outbox", "oldest_due_at", "cases",
        "sla_breaches_open", "usage_today", "alerts", "health_checked_at",
        "health_running_since", "x_budget", "unprocessed", "oldest_unprocessed_at",
        "outbox_backlog", "outbox_held", "copied_not_started",
    }  # fmt: skip
    assert set(document["sources"][0]) == {
        "name", "configured", "last_poll_at", "last_success_at", "consecutive_failures",
        "last_error", "rate_limit_reset_at", "next_poll_at", "items_total", "lease_owner",
        "cursor_lag_seconds", "details",
    }  # fmt: skip
    # The table still lists only what there is.
    text = runner.invoke(main, ["status", "--config", str(config)], env={"COLUMNS": "200"})
    assert "Outbox: empty; 0 backlog, 0 held for a reset;" in text.output
    assert "Cases: none;" in text.output


def test_the_sources_table_is_whole_through_a_pipe(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A monitoring agent or cron mail reads the table through a pipe, which rich took
    # as 80 columns: the source's name and its error were cut to "sour…".
    name = "reddit-search-" + "s" * 50
    # A short path: the error column keeps 120 characters, and pytest's own temporary
    # folders under xdist made the error longer than that.
    missing = Path("/nonexistent/a-feed-file-that-is-not-there.jsonl")
    rt = make_runtime(sources=[{"name": name, "type": "replay", "path": str(missing)}])
    poll_source(rt, name)
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    result = CliRunner().invoke(main, ["status", "--config", str(config)], env={"COLUMNS": "80"})
    (row,) = [line for line in result.output.splitlines() if line.startswith(f"│ {name} ")]
    (error,) = [s.last_error for s in collect(rt).sources]
    assert error is not None
    assert str(missing) in error
    assert error in row


def test_a_dead_notification_is_unhealthy_until_retried(make_runtime: RuntimeFactory) -> None:
    # A channel down for dispatch.notify_retry_hours: the escalation or alert is dead and
    # nobody was told, yet status said "healthy" (exit 0) with only `dead 1` in a count.
    url = f"json://127.0.0.1:{closed_port()}/hooks/x"
    rt = make_runtime(channels={"ops": {"url": url}}, dispatch={"notify_retry_hours": 1})
    with transaction(rt.sessions) as session:
        notifications.enqueue(
            session, case=None, text="alert", key="k1", actor="system", now=rt.clock.now(),
            channels=["ops"],
        )  # fmt: skip
    dispatch_outbox(rt)
    poll_source(rt, "feed")
    assert collect(rt).problems == []  # failing, backing off: not dead yet
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    poll_source(rt, "feed")
    status = collect(rt)
    assert status.outbox["dead"] == 1
    (problem,) = status.problems
    assert problem.startswith("notifications: 1 dead in the last 1 h, the last (action 1) 0 min")
    assert "channel 'ops' did not accept the notification" in problem
    assert problem.endswith("retry it: inchannel cases retry 1")
    triage.retry_action(rt, 1, user="lead")  # a person sends it again: not dead any more
    assert collect(rt).problems == []


def test_a_notification_failing_for_outbox_due_minutes_is_unhealthy(
    make_runtime: RuntimeFactory,
) -> None:
    # A webhook down (a revoked token): the notification backs off, its next attempt is
    # always ahead, so it was never overdue, and status said "healthy" (exit 0) for all of
    # dispatch.notify_retry_hours; the alert about it cannot get through the same channel.
    secret = "T0AAA/B0BBB/s3cr3tWebhookToken"
    url = f"json://127.0.0.1:{closed_port()}/hooks/{secret}"
    rt = make_runtime(channels={"ops": {"url": url}}, alerts={"outbox_due_minutes": 15})
    for key in ("k1", "k2"):
        with transaction(rt.sessions) as session:
            notifications.enqueue(
                session, case=None, text="alert", key=key, actor="system",
                now=rt.clock.now(), channels=["ops"],
            )  # fmt: skip
    for _ in range(14):
        dispatch_outbox(rt)
        rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
    poll_source(rt, "feed")
    assert collect(rt).problems == []  # 14 min: a short outage is the backoff's to ride out
    rt.clock.advance(minutes=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    poll_source(rt, "feed")
    status = collect(rt)
    assert status.outbox["failed"] == 2
    (problem,) = status.problems
    assert re.fullmatch(
        r"notifications to channel 'ops': 2 failing, the oldest undelivered for 16 min; "
        r"the last error \(action [12]\): channel 'ops' did not accept the notification",
        problem,
    )
    assert secret not in problem  # a channel's URL is never quoted
    assert "127.0.0.1" not in problem
    off = make_runtime(channels={"ops": {"url": url}}, alerts={"outbox_due_minutes": 0})
    off.clock.advance(minutes=16)  # type: ignore[attr-defined]
    poll_source(off, "feed")
    assert collect(off).problems == []  # 0 turns the outbox checks off, this one with them


def test_a_retried_notification_is_failing_from_its_retry(make_runtime: RuntimeFactory) -> None:
    # A dead notification a person retried gets a fresh start, as dispatch times it: it
    # is not "undelivered for 60 min" the moment its first fresh attempt fails.
    url = f"json://127.0.0.1:{closed_port()}/hooks/x"
    rt = make_runtime(channels={"ops": {"url": url}}, dispatch={"notify_retry_hours": 1})
    with transaction(rt.sessions) as session:
        notifications.enqueue(
            session, case=None, text="alert", key="k1", actor="system", now=rt.clock.now(),
            channels=["ops"],
        )  # fmt: skip
    dispatch_outbox(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)  # dead
    triage.retry_action(rt, 1, user="lead")
    dispatch_outbox(rt)  # failing again
    poll_source(rt, "feed")
    assert collect(rt).problems == []
    rt.clock.advance(minutes=15)  # type: ignore[attr-defined]
    poll_source(rt, "feed")
    (problem,) = collect(rt).problems
    assert "1 failing, the oldest undelivered for 15 min; the last error (action 1)" in problem


def test_stored_times_without_a_zone_are_unknown_not_a_crash(
    make_runtime: RuntimeFactory,
) -> None:
    # The read position and a budget stop's end are read back like failing_since: a
    # value without its zone (a hand edit, a bad restore) could not be compared with
    # now, and status, every health check and the source's next poll raised TypeError.
    from monitor.health_alerts import check_health
    from monitor.store.models import SourceState

    rt = make_runtime([mention(1)], alerts={"source_failing_minutes": 15})
    poll_source(rt, "feed")
    naive = "2026-11-20T09:00:00"
    with transaction(rt.sessions) as session:
        row = session.get(SourceState, "feed")
        assert row is not None
        stop = {"until": naive}
        row.details = {
            **(row.details or {}), "caught_up": False, "read_through": naive,
            "cursor_at": naive, "budget_stop": stop, "failing_since": "2026-11-20T09:00:00+00:00",
        }  # fmt: skip
        row.consecutive_failures = 1
    rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
    check_health(rt)
    status = collect(rt)
    assert status.sources[0].cursor_lag_seconds is not None
    poll_source(rt, "feed")
    assert collect(rt).healthy


def test_a_failing_jobs_problem_quotes_its_error_inert(make_runtime: RuntimeFactory) -> None:
    # A job's error is the first line of the driver's message, which can quote a stored
    # value (PostgreSQL's `invalid input syntax for type ...: "..."`): the problem, read
    # in a terminal or a monitoring agent's one-line result, carried it raw, escape
    # sequences and bidi controls included, unlike a source's.
    from monitor.daemon import guarded

    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")

    def failing() -> bool:
        raise RuntimeError("bad value \x1b[2J\x1b]0;pwned\x07 \u202eevil")

    guarded("process", rt, failing, recorded_every=5)()
    (problem,) = collect(rt).problems
    assert problem == (
        "job process: 1 failed run in a row, the last 0 min ago: "
        "RuntimeError: bad value [2J]0;pwned evil"
    )


class Literal:
    """A source whose API's error body holds what rich reads as markup: emoji codes,
    a tag, a trailing backslash."""

    name = "feed"

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("x failed :warning: [bold]b[/bold] C:\\temp\\")


def test_the_status_text_prints_a_stored_error_as_it_is(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # rich turned ":warning:" into an emoji and showed a trailing backslash twice, in
    # the table and in the problem: the operator read an error the platform never sent.
    from monitor.rules.reload import RULES_STATE
    from monitor.store.queries import source_state

    rt = make_runtime()
    rt.sources["feed"] = Literal()
    polled_each_minute(rt, 20)
    error = "x failed :warning: [bold]b[/bold] C:\\temp\\"
    with transaction(rt.sessions) as session:  # a problem that quotes it whatever the time
        source_state(session, RULES_STATE).last_error = error
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["status", "--config", str(config)], env={"COLUMNS": "400"})
    (row,) = [line for line in result.output.splitlines() if line.startswith("│ feed ")]
    assert f"│ {error} " in row
    problems = [line for line in result.output.splitlines() if line.startswith("unhealthy:")]
    assert f"unhealthy: rules: last reload failed: {error}" in problems


def test_an_expired_lease_names_no_worker(make_runtime: RuntimeFactory) -> None:
    # A worker killed (SIGKILL, a lost host) leaves its id on the sources it leased:
    # status went on naming it as the source's worker long after its lease expired,
    # when nobody held the source (and the operator looked for it on that host).
    rt = make_runtime([mention(1)])
    poll_source(rt, "feed")
    assert collect(rt).sources[0].lease_owner == rt.worker_id
    rt.clock.advance(seconds=121)  # type: ignore[attr-defined]
    assert collect(rt).sources[0].lease_owner is None


def test_the_verdict_is_the_last_line_and_a_database_error_prints_no_report(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A check that reads the last line read the X usage instead of the verdict, and a
    database that failed while status read the X usage left the whole report and
    "healthy" on stdout beside the error (docs: nothing on stdout, exit 1)."""
    rt = make_runtime(x={"user_id": "1", "budget": {"reads_per_day": 1234}})
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    runner = CliRunner()
    lines = runner.invoke(main, ["status", "--config", str(config)]).stdout.splitlines()
    verdict = next(n for n, line in enumerate(lines) if line.startswith("unhealthy:"))
    assert any(line.startswith("x usage ") for line in lines[:verdict])
    assert all(line.startswith("unhealthy:") for line in lines[verdict:])
    with transaction(rt.sessions) as session:  # only the X lines read the events
        session.execute(text("DROP TABLE events"))
    result = runner.invoke(main, ["status", "--config", str(config)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: the database cannot be used: ")


class Revoked:
    """A source whose credentials were revoked: a permanent error stops it."""

    name = "feed"

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("HTTP 401: Unauthorized", permanent=True)


def test_a_stopped_sources_next_poll_says_stopped(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The stop parks the next poll ten years ahead: the table said "in 315360000s", a
    # poll the operator could wait for, where no poll comes until a worker starts again.
    rt = make_runtime()
    rt.sources["feed"] = Revoked()
    poll_source(rt, "feed")
    config = tmp_path / "inchannel.yaml"
    settings = rt.settings.model_dump(mode="json", exclude_unset=True)
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    result = CliRunner().invoke(main, ["status", "--config", str(config)])
    (row,) = [line for line in result.output.splitlines() if line.startswith("│ feed ")]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[6] == "stopped"
