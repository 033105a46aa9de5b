"""What a person reads about cases: the list (`cases list`, the API) and one case's
detail with its customer's history (`cases show`, the case page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import case as sql_case
from sqlalchemy import func, not_, select
from sqlalchemy.orm import Session

from monitor import cases
from monitor.casework import CaseworkError, find_case, require_storable
from monitor.domain import CaseState
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, Customer, Event, Message
from monitor.store.queries import SelectT


class Viewer(Protocol):
    """Whoever reads a case: which teams' cases they may see (monitor.web.users.User)."""

    def sees_team(self, team: str | None) -> bool: ...


@dataclass(frozen=True, slots=True)
class CaseRow:
    ref: str
    platform: str
    handle: str
    state: str
    priority: str
    team: str | None
    assignee: str | None
    tags: tuple[str, ...]
    latest_label: str | None
    opened_at: datetime
    sla_due_at: datetime | None
    first_line: str


def list_cases(
    rt: Runtime, *, states: tuple[str, ...] = (), team: str | None = None, limit: int = 100
) -> list[CaseRow]:
    if team:
        require_storable("team", team)  # a filter is a query parameter too
    with rt.sessions() as session:
        if team:
            require_known_team(rt, session, team)
        # Read with its case, in the same statement: a query per row was 10,001 round
        # trips for `cases list --limit 10000`.
        first = (
            select(Message.text)
            .where(Message.case_id == Case.id)
            .order_by(Message.id)
            .limit(1)
            .correlate(Case)
            .scalar_subquery()
        )
        query = select(Case, Customer, first).join(Customer, Customer.id == Case.customer_id)
        query = _filtered(query, states, team)
        # Open cases first: a resolved case keeps its old deadline, which would put it
        # above every open one.
        resolved = Case.state == CaseState.RESOLVED.value
        # Then as the dashboard's queue: the answers owed by their deadline (an answered
        # case's met one does not count), then priority, the oldest first.
        owed = cases.DEADLINE_OWED
        order = (
            resolved,
            not_(owed),
            sql_case((owed, Case.sla_due_at)),
            cases.PRIORITY_RANK,
            Case.id,
        )
        query = query.order_by(*order).limit(limit)
        return [_row(case, customer, text) for case, customer, text in session.execute(query).all()]


def count_cases(rt: Runtime, *, states: tuple[str, ...] = (), team: str | None = None) -> int:
    """How many cases ``list_cases`` would list without its limit: `cases list` says so
    when it cuts the list (a team read 100 rows as the whole queue)."""
    query = _filtered(select(func.count()).select_from(Case), states, team)
    with rt.sessions() as session:
        return int(session.execute(query).scalar_one())


def _filtered(query: SelectT, states: tuple[str, ...], team: str | None) -> SelectT:
    """``query`` of the cases in ``states`` (any, if none) held by ``team`` (if given)."""
    if states:
        query = query.where(Case.state.in_(states))
    if team:
        query = query.where(Case.team == team)
    return query


def require_known_team(rt: Runtime, session: Session, team: str) -> None:
    """A misspelt team listed nothing, which read as "no work". A team no longer in the
    config still filters while cases carry it."""
    if rt.settings.team(team) is not None:
        return
    if session.scalars(select(Case.id).where(Case.team == team).limit(1)).first() is None:
        known = ", ".join(t.name for t in rt.settings.teams)
        raise CaseworkError(f"unknown team {team[:40]!r} (teams: {known})")


def _first_text(session: Session, case: Case) -> str | None:
    return session.scalars(
        select(Message.text).where(Message.case_id == case.id).order_by(Message.id).limit(1)
    ).first()


def _row(case: Case, customer: Customer, first: str | None) -> CaseRow:
    return CaseRow(
        case.ref,
        case.platform,
        customer.handle,
        case.state,
        case.priority,
        case.team,
        case.assignee,
        tuple(case.tags),
        case.latest_label,
        case.opened_at,
        # The deadline of the answer owed now, as the dashboard shows it: an answered
        # case's met one read as still running, and once past, as overdue.
        cases.deadline_owed(case),
        first_words(first or "", limit=120),
    )


def first_words(text: str, *, limit: int = 140) -> str:
    """The first line with words in it: a post may start with a line break."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:limit]


def case_detail(rt: Runtime, ref: str, viewer: Viewer | None = None) -> dict[str, Any]:
    """The thread, the outbox, the audit trail and the customer's history of a case.

    ``viewer`` limits the history to the cases they may see; None (the CLI, run by an
    operator with the configuration) shows every case."""
    with rt.sessions() as session:
        case = find_case(session, ref)
        customer = session.get(Customer, case.customer_id)
        assert customer is not None
        messages = session.scalars(
            select(Message)
            .where(Message.case_id == case.id)
            .order_by(Message.created_at, Message.id)
        ).all()
        outbox = session.scalars(
            select(ActionRow).where(ActionRow.case_id == case.id).order_by(ActionRow.id)
        ).all()
        events = session.scalars(
            select(Event).where(Event.case_id == case.id).order_by(Event.id)
        ).all()
        return {
            "case": _row(case, customer, _first_text(session, case)),
            "customer": customer,
            "messages": list(messages),
            "actions": list(outbox),
            "events": list(events),
            "history": customer_history(session, customer, viewer),
        }


def customer_history(
    session: Session, customer: Customer, viewer: Viewer | None = None
) -> dict[str, Any]:
    """Every case of this account (and of accounts linked to it as the same person).

    Cases of teams the viewer may not open are only counted: their refs, states and
    internal notes stay with their team, as the case pages themselves do."""
    ids = [customer.id]
    if customer.person_id is not None:
        ids = list(
            session.scalars(select(Customer.id).where(Customer.person_id == customer.person_id))
        )
    case_rows = session.scalars(
        select(Case).where(Case.customer_id.in_(ids)).order_by(Case.id)
    ).all()
    shown = [c for c in case_rows if viewer is None or viewer.sees_team(c.team)]
    notes = session.scalars(
        select(Event)
        .where(Event.case_id.in_([c.id for c in shown]), Event.kind == "note")
        .order_by(Event.id)
    ).all()
    return {
        "cases": [(c.ref, c.platform, c.state, c.opened_at) for c in shown],
        "other_team_cases": len(case_rows) - len(shown),
        "escalations": _escalations(session, [c.id for c in shown]),
        "notes": [(n.actor, n.at, n.detail.get("text", "")) for n in notes],
        "linked_accounts": len(ids) - 1,
    }


def _escalations(session: Session, case_ids: list[int]) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.case_id.in_(case_ids),
            Event.kind == "state",
            Event.detail["new"].as_string() == CaseState.AWAITING_HUMAN.value,
        )
    )
    return int(found or 0)
