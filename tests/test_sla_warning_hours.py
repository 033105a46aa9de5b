"""The SLA warning counts business time, as the deadline it warns of does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from monitor.domain import CaseState
from monitor.pipeline import check_sla
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer
from tests.conftest import RuntimeFactory

FRIDAY = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # London is on GMT: 16:30 local
MONDAY_DUE = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)  # 60 business minutes later


def office_team(make_runtime: RuntimeFactory, warning: int | None, deadline: int = 60) -> Runtime:
    """Care, open 09:00-17:00 on weekdays; ``warning`` None leaves it out of the config."""
    care: dict[str, Any] = {
        "name": "care",
        "first_response_minutes": deadline,
        "timezone": "Europe/London",
        "business_hours": {"mon-fri": "09:00-17:00"},
        "channels": ["care-chat"],
    }
    if warning is not None:
        care["sla_warning_minutes"] = warning
    channels = {"care-chat": {"url": "json://127.0.0.1:9/hook"}}  # never sent here
    teams = [care, {"name": "tech"}, {"name": "billing"}, {"name": "international"}]
    rt = make_runtime(teams=teams, channels=channels)
    rt.clock.set(FRIDAY)  # type: ignore[attr-defined]
    return rt


def waiting_case(rt: Runtime, due: datetime) -> None:
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        customer = Customer(
            platform="x",
            platform_user_id="9",
            handle="waiting",
            first_seen_at=now,
            last_seen_at=now,
        )
        session.add(customer)
        session.flush()
        session.add(
            Case(
                platform="x",
                conversation_id="friday",
                customer_id=customer.id,
                state=CaseState.AWAITING_HUMAN.value,
                team="care",
                tags=[],
                opened_at=now,
                updated_at=now,
                sla_due_at=due,
            )
        )


def warned_at(rt: Runtime) -> datetime | None:
    with rt.sessions() as session:
        return session.scalars(select(Case.sla_warned_at)).one()


def test_the_warning_counts_business_minutes_before_the_deadline(
    make_runtime: RuntimeFactory,
) -> None:
    # Due Monday 09:30; 45 business minutes before it is Friday 16:45 (15 on Friday, 30
    # on Monday). Counted on the wall clock the warning came on Monday at 08:45, before
    # the team opened, with half an hour left instead of three quarters.
    rt = office_team(make_runtime, warning=45)
    waiting_case(rt, MONDAY_DUE)
    rt.clock.set(FRIDAY + timedelta(minutes=14))  # type: ignore[attr-defined]
    check_sla(rt)
    assert warned_at(rt) is None
    rt.clock.set(FRIDAY + timedelta(minutes=15))  # type: ignore[attr-defined]
    check_sla(rt)
    assert warned_at(rt) == FRIDAY + timedelta(minutes=15)
    with rt.sessions() as session:
        (alert,) = session.scalars(select(ActionRow.text)).all()
    assert "first response due in 45 business min, at 2026-11-23 09:30 UTC" in alert


def test_a_warning_inside_the_opening_hour_waits_for_it(make_runtime: RuntimeFactory) -> None:
    # 15 business minutes before Monday 09:30 is Monday 09:15: not Friday night, and
    # not the weekend (the wall clock's 15 minutes were Monday 09:15 too).
    rt = office_team(make_runtime, warning=15)
    waiting_case(rt, MONDAY_DUE)
    for moment in ("2026-11-20T17:00", "2026-11-22T23:59", "2026-11-23T09:14"):
        rt.clock.set(datetime.fromisoformat(moment).replace(tzinfo=UTC))  # type: ignore[attr-defined]
        check_sla(rt)
        assert warned_at(rt) is None, moment
    rt.clock.set(datetime(2026, 11, 23, 9, 15, tzinfo=UTC))  # type: ignore[attr-defined]
    check_sla(rt)
    assert warned_at(rt) == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def test_a_short_deadline_left_at_the_default_warning_is_warned_at_half_of_it(
    make_runtime: RuntimeFactory,
) -> None:
    # A 10-minute deadline with the default 15-minute warning was warned of as the case
    # was escalated. Half of it, 5 business minutes, before Monday 09:04 is Friday 16:59
    # (1 on Friday, 4 on Monday).
    rt = office_team(make_runtime, warning=None, deadline=10)
    waiting_case(rt, datetime(2026, 11, 23, 9, 4, tzinfo=UTC))
    rt.clock.set(datetime(2026, 11, 20, 16, 58, tzinfo=UTC))  # type: ignore[attr-defined]
    check_sla(rt)
    assert warned_at(rt) is None
    rt.clock.set(datetime(2026, 11, 20, 16, 59, tzinfo=UTC))  # type: ignore[attr-defined]
    check_sla(rt)
    assert warned_at(rt) == datetime(2026, 11, 20, 16, 59, tzinfo=UTC)
    with rt.sessions() as session:
        (alert,) = session.scalars(select(ActionRow.text)).all()
    assert "first response due in 5 business min, at 2026-11-23 09:04 UTC" in alert


def test_a_one_minute_deadline_left_at_the_default_warning_is_not_warned_of(
    make_runtime: RuntimeFactory,
) -> None:
    # Half a minute rounds down to none: the warning came with the escalation before,
    # a minute ahead of the breach alert.
    rt = office_team(make_runtime, warning=None, deadline=1)
    waiting_case(rt, FRIDAY + timedelta(minutes=1))
    check_sla(rt)
    assert warned_at(rt) is None
    rt.clock.set(FRIDAY + timedelta(minutes=2))  # type: ignore[attr-defined]
    check_sla(rt)
    assert warned_at(rt) is None
    with rt.sessions() as session:
        (alert,) = session.scalars(select(ActionRow.text)).all()
        breached = session.scalars(select(Case.sla_breached_at)).one()
    assert breached == FRIDAY + timedelta(minutes=2)
    assert "first response overdue since 2026-11-20 16:31 UTC" in alert
