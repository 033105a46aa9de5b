"""/metrics: counters from the pipeline's chokepoints, gauges from the database, and who
may scrape. Scraped through the real dashboard app after driving real cycles."""

from __future__ import annotations

import logging
import re
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.testclient import TestClient

from monitor import triage
from monitor.domain import Platform
from monitor.ingest import take_lease
from monitor.metrics import CannotServeMetrics, Metrics, cannot_bind_reason, serve_metrics
from monitor.pipeline import check_sla, dispatch_outbox, poll_source, process_pending, run_cycle
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, SourceError
from monitor.sources.reddit_failure import FailureKind
from monitor.sources.x_settings import (
    POLL_MARGIN_SECONDS,
    XMentionsSourceConfig,
    XSettings,
    longest_poll_seconds,
)
from monitor.store.db import transaction
from monitor.store.models import SourceState
from monitor.web.app import create_app
from tests.conftest import REPO, RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.fakes import CrashAfterPost, ScriptedResponder, permanent, temporary
from tests.reddit_fake import listing, reddit_section, serve_token
from tests.webkit import TEAMS, sample_rows
from tests.xapi import MENTIONS, x_runtime

TOKEN = "0123456789abcdef-metrics"
LOCAL = ("127.0.0.1", 40000)
LOCAL_URL = "http://127.0.0.1:8000"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(rt: Runtime, **headers: str) -> Samples:
    # Addressed as a scraper on the dashboard's host does (see test_a_local_browser_...).
    client = TestClient(create_app(rt), client=LOCAL, base_url=LOCAL_URL)
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(answer.text)


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_cycle_shows_in_counters_and_gauges(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(sample_rows(), teams=TEAMS)
    run_cycle(rt)
    samples = scrape(rt)
    rows = len(sample_rows())
    assert value(samples, "inchannel_mentions_ingested_total", source="feed") == rows
    pages = -(-rows // 5)  # the test feed's page size is 5
    polls = "inchannel_poll_duration_seconds_count"
    assert value(samples, polls, source="feed", outcome="ok") == pages
    assert value(samples, polls, source="feed", outcome="failed") == 0
    decided = {
        kind: value(samples, "inchannel_decisions_total", type=kind)
        for kind in ("reply", "draft", "escalate", "ignore", "none")
    }
    assert sum(decided.values()) >= 30  # a message that replies and escalates counts twice
    assert decided["reply"] > 0
    assert decided["escalate"] > 0
    assert decided["ignore"] > 0
    sent = value(samples, "inchannel_actions_total", kind="reply", outcome="sent")
    assert sent == value(samples, "inchannel_outbox_actions", status="sent") - value(
        samples, "inchannel_actions_total", kind="notify", outcome="sent"
    )
    assert value(samples, "inchannel_outbox_actions", status="pending") == 0
    assert value(samples, "inchannel_cases", state="awaiting_human") > 0
    assert value(samples, "inchannel_source_consecutive_failures", source="feed") == 0
    failing = ("inchannel_source_failing_since_timestamp_seconds", (("source", "feed"),))
    assert failing not in samples  # absent while the source polls fine
    assert value(samples, "inchannel_source_last_success_timestamp_seconds", source="feed") == (
        rt.clock.now().timestamp()
    )
    assert value(samples, "inchannel_database_up") == 1
    assert value(samples, "inchannel_healthy") == 1


def test_source_errors_by_kind_and_failure_gauge(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    broken = [{"name": "feed", "type": "replay", "path": str(tmp_path / "missing.jsonl")}]
    rt = make_runtime(sources=broken)
    first_failure = rt.clock.now()
    for _ in range(20):  # polled each minute, as the daemon does; the backoff skips some
        poll_source(rt, "feed")
        rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
    samples = scrape(rt)
    assert value(samples, "inchannel_source_errors_total", source="feed", kind="temporary") == 6
    assert value(samples, "inchannel_source_consecutive_failures", source="feed") == 6
    # A failed poll is timed too (a timeout is the slow end), apart from the successes.
    polls = "inchannel_poll_duration_seconds_count"
    assert value(samples, polls, source="feed", outcome="failed") == 6
    assert value(samples, polls, source="feed", outcome="ok") == 0
    # What status and the "source failing" alert judge by: time since this moment.
    failing_since = "inchannel_source_failing_since_timestamp_seconds"
    assert value(samples, failing_since, source="feed") == first_failure.timestamp()
    assert value(samples, "inchannel_healthy") == 0
    # The daemon down for a day: not polled is not failing, as status and the alert
    # judge it; the gauge kept yesterday's start, a "failing for a day" to Prometheus.
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    assert (failing_since, (("source", "feed"),)) not in scrape(rt)


def test_dead_actions_and_sla_breaches(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme the app is down")], teams=TEAMS)
    responder = ScriptedResponder()
    responder.fail_next(permanent())
    rt.responders[Platform.X] = responder
    poll_source(rt, "feed")
    process_pending(rt)
    dispatch_outbox(rt)  # the reply dies: the case goes to a human with an SLA clock
    rt.clock.advance(hours=3)  # type: ignore[attr-defined]
    check_sla(rt)
    samples = scrape(rt)
    assert value(samples, "inchannel_actions_total", kind="reply", outcome="dead") == 1
    assert value(samples, "inchannel_sla_alerts_total", kind="breached") == 1
    assert value(samples, "inchannel_sla_breached_open_cases") == 1


def test_an_sla_alert_is_counted_once_when_its_first_check_is_rolled_back(
    make_runtime: RuntimeFactory,
) -> None:
    # The database refuses the alert's notice at commit (a deadlock, a locked SQLite
    # file): nothing was raised, the next check raises it, and it counts once.
    teams = [{**team, "channels": ["ops"]} for team in TEAMS]
    channels = {"ops": {"url": "json://localhost"}}
    rt = make_runtime([mention(1, "@acme my order is late")], teams=teams, channels=channels)
    poll_source(rt, "feed")
    process_pending(rt)  # escalated to care with an SLA clock; nothing is dispatched
    rt.clock.advance(hours=3)  # type: ignore[attr-defined]
    with refusing_sla_notices(rt), pytest.raises(DBAPIError):
        check_sla(rt)
    assert value(scrape(rt), "inchannel_sla_breached_open_cases") == 0
    check_sla(rt)
    samples = scrape(rt)
    assert value(samples, "inchannel_sla_breached_open_cases") == 1
    assert value(samples, "inchannel_sla_alerts_total", kind="breached") == 1


@contextmanager
def refusing_sla_notices(rt: Runtime) -> Iterator[None]:
    """A trigger that makes the database refuse SLA notices, failing the commit."""
    when = "NEW.idempotency_key LIKE 'notify:sla-%'"
    if rt.engine.dialect.name == "sqlite":
        create = [
            f"CREATE TRIGGER refuse_sla BEFORE INSERT ON actions WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ]
        drop = ["DROP TRIGGER refuse_sla"]
    else:
        create = [
            "CREATE FUNCTION refuse_sla() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            f"CREATE TRIGGER refuse_sla BEFORE INSERT ON actions FOR EACH ROW WHEN ({when}) "
            "EXECUTE FUNCTION refuse_sla()",
        ]
        drop = ["DROP TRIGGER refuse_sla ON actions", "DROP FUNCTION refuse_sla()"]
    with rt.engine.begin() as connection:
        for statement in create:
            connection.execute(text(statement))
    try:
        yield
    finally:
        with rt.engine.begin() as connection:
            for statement in drop:
                connection.execute(text(statement))


def test_counters_are_per_runtime(make_runtime: RuntimeFactory) -> None:
    first = make_runtime([mention(1)])
    poll_source(first, "feed")
    second = make_runtime([mention(2)])
    assert value(scrape(second), "inchannel_mentions_ingested_total", source="feed") == 0
    assert isinstance(second.metrics, Metrics)
    assert second.metrics.registry is not first.metrics.registry


def test_token_is_required_when_configured(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(web={"metrics_token": TOKEN})
    client = TestClient(create_app(rt), client=LOCAL)
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused.text == "metrics: bearer token required\n"
    assert client.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 401
    assert scrape(rt, authorization=f"Bearer {TOKEN}")[("inchannel_database_up", ())] == 1


def test_without_a_token_only_local_clients_are_answered(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    remote = TestClient(create_app(rt), client=("203.0.113.7", 40000))
    answer = remote.get("/metrics")
    assert answer.status_code == 403
    assert answer.text == (
        "metrics: only local clients may read /metrics; set web.metrics_token for remote scrapers\n"
    )
    assert scrape(rt)[("inchannel_database_up", ())] == 1


def test_a_local_browser_sent_to_the_dashboard_by_another_host_name_is_refused(
    make_runtime: RuntimeFactory,
) -> None:
    # DNS rebinding: a page on evil.example:8000, its name re-pointed at 127.0.0.1, runs
    # in the operator's browser on the dashboard's host. Its requests come from the
    # loopback interface and name evil.example: /metrics answered them, so any web page
    # the operator opened could read the counts. A scraper on this host names the
    # dashboard by its address, localhost or web.public_url's host.
    rt = make_runtime(web={"public_url": "https://care.example.com"})
    app = create_app(rt)
    for base in ("http://evil.example:8000", "http://127.0.0.1.evil.example:8000"):
        refused = TestClient(app, client=LOCAL, base_url=base).get("/metrics")
        assert refused.status_code == 403
        assert "web.metrics_token" in refused.text
    for base in (
        "http://127.0.0.1:8000",
        "http://[::1]:8000",
        "http://localhost:8000",
        "http://LocalHost:8000",
        "https://care.example.com",
    ):
        answer = TestClient(app, client=LOCAL, base_url=base).get("/metrics")
        assert answer.status_code == 200, base


def test_database_down_still_answers(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    rt.metrics.watch(rt)
    rt.engine.dispose()
    rt.sessions.configure(bind=_unreachable())
    samples = scrape(rt)
    assert samples[("inchannel_database_up", ())] == 0


def test_a_database_outage_logs_one_traceback_not_one_per_scrape(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Prometheus scrapes every 15 s: a ten-minute outage wrote 40 tracebacks.
    rt = make_runtime()
    rt.metrics.watch(rt)
    working = rt.sessions.kw["bind"]
    rt.sessions.configure(bind=_unreachable())
    with caplog.at_level(logging.INFO, logger="inchannel.metrics"):
        for _ in range(3):
            assert scrape(rt)[("inchannel_database_up", ())] == 0
        rt.sessions.configure(bind=working)
        assert scrape(rt)[("inchannel_database_up", ())] == 1
    records = [r for r in caplog.records if r.name == "inchannel.metrics"]
    assert [r.exc_info is not None for r in records] == [True, False, False, False]
    assert "still failing" in records[1].getMessage()
    assert "can be read again" in records[3].getMessage()


def _unreachable() -> object:
    from sqlalchemy import create_engine

    return create_engine("sqlite:////nonexistent-dir/never.db")


def test_the_standalone_listener_serves_a_workers_metrics_over_http(
    make_runtime: RuntimeFactory,
) -> None:
    # metrics.port: what a worker without the dashboard exposes, read over a real socket.
    rt = make_runtime(sample_rows(), teams=TEAMS, metrics={"port": _free_port()})
    run_cycle(rt)
    server = serve_metrics(rt)
    assert server is not None
    try:
        url = f"http://127.0.0.1:{rt.settings.metrics.port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            text = answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    samples = parse(text)
    rows = len(sample_rows())
    assert value(samples, "inchannel_mentions_ingested_total", source="feed") == rows
    assert value(samples, "inchannel_healthy") == 1
    assert value(samples, "inchannel_database_up") == 1


def test_the_standalone_listener_refuses_a_local_browser_sent_by_another_host_name(
    make_runtime: RuntimeFactory,
) -> None:
    # DNS rebinding, as for the dashboard's /metrics: a page on evil.example, its name
    # re-pointed at 127.0.0.1, read a worker's metrics.port listener on 127.0.0.1.
    rt = make_runtime(metrics={"port": _free_port(), "host": "127.0.0.1"})
    server = serve_metrics(rt)
    assert server is not None
    port = rt.settings.metrics.port

    def status(host: str) -> int:
        url = f"http://127.0.0.1:{port}/metrics"
        asked = urllib.request.Request(url, headers={"Host": host})
        try:
            with urllib.request.urlopen(asked, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    try:
        for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}"):
            assert status(host) == 403, host
        for host in (f"127.0.0.1:{port}", f"[::1]:{port}", f"LocalHost:{port}", "localhost"):
            assert status(host) == 200, host
    finally:
        server.shutdown()
        server.server_close()


def test_a_host_lookup_error_numbered_from_one_is_read_as_the_lookups() -> None:
    # macOS and the BSDs number getaddrinfo's errors from 1 (EAI_NONAME is 8), not below
    # zero as glibc does: read as an errno, a misspelt host was "Exec format error".
    failed = socket.gaierror(8, "nodename nor servname provided, or not known")
    assert (
        cannot_bind_reason(failed, when_taken="taken")
        == "nodename nor servname provided, or not known"
    )


def test_no_listener_without_a_port(make_runtime: RuntimeFactory) -> None:
    assert serve_metrics(make_runtime()) is None


def test_a_metrics_host_that_cannot_be_listened_on_says_why(
    make_runtime: RuntimeFactory,
) -> None:
    # A typo in metrics.host: the lookup's error number is negative (a gaierror), which
    # os.strerror reads as "Unknown error -2", and the hint blamed the port.
    rt = make_runtime(metrics={"port": _free_port(), "host": "no-such-host.invalid"})
    with pytest.raises(CannotServeMetrics) as refused:
        serve_metrics(rt)
    message = str(refused.value)
    assert message.startswith(
        f"metrics.port: cannot listen on no-such-host.invalid:{rt.settings.metrics.port}: "
    )
    assert "Unknown error" not in message
    assert "metrics.port of its own" not in message
    # The port taken, by another worker started from the same config: the hint stays.
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        taken = make_runtime(metrics={"port": port})
        with pytest.raises(CannotServeMetrics, match=r"Address already in use .*of its own"):
            serve_metrics(taken)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_fresh_process_shows_every_counter_at_zero(make_runtime: RuntimeFactory) -> None:
    # A series that first appears at 1 is lost to rate() and increase(): the first dead
    # reply after a restart would never fire `increase(...{outcome="dead"}[1h]) > 0`.
    samples = scrape(make_runtime())
    expected = [
        ("inchannel_mentions_ingested_total", {"source": "feed"}),
        *[
            ("inchannel_poll_duration_seconds_count", {"source": "feed", "outcome": outcome})
            for outcome in ("ok", "failed")
        ],
        *[("inchannel_decisions_total", {"type": t}) for t in DECISION_TYPES],
        *[
            ("inchannel_actions_total", {"kind": kind, "outcome": outcome})
            for kind in ("reply", "notify")
            for outcome in ("sent", "failed", "dead")
        ],
        *[
            ("inchannel_send_errors_total", {"kind": kind, "reason": reason})
            for kind in ("reply", "notify")
            for reason in ("rate_limited", "temporary", "permanent")
        ],
        *[("inchannel_sla_alerts_total", {"kind": kind}) for kind in ("warning", "breached")],
    ]
    missing = [(name, labels) for name, labels in expected if key(name, labels) not in samples]
    assert missing == []
    assert all(samples[key(name, labels)] == 0 for name, labels in expected)


DECISION_TYPES = ("reply", "draft", "escalate", "ignore", "none")


def key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def test_send_errors_by_reason(make_runtime: RuntimeFactory) -> None:
    # The write side's API errors: a rate limit, a temporary failure, a permanent one.
    rt = make_runtime([mention(1, "@acme the app is down")], teams=TEAMS)
    responder = ScriptedResponder()
    reset = rt.clock.now() + timedelta(minutes=1)
    responder.fail_next(temporary(rate_limited=True, retry_after=reset), temporary(), permanent())
    rt.responders[Platform.X] = responder
    poll_source(rt, "feed")
    process_pending(rt)
    for _ in range(3):
        dispatch_outbox(rt)
        rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    samples = scrape(rt)
    for reason in ("rate_limited", "temporary", "permanent"):
        assert value(samples, "inchannel_send_errors_total", kind="reply", reason=reason) == 1
    assert value(samples, "inchannel_actions_total", kind="reply", outcome="dead") == 1


def test_an_sla_warning_is_counted(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme my order is late")], teams=TEAMS)
    poll_source(rt, "feed")
    process_pending(rt)  # escalated to care: a first answer due within 60 minutes
    rt.clock.advance(minutes=50)  # type: ignore[attr-defined]
    check_sla(rt)
    check_sla(rt)  # raised once per deadline, so counted once
    samples = scrape(rt)
    assert value(samples, "inchannel_sla_alerts_total", kind="warning") == 1
    assert value(samples, "inchannel_sla_alerts_total", kind="breached") == 0
    assert value(samples, "inchannel_sla_breached_open_cases") == 0


def test_the_outbox_backlog_and_the_actions_held_for_a_reset_are_apart(
    make_runtime: RuntimeFactory,
) -> None:
    """`failed` mixed replies backing off after a failed send (the backlog the alert
    counts) with replies a rate limit's reset holds (the dispatcher doing its job): an
    alert on the gauge paged about either."""
    outage = "@acme the app is down"
    rt = make_runtime([mention(1, outage), mention(2, outage)], teams=TEAMS)
    responder = ScriptedResponder()
    reset = rt.clock.now() + timedelta(hours=2)
    responder.fail_next(temporary("503"), temporary("429", retry_after=reset, rate_limited=True))
    rt.responders[Platform.X] = responder
    poll_source(rt, "feed")
    process_pending(rt)
    dispatch_outbox(rt)
    samples = scrape(rt)
    assert value(samples, "inchannel_outbox_actions", status="failed") == 2  # as before
    assert value(samples, "inchannel_outbox_backlog") == 1
    assert value(samples, "inchannel_outbox_held") == 1


def test_the_oldest_due_action_shows_how_long_it_has_been_due(
    make_runtime: RuntimeFactory,
) -> None:
    """The "outbox backing up" alert fires on the oldest action `outbox_due_minutes`
    overdue: without a gauge of it, Prometheus could only reproduce the backlog half."""
    rt = make_runtime([mention(1, "@acme the app is down")], teams=TEAMS)
    oldest_due = "inchannel_outbox_oldest_due_seconds"
    assert key(oldest_due, {}) in scrape(rt)  # 0 with nothing due, not absent
    assert value(scrape(rt), oldest_due) == 0
    poll_source(rt, "feed")
    process_pending(rt)  # a reply due now
    rt.clock.advance(minutes=20)  # type: ignore[attr-defined]
    assert value(scrape(rt), oldest_due) == 20 * 60
    dispatch_outbox(rt)
    assert value(scrape(rt), oldest_due) == 0


def test_every_reddit_failure_kind_a_poll_counts_is_in_the_metrics_table(
    make_runtime: RuntimeFactory,
) -> None:
    # A Reddit inbox poll refused with a 400 counts under kind="refused", which the
    # docs' list of Reddit kinds left out: an alert on the listed kinds never saw it.
    with FakeAPI() as api:
        serve_token(api)
        refused = Reply.json({"message": "Bad Request", "error": 400}, status=400)
        api.add("GET", "/message/mentions", refused)
        inbox = {
            "name": "inbox",
            "type": "reddit_inbox",
            "comment_replies": False,
            "submission_replies": False,
        }
        rt = make_runtime(sources=[inbox], reddit=reddit_section(api))
        poll_source(rt, "inbox")
    samples = scrape(rt)
    assert value(samples, "inchannel_source_errors_total", source="inbox", kind="refused") == 1
    docs = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    (row,) = [line for line in docs.splitlines() if line.startswith("| `inchannel_source_errors")]
    reddits = row.split("Reddit's (", 1)[1].split(")", 1)[0]
    assert sorted(reddits.replace("`", "").split(", ")) == sorted(k.value for k in FailureKind)


def test_an_x_redirect_counts_under_a_kind_the_metrics_table_lists(
    make_runtime: RuntimeFactory,
) -> None:
    # A 3xx from x.api_base_url counts under kind="redirect", which the docs' list of
    # X kinds left out: an alert on the listed kinds never saw a source stopped so.
    with FakeAPI() as api:
        api.add("GET", MENTIONS, Reply(301, {"location": "/elsewhere"}, b""))
        rt = x_runtime(make_runtime, api)
        poll_source(rt, "mentions")
    samples = scrape(rt)
    assert value(samples, "inchannel_source_errors_total", source="mentions", kind="redirect")
    docs = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    (row,) = [line for line in docs.splitlines() if line.startswith("| `inchannel_source_errors")]
    xs = row.split("`kind` is X's (", 1)[1].split(")", 1)[0]
    assert "redirect" in xs.replace("`", "").split(", ")


def test_a_failed_poll_slower_than_its_lease_is_still_counted_and_timed(
    make_runtime: RuntimeFactory,
) -> None:
    slow, other = make_runtime([mention(1)]), make_runtime([mention(1)])

    class TimesOut:
        """Times out after another worker took the lease over: the slowest failure."""

        name = "feed"

        def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
            with transaction(other.sessions) as session:
                state = session.get(SourceState, "feed")
                assert state is not None
                state.lease_expires_at = now  # expired: the other worker may take it
            other.clock.advance(seconds=1)  # type: ignore[attr-defined]
            assert take_lease(other, "feed", other.clock.now())
            raise SourceError("timed out: ReadTimeout", kind="transport")

    slow.sources["feed"] = TimesOut()
    poll_source(slow, "feed")
    samples = scrape(slow)
    # The source's state is the new owner's to keep; the failure is this process's own.
    assert value(samples, "inchannel_source_errors_total", source="feed", kind="transport") == 1
    polls = "inchannel_poll_duration_seconds_count"
    assert value(samples, polls, source="feed", outcome="failed") == 1


def test_a_successful_poll_slower_than_its_lease_is_timed_like_a_failed_one(
    make_runtime: RuntimeFactory,
) -> None:
    # A failed poll that outlasted its lease is timed; a successful one was not, so the
    # slowest successes (those that lost their lease) were missing from the ok quantiles.
    slow, other = make_runtime([mention(1)]), make_runtime([mention(1)])
    inner = slow.sources["feed"]

    class Outlasts:
        """Succeeds after another worker took the lease over."""

        name = "feed"

        def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
            with transaction(other.sessions) as session:
                state = session.get(SourceState, "feed")
                assert state is not None
                state.lease_expires_at = now  # expired: the other worker may take it
            other.clock.advance(seconds=1)  # type: ignore[attr-defined]
            assert take_lease(other, "feed", other.clock.now())
            return inner.poll(cursor, now=now)

    slow.sources["feed"] = Outlasts()
    assert poll_source(slow, "feed") is False
    samples = scrape(slow)
    polls = "inchannel_poll_duration_seconds_count"
    assert value(samples, polls, source="feed", outcome="ok") == 1
    assert value(samples, polls, source="feed", outcome="failed") == 0
    # The page was discarded: nothing was stored, so nothing counts as ingested.
    assert value(samples, "inchannel_mentions_ingested_total", source="feed") == 0


def test_a_flood_of_connections_to_the_listener_does_not_start_a_thread_each(
    make_runtime: RuntimeFactory,
) -> None:
    """The metrics.port listener started a thread for every connection, with no bound
    and no timeout: connections that send nothing held a thread each for ever, so a
    flood of them (the listener has no authentication) exhausted the process's threads.
    A few are served at once; the others are closed at once."""
    rt = make_runtime(sample_rows(), teams=TEAMS, metrics={"port": _free_port()})
    before = set(threading.enumerate())
    server = serve_metrics(rt)
    assert server is not None
    address = ("127.0.0.1", rt.settings.metrics.port)
    silent = [socket.create_connection(address, timeout=10) for _ in range(50)]
    try:
        # Accepted after the 50: once it has an answer (or is refused), they were handled.
        with socket.create_connection(address, timeout=10) as late:
            late.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            with suppress(ConnectionResetError):
                late.recv(1)
        started = [t for t in threading.enumerate() if t not in before]
        assert len(started) <= 1 + 4, f"{len(started)} threads for 51 connections"
    finally:
        for connection in silent:
            connection.close()
    try:
        for thread in started:
            if thread is not threading.current_thread() and thread.name != "metrics":
                thread.join(10)  # a connection closed: its thread ends
        url = f"http://{address[0]}:{address[1]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert value(parse(answer.read().decode()), "inchannel_database_up") == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_reply_withdrawn_unposted_counts_under_no_undocumented_outcome(
    make_runtime: RuntimeFactory,
) -> None:
    # A dead worker's claim on a case closed as spam meanwhile: the recovery looks for it,
    # finds nothing and withdraws it. Counted as outcome="rejected", a series the docs do
    # not list and that first appeared at 1, where rate() never sees it; no send was made.
    rt = make_runtime([mention(1, "@acme my order is late, terrible service")])
    responder = ScriptedResponder(crash_after_post=True)
    rt.responders = dict.fromkeys(Platform, responder)
    with pytest.raises(CrashAfterPost):
        run_cycle(rt)
    responder.posts.clear()  # the worker died before the request went out
    responder.crash_after_post = False
    rt.clock.advance(seconds=rt.settings.workers.stale_claim_seconds + 1)  # type: ignore[attr-defined]
    triage.mark_spam(rt, "C-1001", user="lena")
    dispatch_outbox(rt)
    assert responder.lookups == 1
    samples = scrape(rt)
    outcomes = {
        dict(labels)["outcome"]
        for (name, labels), count in samples.items()
        if name == "inchannel_actions_total" and count
    }
    assert outcomes == set()


def test_a_listing_failing_in_a_poll_that_read_the_others_is_counted_by_kind(
    make_runtime: RuntimeFactory,
) -> None:
    # The poll succeeds (the other listings are read), and the listing's failure went
    # uncounted: an alert on inchannel_source_errors_total never saw a listing failing
    # for hours.
    with FakeAPI() as api:
        serve_token(api)
        api.add("GET", "/message/mentions", listing())
        api.add("GET", "/message/comments/?", Reply(521, {"content-type": "text/html"}, b"down"))
        inbox = {"name": "inbox", "type": "reddit_inbox", "submission_replies": False}
        rt = make_runtime(sources=[inbox], reddit=reddit_section(api))
        poll_source(rt, "inbox")
    samples = scrape(rt)
    assert value(samples, "inchannel_source_errors_total", source="inbox", kind="temporary") == 1
    polls = "inchannel_poll_duration_seconds_count"
    assert value(samples, polls, source="inbox", outcome="ok") == 1
    assert value(samples, polls, source="inbox", outcome="failed") == 0


def test_the_metrics_table_in_the_docs_is_what_the_registry_exposes(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Every family a scrape exposes is a row of docs/operations.md's table, with its
    type and label names, and every row is exposed: an alert written from the table
    must find its series."""
    samples = REPO / "config" / "samples" / "mentions.jsonl"
    sources = [
        {"name": "feed", "type": "replay", "path": str(samples)},
        {"name": "gone", "type": "replay", "path": str(tmp_path / "missing.jsonl")},
    ]
    rt = make_runtime(sources=sources)
    poll_source(rt, "feed")
    poll_source(rt, "gone")  # so the per-source error counter and failing gauge show
    exposed = {
        family.name: (family.type, _label_names(family))
        for family in rt.metrics.watch(rt).collect()
    }
    docs = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = {}
    for row in docs.splitlines():
        if not row.startswith("| `inchannel_"):
            continue
        name, kind, labels = (cell.strip() for cell in row.split("|")[1:4])
        # A label's values follow it in brackets: the names are the backticks outside.
        names = re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", labels))
        base = name.strip("`").removesuffix("_total")
        documented[base] = (kind, frozenset(names))
    assert documented == exposed


def _label_names(family: Metric) -> frozenset[str]:
    return frozenset(label for sample in family.samples for label in sample.labels if label != "le")


def test_a_poll_as_slow_as_the_lease_allows_still_falls_in_a_bucket(
    make_runtime: RuntimeFactory,
) -> None:
    """The buckets stopped at 30 s, while an X poll may take a 30 s sweep plus a page's
    requests at twice the 10 s timeout (connect, then read), and a Reddit read that times
    out takes up to 32 s: the slow end, where timeouts sit, was all in +Inf, and
    histogram_quantile answered 30 for any of it."""
    rt = make_runtime()
    source = XMentionsSourceConfig(name="mentions", type="x_mentions")
    slowest = longest_poll_seconds(source, XSettings(user_id="1").timeout_seconds)
    slowest -= POLL_MARGIN_SECONDS  # the lease's safety margin is no time spent polling
    rt.metrics.poll_failed("feed", "transport", seconds=slowest)
    samples = parse(generate_latest(rt.metrics.registry).decode())
    finite = [
        float(dict(labels)["le"])
        for (name, labels), count in samples.items()
        if name == "inchannel_poll_duration_seconds_bucket"
        and dict(labels)["outcome"] == "failed"
        and dict(labels)["le"] != "+Inf"
        and count == 1
    ]
    assert finite, f"a {slowest:.0f} s poll is counted in no finite bucket"
    assert min(finite) >= slowest
