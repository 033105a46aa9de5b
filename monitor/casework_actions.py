"""A person's other changes to a case: assigning it, resolving it, adding a note."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import cases
from monitor.casework import (
    DUPLICATE_WINDOW,
    AlreadyNoted,
    CaseworkError,
    assignee_problem,
    lock_case,
    require_storable,
)
from monitor.casework_drafts import superseded_drafts
from monitor.domain import CaseState
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import Event


def assign(rt: Runtime, ref: str, assignee: str, *, user: str) -> None:
    """Give the case to a dashboard user who may open it: a typo or a colleague of
    another team would leave the case with nobody who can work it."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        _check_assignee(session, assignee, case.team)
        if case.assignee == assignee:
            # A second "assign" of the same person (a double submit, two leads at
            # once) changes nothing: no event claiming it did.
            raise CaseworkError(
                f"{case.ref} is assigned to {assignee} already; nothing was changed"
            )
        old = {"assignee": case.assignee}
        case.assignee, case.updated_at = assignee, now
        cases.record(session, case, "assigned", user, now, old=old, new={"assignee": assignee})


def _check_assignee(session: Session, name: str, team: str | None) -> None:
    problem = assignee_problem(session, name, team)
    if problem is not None:
        raise CaseworkError(problem)


def resolve(rt: Runtime, ref: str, *, user: str) -> None:
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        if case.state == CaseState.RESOLVED.value:
            raise CaseworkError(f"{case.ref} is resolved already; nothing was changed")
        superseded_drafts(session, case, user, now, "the case was resolved")
        cases.transition(session, case, CaseState.RESOLVED, user, now)


MAX_NOTE = 5000


def add_note(rt: Runtime, ref: str, text: str, *, user: str) -> None:
    text = require_storable("text", text).strip()
    if not text:
        raise CaseworkError("the note is empty")
    if len(text) > MAX_NOTE:
        # Cut silently, `cases note` said "note added" and the end of it was lost; the
        # dashboard refuses such a note too.
        raise CaseworkError(f"the note is {len(text)} characters; at most {MAX_NOTE}")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        # Under the case lock, as replies are: a browser retrying the form (or a script
        # resending after a timeout) while the first request was still running stored the
        # note twice. The same words later are a new note.
        recent = session.scalars(
            select(Event).where(
                Event.case_id == case.id,
                Event.kind == "note",
                Event.actor == user,
                Event.at >= now - DUPLICATE_WINDOW,
            )
        )
        earlier = next((e for e in recent if (e.detail or {}).get("text") == text), None)
        if earlier is not None:
            raise AlreadyNoted(earlier.actor, earlier.at)
        cases.record(session, case, "note", user, now, text=text)
