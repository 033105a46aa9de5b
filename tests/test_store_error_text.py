"""Error text a platform wrote is stored whatever characters it holds.

An error's message quotes the platform's answer (X's problem ``detail``, a proxy's
page). PostgreSQL refuses a NUL in any text and neither driver encodes an unpaired
surrogate (JSON's "\\ud800"): the failure could not be recorded, so a failing source
was not backed off, and a refused reply stayed claimed (``sending``) instead of being
retried or handed to a person.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from monitor.pipeline import dispatch_outbox, poll_source, process_pending
from monitor.store.models import ActionRow, Event, SourceState
from monitor.web.users import create_user
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI, Reply
from tests.webkit import api_client
from tests.xapi import MENTIONS, SEARCH, body, ok, problem, tweet, x_runtime

HOSTILE = ["bad\u0000gateway", "bad\ud800gateway"]


@pytest.fixture
def api(caplog: pytest.LogCaptureFixture) -> Iterator[FakeAPI]:
    # The daemon's warnings quote the error: a captured surrogate cannot be sent back
    # from a pytest-xdist worker.
    caplog.set_level(logging.ERROR, logger="inchannel")
    with FakeAPI() as server:
        yield server


@pytest.mark.parametrize("detail", HOSTILE, ids=["nul", "surrogate"])
def test_a_failed_poll_is_recorded_whatever_the_platform_answered(
    make_runtime: RuntimeFactory, api: FakeAPI, detail: str
) -> None:
    answer = json.dumps({"title": "Service Unavailable", "detail": detail}).encode()
    api.add("GET", MENTIONS, Reply(503, {"content-type": "application/problem+json"}, answer))
    rt = x_runtime(make_runtime, api)
    poll_source(rt, "mentions")
    with rt.sessions() as session:
        state = session.get(SourceState, "mentions")
        assert state is not None
        assert (state.consecutive_failures, state.last_error) == (
            1,
            "x temporarily failed: HTTP 503: bad?gateway; Service Unavailable"
            if "\ud800" in detail
            else "x temporarily failed: HTTP 503: badgateway; Service Unavailable",
        )


@pytest.mark.parametrize(("status", "outcome"), [(503, "failed"), (403, "dead")])
@pytest.mark.parametrize("detail", HOSTILE, ids=["nul", "surrogate"])
def test_a_failed_send_is_recorded_whatever_the_platform_answered(
    make_runtime: RuntimeFactory, api: FakeAPI, detail: str, status: int, outcome: str
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("GET", SEARCH, ok(body([])))
    api.add("POST", "/2/tweets", problem(status, detail))
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    with rt.sessions() as session:
        row = session.scalars(select(ActionRow).where(ActionRow.kind == "reply")).one()
        assert row.status == outcome
        stored = "bad?gateway" if "\ud800" in detail else "badgateway"
        assert stored in (row.last_error or "")


def test_a_case_whose_reply_a_platform_refused_in_broken_text_still_opens(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    """The refusal is quoted in the case's ``send_failed`` event (a JSON column): an
    unpaired surrogate there came back from the database as it went in, and every
    later rendering of the case failed to encode it (the case page, the API: 500)."""
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("POST", "/2/tweets", problem(403, "bad\ud800gateway \U0001f600"))
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    with rt.sessions() as session:
        failed = session.scalars(select(Event).where(Event.kind == "send_failed")).one()
        assert failed.detail["error"].endswith("(HTTP 403: bad?gateway \U0001f600)")
    create_user(rt, "ann", "admin", "correct horse battery", ())
    answer = api_client(rt, "ann").get("/api/cases/C-1001")
    assert answer.status_code == 200
