"""Writing outcomes: another worker's case changes stand, and a group rolled back for a
deadlock and written again is counted and logged once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

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


@contextmanager
def before_statement(
    rt: Runtime, starts: str, contains: str, do: Callable[[], None]
) -> Iterator[None]:
    """Call ``do`` once, just before the first statement that starts with ``starts`` and
    contains ``contains`` (whitespace as in one line) runs on ``rt``'s database."""
    done: list[str] = []

    def hook(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split())
        if words.startswith(starts) and contains in words and not done:
            done.append(words)  # first: ``do`` may run statements of its own
            do()

    event.listen(rt.engine, "before_cursor_execute", hook)
    try:
        yield
    finally:
        event.remove(rt.engine, "before_cursor_execute", hook)
    assert len(done) == 1


def meanwhile(rt: Runtime, change: Callable[[], None]) -> AbstractContextManager[None]:
    """Run ``change`` (another worker, committing) while the outcome group is open: it
    has read its actions, and is about to store our post (its first write)."""
    if rt.engine.dialect.name == "sqlite":
        # The outcome's transaction holds SQLite's write lock from its start (read and
        # write alike): another worker's change waits for its commit, so none comes
        # between its read and its write there.
        pytest.skip("SQLite: a change made meanwhile waits for the outcome's commit")
    return before_statement(rt, "INSERT INTO messages", "", change)


def the_case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def state_events(rt: Runtime) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [e.detail for e in session.scalars(select(Event).where(Event.kind == "state"))]


def test_a_sent_reply_keeps_an_escalation_made_meanwhile(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = queued(make_runtime)
    set_case(rt, state=CaseState.REPLIED.value)
    before = state_events(rt)
    with meanwhile(rt, lambda: set_case(rt, state=CaseState.AWAITING_HUMAN.value)):
        dispatch_outbox(rt)
    assert the_case(rt).state == CaseState.AWAITING_HUMAN
    assert state_events(rt) == before  # no replied -> waiting_customer that never happened


def test_a_sent_reply_keeps_a_first_response_made_meanwhile(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = queued(make_runtime)
    set_case(rt, first_response_at=None)
    human = rt.clock.now() - timedelta(minutes=3)
    # A person answers in the thread first: the case is replied and has its first response.
    answer = {"state": CaseState.REPLIED.value, "first_response_at": human}
    with meanwhile(rt, lambda: set_case(rt, **answer)):
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


def deadlocked_once(rt: Runtime) -> AbstractContextManager[None]:
    """The first outcome group is rolled back for a deadlock (as PostgreSQL reports it)
    when it writes its action, and runs again."""

    def deadlock() -> None:
        raise failure("40P01")

    # The group's write of one action; the claim's is of several (WHERE actions.id IN).
    return before_statement(rt, "UPDATE actions SET status", "WHERE actions.id = ", deadlock)


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
    caplog: pytest.LogCaptureFixture,
    outcome: str,
) -> None:
    rt, responder = queued(make_runtime)
    if outcome == "failed":
        responder.fail_next(temporary())
    with deadlocked_once(rt), caplog.at_level(logging.INFO, logger="inchannel.dispatch"):
        dispatch_outbox(rt)
    assert counted(rt) == {("reply", outcome): 1}
    assert len([r for r in caplog.records if f" {outcome} " in r.getMessage()]) == 1
