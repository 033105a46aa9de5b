"""Two people acting on one case at once (PostgreSQL): each action takes the case's row
lock and looks again under it, so the second sees the first's work, not a stale case."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import OperationalError

from monitor import casework, casework_actions, casework_links
from monitor.domain import CaseState
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import Case, Customer, Event
from monitor.store.queries import locked
from monitor.web.users import create_user
from tests.conftest import RuntimeFactory, mention
from tests.webkit import PASSWORD

Outcome = str  # "ok" or the CaseworkError's message


@pytest.fixture
def escalated(make_runtime: RuntimeFactory, db_url: str) -> Runtime:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: two actions cannot overlap")
    rt = make_runtime([mention(1, "@acme you are idiots")])
    run_cycle(rt)
    return rt


def the_case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def events(rt: Runtime, kind: str) -> list[Event]:
    with rt.sessions() as session:
        query = select(Event).where(Event.kind == kind).order_by(Event.id)
        return list(session.scalars(query))


@contextmanager
def case_held(rt: Runtime) -> Iterator[None]:
    """A colleague's transaction holding the case's row lock until the block ends."""
    with transaction(rt.sessions) as session:
        session.scalars(locked(session, select(Case))).one()
        yield


def wait_for_blocked(rt: Runtime, sessions: int) -> None:
    """Until ``sessions`` other sessions of this database wait on a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 30
    with rt.engine.connect() as connection:
        while (connection.execute(query).scalar() or 0) < sessions:
            assert time.monotonic() < deadline, "the actions never reached the case lock"
            connection.rollback()  # a fresh snapshot of pg_stat_activity


def both_at_once(rt: Runtime, *actions: Callable[[], object]) -> list[Outcome]:
    """Run ``actions`` in threads that all read the case while a colleague holds it, then
    let them go: without the case lock each acts on what it read before the others."""
    # By position, not in the order they finish: the first may still be closing its
    # session when the second, let go by its commit, has already failed.
    outcomes: list[Outcome] = [""] * len(actions)

    def run(position: int, action: Callable[[], object]) -> None:
        try:
            action()
            outcomes[position] = "ok"
        except casework.CaseworkError as exc:
            outcomes[position] = str(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(actions)]
    with case_held(rt):
        for number, thread in enumerate(threads, start=1):
            thread.start()
            wait_for_blocked(rt, number)  # each in turn, so the order is fixed
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_people_resolving_at_once_resolve_once(escalated: Runtime) -> None:
    rt = escalated
    ref = the_case(rt).ref
    outcomes = both_at_once(
        rt,
        lambda: casework_actions.resolve(rt, ref, user="maria"),
        lambda: casework_actions.resolve(rt, ref, user="lena"),
    )
    assert outcomes[0] == "ok"
    assert outcomes[1] == f"{ref} is resolved already; nothing was changed"
    resolved = [e for e in events(rt, "state") if e.detail["new"] == CaseState.RESOLVED.value]
    assert [e.actor for e in resolved] == ["maria"]


def test_concurrent_assignments_each_record_what_they_replaced(escalated: Runtime) -> None:
    rt = escalated
    for name in ("maria", "lena"):
        create_user(rt, name, "agent", PASSWORD, ("care",))
    ref = the_case(rt).ref
    outcomes = both_at_once(
        rt,
        lambda: casework_actions.assign(rt, ref, "maria", user="lead"),
        lambda: casework_actions.assign(rt, ref, "lena", user="boss"),
    )
    assert outcomes == ["ok", "ok"]
    trail = [
        (e.detail["old"]["assignee"], e.detail["new"]["assignee"]) for e in events(rt, "assigned")
    ]
    assert trail == [(None, "maria"), ("maria", "lena")]
    assert the_case(rt).assignee == "lena"


def test_the_same_assignment_twice_at_once_is_recorded_once(escalated: Runtime) -> None:
    rt = escalated
    create_user(rt, "maria", "agent", PASSWORD, ("care",))
    ref = the_case(rt).ref
    outcomes = both_at_once(
        rt,
        lambda: casework_actions.assign(rt, ref, "maria", user="lead"),
        lambda: casework_actions.assign(rt, ref, "maria", user="boss"),
    )
    assert outcomes == ["ok", f"{ref} is assigned to maria already; nothing was changed"]
    assert len(events(rt, "assigned")) == 1


def test_resolving_or_assigning_again_changes_nothing(make_runtime: RuntimeFactory) -> None:
    # One after the other too (a form sent twice, a stale page): no second event.
    rt = make_runtime([mention(1, "@acme you are idiots")])
    run_cycle(rt)
    create_user(rt, "maria", "agent", PASSWORD, ("care",))
    ref = the_case(rt).ref
    casework_actions.assign(rt, ref, "maria", user="lead")
    with pytest.raises(casework.CaseworkError, match="is assigned to maria already"):
        casework_actions.assign(rt, ref, "maria", user="lead")
    casework_actions.resolve(rt, ref, user="maria")
    with pytest.raises(casework.CaseworkError, match="is resolved already"):
        casework_actions.resolve(rt, ref, user="maria")
    assert len(events(rt, "assigned")) == 1
    assert [e.detail["new"] for e in events(rt, "state")].count(CaseState.RESOLVED.value) == 1


def test_a_colleague_resolving_between_the_read_and_the_write_on_sqlite(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    # SQLite begins a transaction at the first write, so the case was read outside any
    # transaction: a colleague (the CLI, a second dashboard request) who resolved it
    # between that read and this action's first write got a second "resolved" event.
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: the row lock tests above")
    rt = make_runtime(
        [mention(1, "@acme you are idiots")], database={"url": db_url, "busy_timeout_ms": 50}
    )
    run_cycle(rt)
    ref = the_case(rt).ref
    colleague: list[str] = []

    def at_first_write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if colleague or not statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            return
        colleague.append("started")
        try:
            casework_actions.resolve(rt, ref, user="lena")
            colleague.append("ok")
        except OperationalError as exc:  # waits for our write lock: this test's one thread
            colleague.append(str(exc.orig))

    event.listen(rt.engine, "before_cursor_execute", at_first_write)
    try:
        outcome = "ok"
        try:
            casework_actions.resolve(rt, ref, user="maria")
        except casework.CaseworkError as exc:
            outcome = str(exc)
    finally:
        event.remove(rt.engine, "before_cursor_execute", at_first_write)
    resolved = [e for e in events(rt, "state") if e.detail["new"] == CaseState.RESOLVED.value]
    assert len(resolved) == 1, (outcome, colleague)


def test_two_links_sharing_a_customer_at_once_keep_both(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    # Linking locked the two cases only. Two people linking through one customer's two
    # cases (C-1001 with C-1002, C-1003 with C-1004; user2 writes C-1002 and C-1003)
    # locked different cases, each read user2 unlinked, and the second write took user2
    # into its own person: "customers linked as person 1" was said and then undone.
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: two links cannot overlap")
    rt = make_runtime(
        [mention(1), mention(2), mention(3, author="user2", author_id="502"), mention(4)]
    )
    run_cycle(rt)
    with rt.sessions() as session:
        rows = session.execute(select(Case.id, Case.customer_id))
        owners = {row.id: row.customer_id for row in rows}
    assert len(owners) == 4
    assert owners[2] == owners[3]
    shared = owners[2]
    outcomes: list[Outcome] = ["", ""]

    def link(position: int, first: str, second: str) -> None:
        try:
            casework_links.link_customers(rt, first, second, user="lena")
            outcomes[position] = "ok"
        except casework.CaseworkError as exc:
            outcomes[position] = str(exc)

    pairs = (("C-1001", "C-1002"), ("C-1003", "C-1004"))
    threads = [threading.Thread(target=link, args=(n, *pair)) for n, pair in enumerate(pairs)]
    # A colleague's transaction on the shared customer's row holds the first link at its
    # write, after it read the customers; the second then runs as far as it can.
    with transaction(rt.sessions) as session:
        session.scalars(select(Customer).where(Customer.id == shared).with_for_update()).one()
        for number, thread in enumerate(threads, start=1):
            thread.start()
            wait_for_blocked(rt, number)
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes == ["ok", "ok"]
    with rt.sessions() as session:
        persons = set(session.scalars(select(Customer.person_id)))
    assert len(persons) == 1, persons  # all four cases' three customers: one person
