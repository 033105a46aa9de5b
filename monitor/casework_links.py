"""Linking the customers of two cases as one person (e.g. their X and Reddit accounts),
so each case shows the other's history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import cases
from monitor.casework import CaseworkError, lock_case, parse_ref
from monitor.runtime import Runtime
from monitor.store.db import hold_lock, transaction
from monitor.store.models import Case, Customer


def _lock_both(session: Session, first_ref: str, second_ref: str) -> tuple[Case, Case]:
    # In id order: two links of one pair, given either way round, wait for each other
    # instead of deadlocking.
    found = {
        parse_ref(r): lock_case(session, r) for r in sorted((first_ref, second_ref), key=parse_ref)
    }
    return found[parse_ref(first_ref)], found[parse_ref(second_ref)]


# Any fixed number: PostgreSQL advisory locks are named by a bigint.
LINK_LOCK = 7_264_021_107


def _customers_to_link(session: Session, one: Case, two: Case) -> tuple[Customer, Customer]:
    """The customers of the two cases, unless they are one person already."""
    a = session.get(Customer, one.customer_id)
    b = session.get(Customer, two.customer_id)
    assert a is not None
    assert b is not None
    if a.id == b.id:
        raise CaseworkError("both cases belong to the same account already")
    if a.person_id is not None and a.person_id == b.person_id:
        # Linked before (maybe through a third account): relinking would only
        # add "linked" events for a change that did not happen.
        raise CaseworkError(
            f"the customers of {one.ref} and {two.ref} are linked already "
            f"(person {a.person_id}); nothing was changed"
        )
    return a, b


def _join_people(session: Session, a: Customer, b: Customer) -> int:
    """Make ``a``, ``b`` and every account already linked to either one person, named by
    the lowest of their ids; returns it."""
    person = min(x for x in (a.person_id, b.person_id, a.id, b.id) if x is not None)
    for member in session.scalars(
        select(Customer).where(Customer.person_id.in_([p for p in (a.person_id, b.person_id) if p]))
    ):
        member.person_id = person
    a.person_id = b.person_id = person
    return person


def link_customers(rt: Runtime, first_ref: str, second_ref: str, *, user: str) -> int:
    """Record that the customers of two cases are one person (e.g. their X and Reddit)."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        # The case locks do not cover the customers: two links through one customer's
        # two cases (or through two members of one person) locked different cases, each
        # read that customer before the other wrote, and the second write undid the
        # first link. Links are rare, so PostgreSQL takes them one at a time, this lock
        # before the cases' (the same order everywhere: no deadlock); SQLite's write
        # lock (lock_case) does the same.
        hold_lock(session.connection(), LINK_LOCK)
        one, two = _lock_both(session, first_ref, second_ref)
        a, b = _customers_to_link(session, one, two)
        person = _join_people(session, a, b)
        for case in (one, two):
            cases.record(
                session, case, "linked", user, now, person=person, accounts=[a.handle, b.handle]
            )
        return person
