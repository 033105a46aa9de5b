"""The X part of the status report: the day's usage against the budget, the projected
month's cost, and per-source rate limits, errors, budget stops and gaps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.notifications import inert_line
from monitor.settings import Settings
from monitor.sources import x_usage as usage
from monitor.sources.x_settings import XMentionsSourceConfig, XSearchSourceConfig
from monitor.store.models import Event, SourceState

RECENT_EVENTS = 5


def status_lines(session: Session, settings: Settings, now: datetime) -> list[str]:
    if settings.x is None:
        return ["x: not configured"]
    budget = settings.x.budget
    today = usage.usage_on(session, now)
    month_to_date = usage.cost(usage.month_usage(session, now))
    lines = [
        f"x usage {usage.day_of(now)}: {today.get(usage.READS, 0)}/{budget.reads_per_day} "
        f"posts read, {_held(today)}{today.get(usage.WRITES, 0)}/{budget.writes_per_day} "
        "posts created, "
        f"{today.get(usage.USER_READS, 0)} users read, {today.get(usage.REQUESTS, 0)} requests",
        f"x cost: ${usage.cost(today):.2f} today, ${month_to_date:.2f} this month, "
        f"${usage.projected_month_cost(session, now):.2f} projected for the month",
    ]
    for config in settings.sources:
        # A Reddit source listed here read as an X source that was never polled.
        if isinstance(config, XMentionsSourceConfig | XSearchSourceConfig):
            lines.append(_source_line(session.get(SourceState, config.name), config.name))
    lines.extend(_event_lines(session))
    return lines


def _held(today: dict[str, int]) -> str:
    # What requests under way hold counts against the budget too: without it, a source
    # waiting "for requests under way" stood beside a day far from spent.
    held = today.get(usage.READS_HELD, 0)
    return f"{held} held by requests under way, " if held else ""


def _source_line(state: SourceState | None, name: str) -> str:
    if state is None:
        return f"  {name}: never polled"
    parts = [f"  {name}: {state.items_total} stored"]
    if state.last_success_at:
        parts.append(f"last success {state.last_success_at:%Y-%m-%d %H:%M:%S}")
    limit: dict[str, Any] = (state.details or {}).get("rate_limit") or {}
    if limit.get("remaining") is not None:
        parts.append(_rate_limit(limit))
    if state.next_poll_at:
        parts.append(f"waiting until {state.next_poll_at:%Y-%m-%d %H:%M:%S}")
    if state.last_error:
        # X's error text, not ours: one line, nothing a terminal acts on.
        parts.append(f"error: {inert_line(state.last_error, 300)}")
    return "; ".join(parts)


def _rate_limit(limit: dict[str, Any]) -> str:
    # X leaves a header out now and then: say what it sent, not "447/None until None".
    size = f"/{limit['limit']}" if limit.get("limit") is not None else " left"
    reset = f" until {limit['reset_at']}" if limit.get("reset_at") else ""
    return f"rate limit {limit['remaining']}{size}{reset}"


def _event_lines(session: Session) -> list[str]:
    query = (
        select(Event)
        .where(Event.kind.in_(("gap", "budget")), Event.case_id.is_(None))
        .order_by(Event.id.desc())
        .limit(RECENT_EVENTS)
    )
    lines = []
    for event in session.scalars(query):
        detail = event.detail or {}
        if event.kind == "gap":
            text = f"gap in {detail.get('source')}: {detail.get('reason')}"
        else:
            spent, limit = detail.get("spent"), detail.get("limit")
            text = f"{detail.get('budget')} budget reached ({spent}/{limit})"
        lines.append(f"  ! {event.at:%Y-%m-%d %H:%M:%S} {text}")
    return lines
