"""Notifications through apprise: a channel that is down fails the action, and neither
the action's last_error nor any log line shows the channel's secret."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from http import HTTPStatus

import apprise.url
import pytest
from apprise.plugins.discord import NotifyDiscord
from sqlalchemy import select

from monitor import notifications
from monitor.domain import CaseState
from monitor.logs import setup_logging
from monitor.pipeline import dispatch_outbox, run_cycle
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Event, Message
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.test_logs import restored_logging  # noqa: F401 -- a fixture

SECRET = "T0-s3cr3t-token"


def closed_port() -> int:
    """A local port nobody listens on: the connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_channel_that_is_down_never_logs_its_webhook_secret(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """apprise logs the socket error at DEBUG, and requests names the request's path in
    it (``Max retries exceeded with url: /hooks/<secret>``), without a scheme."""
    url = f"json://127.0.0.1:{closed_port()}/hooks/{SECRET}?key=hunter2"
    rt = make_runtime(channels={"ops": {"url": url}})
    with transaction(rt.sessions) as session:
        now = rt.clock.now()
        notifications.enqueue(
            session,
            case=None,
            text="alert\nbody",
            key="k1",
            actor="system",
            now=now,
            channels=["ops"],
        )
    with caplog.at_level("DEBUG"):
        dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert (row.status, row.last_error) == (
        "failed",
        "channel 'ops' did not accept the notification",
    )
    logged = [record.getMessage() for record in caplog.records]
    assert any("Max retries exceeded with url: <url>" in line for line in logged)
    assert [line for line in logged if SECRET in line or "hunter2" in line] == []


@pytest.mark.usefixtures("restored_logging")
def test_a_delivered_notification_never_logs_its_webhook_path_at_debug(
    make_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """urllib3, under requests under apprise, logs each request line at DEBUG: the
    webhook's path and query, which hold its secret."""
    with FakeAPI() as api:
        api.add("POST", f"/hooks/{SECRET}", Reply.json({}))
        host = api.base_url.removeprefix("http://")
        rt = make_runtime(channels={"ops": {"url": f"json://{host}/hooks/{SECRET}?key=hunter2"}})
        setup_logging("DEBUG", json_lines=True)
        with transaction(rt.sessions) as session:
            notifications.enqueue(
                session,
                case=None,
                text="alert",
                key="k1",
                actor="system",
                now=rt.clock.now(),
                channels=["ops"],
            )
        dispatch_outbox(rt)
        assert len(api.seen("POST", f"/hooks/{SECRET}")) == 1
    logged = capsys.readouterr().err
    assert "action=" in logged  # our own lines still come through
    assert SECRET not in logged
    assert "hunter2" not in logged


def queue_alert(rt: Runtime) -> None:
    with transaction(rt.sessions) as session:
        notifications.enqueue(
            session,
            case=None,
            text="alert\nbody",
            key="k1",
            actor="system",
            now=rt.clock.now(),
            channels=["ops"],
        )


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_a_deleted_or_revoked_webhook_is_dead_at_once(
    make_runtime: RuntimeFactory, status: int
) -> None:
    # A deleted webhook (404, 410) or a revoked token (401, 403) gives the same answer
    # to every retry: it was retried for all of notify_retry_hours, reported only as
    # "did not accept", while nobody heard of the escalations behind it.
    with FakeAPI() as api:
        api.add("POST", f"/hooks/{SECRET}", Reply(status, body=b"gone"))
        host = api.base_url.removeprefix("http://")
        rt = make_runtime(channels={"ops": {"url": f"json://{host}/hooks/{SECRET}"}})
        queue_alert(rt)
        dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert row.status == "dead"
    assert row.last_error.startswith(f"channel 'ops' refused the notification (HTTP {status} ")
    assert "deleted or revoked; fix the channel's URL" in row.last_error
    assert SECRET not in row.last_error


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_webhook_busy_or_failing_for_now_is_retried(
    make_runtime: RuntimeFactory, status: int
) -> None:
    with FakeAPI() as api:
        api.add("POST", "/hook", Reply(status, body=b"later"))
        host = api.base_url.removeprefix("http://")
        rt = make_runtime(channels={"ops": {"url": f"json://{host}/hook"}})
        queue_alert(rt)
        dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert row.status == "failed"


def test_a_discord_rate_limit_does_not_hold_the_worker(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # apprise's Discord plugin answers a 429 by sleeping in our worker until the reset
    # Discord names, plus 10 s of clock skew, then posting again: an hour's reset held
    # the dispatcher (every reply behind the alert) for an hour.
    limited = {"Retry-After": "2", "X-RateLimit-Remaining": "0"}
    limited["X-RateLimit-Reset"] = str(int(time.time()) + 3600)
    waits: list[float] = []
    with FakeAPI() as api:
        api.add("POST", "/api/webhooks/123/abc", Reply.json({"retry_after": 2}, 429, limited))
        # Where apprise addresses Discord: the one boundary moved to the fake server.
        monkeypatch.setattr(NotifyDiscord, "notify_url", f"{api.base_url}/api/webhooks")
        rt = make_runtime(channels={"ops": {"url": "discord://123/abc"}})
        queue_alert(rt)
        # apprise's own sleep (apprise.url), recorded instead of slept.
        monkeypatch.setattr(apprise.url.time, "sleep", waits.append)
        dispatch_outbox(rt)
    assert waits  # the plugin asked for the hour's reset plus 10 s
    assert max(waits) <= 1.0
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert (row.status, row.last_error) == (
        "failed",
        "channel 'ops' is rate limited (HTTP 429); the notification is tried again later",
    )


def test_a_one_line_alert_is_posted_once(make_runtime: RuntimeFactory) -> None:
    # An operations alert is one line: sent as both title and body, Discord (and
    # Mattermost, Telegram) showed it twice, "text\r\ntext".
    with FakeAPI() as api:
        api.add("POST", "/api/webhooks/123/abc", Reply(204))
        with pytest.MonkeyPatch.context() as patch:
            # Where apprise addresses Discord: the one boundary moved to the fake server.
            patch.setattr(NotifyDiscord, "notify_url", f"{api.base_url}/api/webhooks")
            rt = make_runtime(channels={"ops": {"url": "discord://123/abc"}})
            with transaction(rt.sessions) as session:
                notifications.enqueue(
                    session,
                    case=None,
                    text="[inchannel] source x-main failing for 15 min",
                    key="k1",
                    actor="system",
                    now=rt.clock.now(),
                    channels=["ops"],
                )
            dispatch_outbox(rt)
        [posted] = api.seen("POST", "/api/webhooks/123/abc")
    assert posted.json()["content"] == "[inchannel] source x-main failing for 15 min"


def test_an_escalation_of_an_unscored_message_shows_no_score(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    case = Case(id=1, priority="high", platform="x", team="care")
    message = Message(text="Lieferung kaputt", label="unscored", compound=0.0)
    summary = notifications.case_summary(rt.settings, case, None, message, "needs a person")
    assert "sentiment unscored (-)" in summary.splitlines()
    message = Message(text="awful", label="negative", compound=-0.4767)
    summary = notifications.case_summary(rt.settings, case, None, message, "needs a person")
    assert "sentiment negative (-0.4767)" in summary.splitlines()


def test_a_channel_down_for_hours_under_a_short_backoff_cap_is_still_retried(
    make_runtime: RuntimeFactory,
) -> None:
    # A notification is retried until notify_retry_hours, not max_attempts times: with
    # backoff_cap_seconds at a minute, a channel down for most of a day takes it past
    # a thousand attempts, where backoff_base_seconds * 2 ** (attempts - 1) no longer
    # fits in a float. The OverflowError undid the whole group of outcomes (replies
    # posted with it stayed "sending") and came back at every retry.
    url = f"json://127.0.0.1:{closed_port()}/hooks/{SECRET}"
    rt = make_runtime(
        channels={"ops": {"url": url}},
        # As config/inchannel.yaml writes it: a float, so the product is one too.
        dispatch={"backoff_base_seconds": 30, "backoff_cap_seconds": 60, "notify_retry_hours": 24},
    )
    queue_alert(rt)
    with transaction(rt.sessions) as session:
        # Where a day of one-minute retries leaves it (arranged: 1,100 real retries
        # would take minutes to run).
        session.scalars(select(ActionRow)).one().attempts = 1100
    dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert (row.status, row.attempts) == ("failed", 1101)
    assert row.next_attempt_at <= rt.clock.now() + timedelta(seconds=60)


@pytest.mark.parametrize("status", [400, 413, 422])
def test_a_channel_refusing_this_one_message_is_not_sent_it_all_day(
    make_runtime: RuntimeFactory, status: int
) -> None:
    # A channel that refuses one message (malformed for it, too long, a field it does
    # not take) gives the same answer to every retry of that message: it was re-sent
    # about 36 times a day for all of notify_retry_hours, reported only as "did not
    # accept", while nobody heard of the escalation. It is dead at once, and the reason
    # names the channel and the status, never the URL.
    with FakeAPI() as api:
        api.add("POST", f"/hooks/{SECRET}", Reply(status, body=b"no"))
        host = api.base_url.removeprefix("http://")
        rt = make_runtime(channels={"ops": {"url": f"json://{host}/hooks/{SECRET}"}})
        queue_alert(rt)
        dispatch_outbox(rt)
        rt.clock.advance(hours=1)
        dispatch_outbox(rt)
        assert len(api.seen("POST", f"/hooks/{SECRET}")) == 1
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert row.status == "dead"
    phrase = HTTPStatus(status).phrase
    assert row.last_error.startswith(
        f"channel 'ops' refused this notification (HTTP {status} {phrase}) and would "
    )
    assert SECRET not in row.last_error
    # Nobody received it: `inchannel status` says so, with the channel and the reason.
    [dead] = [p for p in collect(rt).problems if p.startswith("notifications:")]
    assert f"channel 'ops' refused this notification (HTTP {status}" in dead


def test_an_escalation_a_channel_refuses_leaves_its_case_in_the_teams_queue(
    make_runtime: RuntimeFactory,
) -> None:
    # The escalation's notification is lost for good; the case itself must still be
    # escalated, and its history must say the team was not told.
    with FakeAPI() as api:
        api.add("POST", "/hook", Reply(413, body=b"too large"))
        host = api.base_url.removeprefix("http://")
        channels = {"care-chat": {"url": f"json://{host}/hook"}}
        teams = [{"name": "care", "channels": ["care-chat"]}]
        teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
        rt = make_runtime(
            [mention(1, "@acme you are idiots, my order is late")], channels=channels, teams=teams
        )
        run_cycle(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow).where(ActionRow.kind == "notify")).one()
        case = session.get(Case, row.case_id)
        assert case is not None
        events = [e.kind for e in session.scalars(select(Event).where(Event.case_id == case.id))]
    assert row.status == "dead"
    assert case.state == CaseState.AWAITING_HUMAN
    assert "send_failed" in events


def test_a_discord_rate_limit_is_retried_after_the_reset_it_names(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reset Discord named (an hour away) was dropped: the alert was retried at the
    # backoff's pace, 30 s, a minute, two..., each retry one more 429 into a limit that
    # Discord answers by banning the webhook when it is hammered.
    limited = {"Retry-After": "2", "X-RateLimit-Remaining": "0"}
    limited["X-RateLimit-Reset"] = str(int(time.time()) + 3600)
    with FakeAPI() as api:
        api.add("POST", "/api/webhooks/123/abc", Reply.json({"retry_after": 2}, 429, limited))
        # Where apprise addresses Discord: the one boundary moved to the fake server.
        monkeypatch.setattr(NotifyDiscord, "notify_url", f"{api.base_url}/api/webhooks")
        rt = make_runtime(channels={"ops": {"url": "discord://123/abc"}})
        queue_alert(rt)
        monkeypatch.setattr(apprise.url.time, "sleep", lambda _: None)
        dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert row.status == "failed"
    assert row.next_attempt_at >= rt.clock.now() + timedelta(seconds=3590)
    assert row.next_attempt_at <= rt.clock.now() + timedelta(seconds=3600 + 15)
