"""Health: what every source did last, today's API usage, and the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select

from monitor.alerting import ALERTS_STATE
from monitor.casework_replies import QUEUED
from monitor.domain import ActionStatus
from monitor.runtime import Runtime
from monitor.sources.x_usage import fold_holds
from monitor.status import COPIED_NOT_STARTED, SourceHealth, copied_not_started, read_sources
from monitor.store.models import ActionRow, Case, SourceState, Usage, case_ref, stored_id
from monitor.web.users import User

LISTED = 100


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    case: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    text: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Health:
    sources: list[SourceHealth]
    usage_today: list[tuple[str, int]]
    # Every team's: numbers only, no case or text; every status, 0 when none.
    outbox_counts: dict[str, int]
    troubled: list[OutboxItem]  # failed and dead actions the user may see, dead first
    # `status`'s words while no worker has run on a database `db copy` wrote: the
    # sources' polls shown are the old database's.
    not_started: str | None = None


def load_health(rt: Runtime, user: User) -> Health:
    now = rt.clock.now()
    today = now.strftime("%Y-%m-%d")
    with rt.sessions() as session:
        sources = read_sources(session, set(rt.sources), now)
        today_rows = select(Usage.key, Usage.count).where(Usage.day == today)
        # As status shows them: the holds of requests under way summed, the lapsed left out.
        usage = sorted(fold_holds(dict(session.execute(today_rows).all()), now).items())
        counts = session.execute(
            select(ActionRow.status, func.count()).group_by(ActionRow.status)
        ).all()
        troubled = session.scalars(
            _visible(select(ActionRow), user)
            .where(ActionRow.status.in_([ActionStatus.DEAD.value, ActionStatus.FAILED.value]))
            .order_by(ActionRow.status, ActionRow.updated_at.desc())
            .limit(LISTED)
        ).all()
        items = [_item(a) for a in troubled]
        copied = copied_not_started(session.get(SourceState, ALERTS_STATE))
    return Health(
        sources,
        [(key, int(n)) for key, n in usage],
        # Every status, 0 when none, as `status --json` has them: a script reading
        # outbox_counts["dead"] must not fail while nothing has died.
        {s.value: 0 for s in ActionStatus} | {status: int(n) for status, n in counts},
        items,
        COPIED_NOT_STARTED if copied else None,
    )


def requeued(rt: Runtime, user: User, raw: str) -> int | None:
    """The action a retry's redirect names (``?retried=``), if it is one the user may see
    and it waits to be sent: the address alone let any link have the page announce
    "Action ANY will be sent again"."""
    action_id = stored_id(raw)
    if action_id is None:
        return None
    query = _visible(select(ActionRow), user).where(
        ActionRow.id == action_id, ActionRow.status.in_(QUEUED)
    )
    with rt.sessions() as session:
        return action_id if session.scalars(query).first() is not None else None


def _visible(query: Select[ActionRow], user: User) -> Select[ActionRow]:
    """The actions of cases the user may open (User.sees_team). A failed reply carries the
    case's text and error, so another team's stays hidden as its case page does; operations
    alerts (no case) concern the whole installation and go to leads and admins."""
    if user.at_least("lead"):
        return query
    mine = or_(Case.team.in_(user.teams), Case.team.is_(None))
    return query.join(Case, Case.id == ActionRow.case_id).where(mine)


def _item(a: ActionRow) -> OutboxItem:
    return OutboxItem(
        a.id,
        case_ref(a.case_id) if a.case_id is not None else "-",  # "-": an operations alert
        a.kind,
        a.status,
        a.attempts,
        a.last_error,
        a.text[:200],
        a.updated_at,
    )
