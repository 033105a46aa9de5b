"""A channel refusing a notification as too long (HTTP 413, or a 400 that may mean it)
is told what to change: the channel's ``max_chars``, named with the limit it has now."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest
from sqlalchemy import select

from monitor.pipeline import dispatch_outbox
from monitor.store.models import ActionRow
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.test_dispatch_notify import queue_alert


def _refused(make_runtime: RuntimeFactory, status: int, channel: dict[str, Any]) -> str:
    with FakeAPI() as api:
        api.add("POST", "/hook", Reply(status, body=b"no"))
        host = api.base_url.removeprefix("http://")
        rt = make_runtime(channels={"ops": {"url": f"json://{host}/hook", **channel}})
        queue_alert(rt)
        dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
    assert row.status == "dead"
    return str(row.last_error)


def test_a_413_names_the_channels_max_chars(make_runtime: RuntimeFactory) -> None:
    error = _refused(make_runtime, 413, {"max_chars": 300})
    phrase = HTTPStatus(413).phrase  # "Content Too Large" since Python 3.13
    assert error == (
        f"channel 'ops' refused this notification (HTTP 413 {phrase}) and would refuse "
        "every retry of it, so it is not retried: it is too long for the channel, even "
        "cut to its max_chars (300 characters): set a lower channels.ops.max_chars in "
        "the config (160 for an SMS gateway, say) and restart, then retry it"
    )


def test_a_400_suggests_max_chars_among_its_causes(make_runtime: RuntimeFactory) -> None:
    error = _refused(make_runtime, 400, {})
    assert error.startswith("channel 'ops' refused this notification (HTTP 400 Bad Request)")
    assert error.endswith(
        "so it is not retried: the message may be malformed for it, or the channel's URL "
        "name a chat or option it does not know; or it is too long, even cut to its "
        "max_chars (1000 characters): set a lower channels.ops.max_chars in the config "
        "(160 for an SMS gateway, say) and restart, then retry it"
    )


@pytest.mark.parametrize("status", [422])
def test_a_422_does_not_blame_the_length(make_runtime: RuntimeFactory, status: int) -> None:
    assert "max_chars" not in _refused(make_runtime, status, {})
