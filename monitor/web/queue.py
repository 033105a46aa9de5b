"""The queue: open cases a person may see, most urgent first, with filters and counts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select, String, cast, func, not_, or_, select
from sqlalchemy.orm import Session

from monitor.cases import DEADLINE_OWED, OPEN_STATES, PRIORITY_RANK, deadline_owed
from monitor.casework import CaseworkError
from monitor.casework_listing import first_words, require_known_team
from monitor.domain import CaseState, Label, Platform
from monitor.runtime import Runtime
from monitor.store.models import Case, Customer, Message
from monitor.store.textsearch import contains_ignoring_case, like_pattern
from monitor.web.params import require_storable, whole_number
from monitor.web.queue_cursor import After
from monitor.web.users import User, login_name

PAGE_SIZE = 50
MAX_PAGE = 10_000
Ts = TypeVarTuple("Ts")


# The values each choice filter takes: the page's drop-downs and the check below.
FILTER_CHOICES = {
    "state": [s.value for s in CaseState],
    "platform": [p.value for p in Platform],
    "sentiment": [label.value for label in Label],
}


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
    # The "next" of the page before: where this page starts (page numbers shift when a
    # case arrives or leaves between two views; this position does not).
    after: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> QueueFilter:
        # Bounded: the values end up in SQL parameters and back in the page's links.
        values = {
            f.name: require_storable(f.name, params.get(f.name, "").strip()[:200])
            for f in fields(cls)
        }
        number = whole_number(values.pop("page"), 1, 1, MAX_PAGE)
        if values["after"]:
            After.parse(values["after"])
            if number != 1:
                raise CaseworkError("give page or after, not both")
        # Stored tags are lower-case (migration 0006 tidied older ones): "VIP" finds "vip".
        values["tag"] = values["tag"].lower()
        # Cases are assigned to user names, which are lower-case: "Maria" found nothing.
        values["assignee"] = login_name(values["assignee"])
        for name, choices in FILTER_CHOICES.items():
            # An unknown value matched nothing: an empty queue, with the filter shown as
            # "any" on the page, looked like there was no work.
            if values[name] and values[name] not in choices:
                raise CaseworkError(f"{name} must be one of {', '.join(choices)}")
        return cls(**values, page=number)

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
    # The after of the next page (None: this is the last).
    next: str | None


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
        cast(Case.tags, String).like(like_pattern(f'"{f.tag}"'), escape="\\") if f.tag else None,
    ]
    for condition in conditions:
        if condition is not None:
            query = query.where(condition)
    if f.q:
        texts = select(Message.case_id).where(contains_ignoring_case(Message.text, f.q))
        handle = _bare_handle(f.q)
        handles = select(Customer.id).where(contains_ignoring_case(Customer.handle, handle))
        query = query.where(or_(Case.id.in_(texts), Case.customer_id.in_(handles)))
    return query


# A handle as X ("@jane_doe") and Reddit ("u/jane_doe") write it; stored and shown bare.
_PLATFORM_HANDLE = re.compile(r"(?:@|/?u/)(\S+)")


def _bare_handle(q: str) -> str:
    found = _PLATFORM_HANDLE.fullmatch(q)
    return found.group(1) if found else q


def load_queue(rt: Runtime, user: User, f: QueueFilter) -> QueuePage:
    states = (f.state,) if f.state else tuple(sorted(OPEN_STATES))
    matching = _filtered(_visible(select(Case), user), f).where(Case.state.in_(states))
    counts_query = _filtered(_visible(select(Case.state, func.count()), user), f)
    with rt.sessions() as session:
        if f.team:
            # A misspelt team matched nothing: an empty queue, its drop-down at "any".
            require_known_team(rt, session, f.team)
        start = After.parse(f.after) if f.after else None
        found = _page(session, matching, (f.page - 1) * PAGE_SIZE, start)
        counts = {s: int(n) for s, n in session.execute(counts_query.group_by(Case.state)).all()}
        shown = found[:PAGE_SIZE]
        customers = _customers(session, [c.customer_id for c in shown])
        firsts = _first_lines(session, [c.id for c in shown])
    rows = [_row(c, customers[c.customer_id], firsts.get(c.id, "")) for c in shown]
    more = len(found) > PAGE_SIZE
    return QueuePage(rows, counts, more, After.of(shown[-1]).token() if more else None)


def _page(session: Session, matching: Select[Case], offset: int, start: After | None) -> list[Case]:
    """One page plus one row, cases owing an answer by a deadline first (the deadline
    the row shows: an answered case's met one is no reason to come first).

    Two queries instead of one ORDER BY (sla_due_at IS NULL, ...): that expression cannot
    use an index, so every open case would be sorted for each page view (measured 70 ms
    at 100,000 cases on SQLite); ordered by sla_due_at alone, the index yields the first
    rows at once and only ties on the same deadline are sorted by priority.
    """
    due = matching.where(DEADLINE_OWED)
    ordered = due.order_by(Case.sla_due_at, PRIORITY_RANK, Case.id)
    rest = matching.where(not_(DEADLINE_OWED)).order_by(PRIORITY_RANK, Case.id)
    if start is not None:
        return _page_after(session, ordered, rest, start)
    rows = list(session.scalars(ordered.offset(offset).limit(PAGE_SIZE + 1)))
    if len(rows) > PAGE_SIZE:
        return rows
    if rows or offset == 0:
        due_total = offset + len(rows)
    else:
        due_total = session.scalar(select(func.count()).select_from(due.subquery())) or 0
    more = rest.offset(max(0, offset - due_total)).limit(PAGE_SIZE + 1 - len(rows))
    return rows + list(session.scalars(more))


def _page_after(
    session: Session, owed: Select[Case], rest: Select[Case], start: After
) -> list[Case]:
    """One page plus one row after ``start``: the owed cases past it (none when it owed
    no answer itself), then the rest from their start, or past it when it is one of them."""
    rows: list[Case] = []
    if start.due is None:
        rest = rest.where(start.rest_after())
    else:
        rows = list(session.scalars(owed.where(start.owed_after()).limit(PAGE_SIZE + 1)))
    if len(rows) > PAGE_SIZE:
        return rows
    return rows + list(session.scalars(rest.limit(PAGE_SIZE + 1 - len(rows))))


def _customers(session: Session, ids: list[int]) -> dict[int, Customer]:
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(set(ids))))}


def _first_lines(session: Session, case_ids: list[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    first_ids = (
        select(func.min(Message.id)).where(Message.case_id.in_(case_ids)).group_by(Message.case_id)
    )
    texts = session.execute(
        select(Message.case_id, func.substr(Message.text, 1, 400)).where(Message.id.in_(first_ids))
    ).all()
    firsts = {case_id: first_words(text) for case_id, text in texts}
    blank = [case_id for case_id, line in firsts.items() if not line]
    if blank:
        # 400 characters of blank lines and spaces hid the words after them: read those
        # posts whole (at most 40,000 characters each).
        whole = select(Message.case_id, Message.text).where(Message.id.in_(first_ids))
        rows = session.execute(whole.where(Message.case_id.in_(blank))).all()
        firsts.update({case_id: first_words(text) for case_id, text in rows})
    return firsts


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
        deadline_owed(c),
    )
