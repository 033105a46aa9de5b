"""Writing outcomes: another worker's case changes stand, and a group rolled back for a
deadlock and written again is counted and logged once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

import monitor.dispatch
from monitor.domain import CaseState
from monitor.pipeline import dispatch_outbox
from monitor.runtime import Runtime
from monitor.store.models import Case, Event
from tests.conftest import RuntimeFactory
from tests.fakes import temporary
from tests.test_db_retries import failure
from tests.test_dispatch import queued


def set_case(rt: Runtime, **values: Any) -> None:
    with rt.sessions.begin() as session:
        session.execute(update(Case).values(**values))


def meanwhile(monkeypatch: pytest.MonkeyPatch, change: Callable[[], None]) -> None:
    """Run ``change`` (another worker, committing) while the outcome group is open."""
    real = monitor.dispatch._store_own_posts

    def store(*args: Any) -> None:
        change()
        real(*args)

    monkeypatch.setattr(monitor.dispatch, "_store_own_posts", store)


def the_case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def state_events(rt: Runtime) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [e.detail for e in session.scalars(select(Event).where(Event.kind == "state"))]


def test_a_sent_reply_keeps_an_escalation_made_meanwhile(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = queued(make_runtime)
    set_case(rt, state=CaseState.REPLIED.value)
    before = state_events(rt)
    meanwhile(monkeypatch, lambda: set_case(rt, state=CaseState.AWAITING_HUMAN.value))
    dispatch_outbox(rt)
    assert the_case(rt).state == CaseState.AWAITING_HUMAN
    assert state_events(rt) == before  # no replied -> waiting_customer that never happened


def test_a_sent_reply_keeps_a_first_response_made_meanwhile(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt, _ = queued(make_runtime)
    set_case(rt, first_response_at=None)
    human = rt.clock.now() - timedelta(minutes=3)
    # A person answers in the thread first: the case is replied and has its first response.
    answer = {"state": CaseState.REPLIED.value, "first_response_at": human}
    meanwhile(monkeypatch, lambda: set_case(rt, **answer))
    dispatch_outbox(rt)
    case = the_case(rt)
    assert (case.state, case.first_response_at) == (CaseState.WAITING_CUSTOMER, human)
    assert state_events(rt)[-1] == {"old": "replied", "new": "waiting_customer"}


def test_a_reply_is_the_first_response_of_an_unanswered_case(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = queued(make_runtime)
    set_case(rt, first_response_at=None)
    dispatch_outbox(rt)
    case = the_case(rt)
    assert case.first_response_at == case.updated_at == rt.clock.now()


def deadlocked_once(monkeypatch: pytest.MonkeyPatch) -> list[OperationalError]:
    """The first outcome group is rolled back for a deadlock and runs again."""
    errors = [failure("40P01")]
    real = monitor.dispatch._store_own_posts

    def store(*args: Any) -> None:
        if errors:
            raise errors.pop()
        real(*args)

    monkeypatch.setattr(monitor.dispatch, "_store_own_posts", store)
    return errors


def counted(rt: Runtime) -> dict[tuple[str, str], float]:
    samples = [s for m in rt.metrics.actions.collect() for s in m.samples]
    return {
        (s.labels["kind"], s.labels["outcome"]): s.value
        for s in samples
        if s.name.endswith("_total")
    }


@pytest.mark.parametrize("outcome", ["sent", "failed"])
def test_a_retried_outcome_group_is_counted_and_logged_once(
    make_runtime: RuntimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    outcome: str,
) -> None:
    rt, responder = queued(make_runtime)
    if outcome == "failed":
        responder.fail_next(temporary())
    retried = deadlocked_once(monkeypatch)
    with caplog.at_level(logging.INFO, logger="inchannel.dispatch"):
        dispatch_outbox(rt)
    assert retried == []
    assert counted(rt) == {("reply", outcome): 1}
    assert len([r for r in caplog.records if f" {outcome} " in r.getMessage()]) == 1
