"""The queue: open cases a person may see, most urgent first, with filters and counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, String, case, cast, func, or_, select

from monitor.cases import OPEN_STATES
from monitor.runtime import Runtime
from monitor.store.models import Case, Customer, Message
from monitor.web.users import User

PAGE_SIZE = 50
Ts = TypeVarTuple("Ts")
# Priority breaks ties between cases due at the same moment (and orders those without SLA).
PRIORITY_RANK = case({"urgent": 0, "high": 1, "normal": 2, "low": 3}, value=Case.priority, else_=4)


@dataclass(frozen=True, slots=True)
class QueueFilter:
    team: str = ""
    assignee: str = ""
    platform: str = ""
    state: str = ""
    sentiment: str = ""
    tag: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> QueueFilter:
        # Bounded: the values end up in SQL parameters and back in the page's links.
        values = {f.name: params.get(f.name, "").strip()[:200] for f in fields(cls)}
        page = values.pop("page")
        number = int(page) if page.isdigit() else 1
        return cls(**values, page=max(1, min(number, 10_000)))

    def params(self, **changes: Any) -> dict[str, str]:
        """Query-string parameters of this filter (with changes), without empty ones."""
        current = replace(self, **changes)
        return {
            f.name: str(v) for f in fields(self) if (v := getattr(current, f.name)) not in ("", 1)
        }


@dataclass(frozen=True, slots=True)
class QueueRow:
    ref: str
    platform: str
    handle: str
    display_name: str
    first_line: str
    state: str
    priority: str
    team: str | None
    assignee: str | None
    tags: tuple[str, ...]
    sentiment: str | None
    opened_at: datetime
    sla_due_at: datetime | None


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    counts: dict[str, int]
    has_more: bool


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _visible(query: Select[*Ts], user: User) -> Select[*Ts]:
    if user.at_least("lead"):
        return query
    return query.where(or_(Case.team.in_(user.teams), Case.team.is_(None)))


def _filtered(query: Select[*Ts], f: QueueFilter) -> Select[*Ts]:
    """Every filter but the state one (the per-state counts ignore it)."""
    conditions = [
        Case.team == f.team if f.team else None,
        Case.assignee == f.assignee if f.assignee else None,
        Case.platform == f.platform if f.platform else None,
        Case.latest_label == f.sentiment if f.sentiment else None,
        # Tags are a JSON list; its text form contains the quoted tag.
        cast(Case.tags, String).like(_like(f'"{f.tag}"'), escape="\\") if f.tag else None,
    ]
    for condition in conditions:
        if condition is not None:
            query = query.where(condition)
    if f.q:
        matching = select(Message.case_id).where(Message.text.ilike(_like(f.q), escape="\\"))
        query = query.where(
            or_(Case.id.in_(matching), Customer.handle.ilike(_like(f.q), escape="\\"))
        )
    return query


def load_queue(rt: Runtime, user: User, f: QueueFilter) -> QueuePage:
    states = (f.state,) if f.state else tuple(sorted(OPEN_STATES))
    base = _filtered(_visible(select(Case, Customer).join(Customer), user), f)
    query = (
        base.where(Case.state.in_(states))
        .order_by(Case.sla_due_at.is_(None), Case.sla_due_at, PRIORITY_RANK, Case.id)
        .offset((f.page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE + 1)
    )
    count_query = _filtered(
        _visible(select(Case.state, func.count()).join(Customer), user), f
    ).group_by(Case.state)
    with rt.sessions() as session:
        found = session.execute(query).all()
        counts = {state: int(n) for state, n in session.execute(count_query).all()}
        firsts = _first_lines(session, [c.id for c, _ in found[:PAGE_SIZE]])
    rows = [_row(c, customer, firsts.get(c.id, "")) for c, customer in found[:PAGE_SIZE]]
    return QueuePage(rows, counts, len(found) > PAGE_SIZE)


def _first_lines(session: Any, case_ids: list[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    first_ids = (
        select(func.min(Message.id)).where(Message.case_id.in_(case_ids)).group_by(Message.case_id)
    )
    texts = session.execute(
        select(Message.case_id, func.substr(Message.text, 1, 400)).where(Message.id.in_(first_ids))
    ).all()
    return {case_id: (text.splitlines() or [""])[0][:140] for case_id, text in texts}


def _row(c: Case, customer: Customer, first_line: str) -> QueueRow:
    return QueueRow(
        c.ref,
        c.platform,
        customer.handle,
        customer.display_name,
        first_line,
        c.state,
        c.priority,
        c.team,
        c.assignee,
        tuple(c.tags),
        c.latest_label,
        c.opened_at,
        c.sla_due_at,
    )
