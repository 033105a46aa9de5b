"""Health of a running installation, read from the database (any worker, any host)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor import cases
from monitor.alerting import ALERTS_STATE, ActiveAlert, decode
from monitor.domain import ActionStatus
from monitor.rules.reload import RULES_STATE
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, SourceState, Usage

FAILURES_UNHEALTHY = 3
BACKLOG_UNHEALTHY = timedelta(minutes=15)
# A permanent source error parks the source this far in the future (see ingest.py).
STOPPED_AFTER = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    configured: bool  # False: state left by a source removed from the config, or @rules
    last_poll_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    rate_limit_reset_at: datetime | None
    next_poll_at: datetime | None
    items_total: int
    lease_owner: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Status:
    at: datetime
    sources: list[SourceHealth]
    outbox: dict[str, int]
    oldest_due_at: datetime | None
    cases: dict[str, int]
    sla_breaches_open: int
    usage_today: dict[str, int]
    problems: list[str] = field(default_factory=list)
    # Operations alerts active at the last health check (monitor.health_alerts).
    alerts: list[ActiveAlert] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems


def collect(rt: Runtime) -> Status:
    now = rt.clock.now()
    configured = {s.name for s in rt.settings.sources if s.enabled}
    with rt.sessions() as session:
        sources = read_sources(session, configured)
        outbox = dict(
            session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all()
        )
        oldest_due = session.scalar(
            select(func.min(ActionRow.next_attempt_at)).where(
                ActionRow.status.in_([ActionStatus.PENDING.value, ActionStatus.FAILED.value])
            )
        )
        by_state = dict(
            session.execute(select(Case.state, func.count()).group_by(Case.state)).all()
        )
        breaches = session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.sla_breached_at.is_not(None), Case.state.in_(cases.OPEN_STATES))
        )
        usage = dict(
            session.execute(
                select(Usage.key, Usage.count).where(Usage.day == f"{now:%Y-%m-%d}")
            ).all()
        )
    status = Status(now, sources, outbox, oldest_due, by_state, int(breaches or 0), usage)
    status.problems.extend(_problems(status, configured, now))
    with rt.sessions() as session:
        alerts_row = session.get(SourceState, ALERTS_STATE)
        status.alerts.extend(decode(alerts_row.details) if alerts_row else [])
    return status


def read_sources(session: Session, configured: set[str]) -> list[SourceHealth]:
    """Every configured source and every stored source state, by name (also the
    dashboard's health page)."""
    # The @alerts row holds the health job's state, not a source's (monitor.alerting).
    query = select(SourceState).where(SourceState.name != ALERTS_STATE)
    states = {row.name: row for row in session.scalars(query)}
    return [
        _health(name, states.get(name), name in configured)
        for name in sorted(configured | set(states))
    ]


def _health(name: str, row: SourceState | None, configured: bool) -> SourceHealth:
    if row is None:
        return SourceHealth(name, configured, None, None, 0, None, None, None, 0, None, {})
    return SourceHealth(
        name,
        configured,
        row.last_poll_at,
        row.last_success_at,
        row.consecutive_failures,
        row.last_error,
        row.rate_limit_reset_at,
        row.next_poll_at,
        row.items_total,
        row.lease_owner,
        dict(row.details or {}),
    )


def _problems(status: Status, configured: set[str], now: datetime) -> list[str]:
    problems = []
    for source in status.sources:
        if not source.configured:
            if source.name == RULES_STATE and source.last_error:
                problems.append(f"rules: last reload failed: {source.last_error}")
            continue
        if source.next_poll_at is not None and source.next_poll_at > now + STOPPED_AFTER:
            problems.append(f"source {source.name}: stopped: {source.last_error}")
        elif source.consecutive_failures >= FAILURES_UNHEALTHY:
            problems.append(
                f"source {source.name}: {source.consecutive_failures} failed polls in a row: "
                f"{source.last_error}"
            )
    if status.oldest_due_at is not None and now - status.oldest_due_at > BACKLOG_UNHEALTHY:
        minutes = int((now - status.oldest_due_at).total_seconds() // 60)
        problems.append(f"outbox: an action has been due for {minutes} min")
    return problems
