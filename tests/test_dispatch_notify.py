"""Notifications through apprise: a channel that is down fails the action, and neither
the action's last_error nor any log line shows the channel's secret."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from monitor import notifications
from monitor.logs import setup_logging
from monitor.pipeline import dispatch_outbox
from monitor.store.db import transaction
from monitor.store.models import ActionRow
from tests.conftest import RuntimeFactory
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
