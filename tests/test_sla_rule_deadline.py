"""A rule's own deadline (escalate: sla_minutes) gets its warning before it, as the team's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import cases, sla, triage
from monitor.domain import CaseState
from monitor.pipeline import check_sla, run_cycle
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer
from tests.conftest import RuntimeFactory, mention
from tests.rulekit import write

# London is on GMT: 16:54 local, six business minutes before care closes for the weekend.
WROTE = datetime(2026, 11, 20, 16, 54, tzinfo=UTC)

RULE = """
name: outage
match: {text: outage}
then:
  escalate: {team: care, sla_minutes: %d}
"""


def escalated(make_runtime: RuntimeFactory, tmp_path: Path, sla_minutes: int) -> Runtime:
    """Care (a 60-minute deadline, the default 15-minute warning, open 09:00-17:00 on
    weekdays) is handed a case at Friday 16:54 by a rule with its own deadline."""
    write(tmp_path / "rules", RULE % sla_minutes)
    care: dict[str, Any] = {
        "name": "care",
        "first_response_minutes": 60,
        "timezone": "Europe/London",
        "business_hours": {"mon-fri": "09:00-17:00"},
        "channels": ["care-chat"],
    }
    teams = [care, {"name": "tech"}, {"name": "billing"}, {"name": "international"}]
    rows = [mention(1, "@acme is there an outage?", created_at=WROTE.isoformat())]
    rt = make_runtime(
        rows,
        rules={"path": str(tmp_path / "rules")},
        teams=teams,
        channels={"care-chat": {"url": "json://127.0.0.1:9/hook"}},  # never sent here
    )
    rt.clock.set(WROTE)  # type: ignore[attr-defined]
    run_cycle(rt)  # escalates, and runs check_sla
    return rt


def marks(rt: Runtime) -> tuple[datetime | None, datetime | None, datetime | None]:
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        return case.sla_due_at, case.sla_warned_at, case.sla_breached_at


def sla_alerts(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        texts = session.scalars(select(ActionRow.text).where(ActionRow.text.contains("SLA")))
        return list(texts)


def at(rt: Runtime, moment: datetime) -> None:
    rt.clock.set(moment)  # type: ignore[attr-defined]
    check_sla(rt)


def test_a_rule_deadline_shorter_than_the_teams_warning_is_warned_at_half_of_it(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # 10 business minutes from Friday 16:54 is Monday 09:04 (6 on Friday, 4 on Monday).
    # The team's 15-minute warning reached that deadline at once: "due in 10 min" came
    # with the escalation itself. Half of the rule's 10, 5 business minutes before Monday
    # 09:04, is Friday 16:59.
    rt = escalated(make_runtime, tmp_path, sla_minutes=10)
    due = datetime(2026, 11, 23, 9, 4, tzinfo=UTC)
    assert marks(rt) == (due, None, None)
    at(rt, datetime(2026, 11, 20, 16, 58, tzinfo=UTC))
    assert marks(rt) == (due, None, None)
    at(rt, datetime(2026, 11, 20, 16, 59, tzinfo=UTC))
    assert marks(rt) == (due, datetime(2026, 11, 20, 16, 59, tzinfo=UTC), None)
    (alert,) = sla_alerts(rt)
    assert "first response due in 5 business min, at 2026-11-23 09:04 UTC" in alert


def test_a_one_minute_rule_deadline_gets_no_warning_only_its_breach(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Half a minute rounds down to none, as for a team's own 1-minute deadline.
    rt = escalated(make_runtime, tmp_path, sla_minutes=1)
    due = WROTE + timedelta(minutes=1)
    at(rt, due)
    assert marks(rt) == (due, None, None)
    at(rt, due + timedelta(minutes=1))
    assert marks(rt) == (due, None, due + timedelta(minutes=1))
    (alert,) = sla_alerts(rt)
    assert "overdue" in alert


@pytest.mark.parametrize(
    ("sla_minutes", "warned"),
    [
        (16, datetime(2026, 11, 20, 16, 55, tzinfo=UTC)),
        (15, datetime(2026, 11, 23, 9, 2, tzinfo=UTC)),
    ],
)
def test_a_rule_deadline_keeps_the_teams_warning_only_while_it_is_longer(
    make_runtime: RuntimeFactory, tmp_path: Path, sla_minutes: int, warned: datetime
) -> None:
    # 16 minutes: the team's 15 still come a minute after the escalation (at Friday
    # 16:55, for Monday 09:10). 15 minutes: the team's 15 would come at the escalation
    # itself; half of it, 7 business minutes before Monday 09:09, is Monday 09:02.
    rt = escalated(make_runtime, tmp_path, sla_minutes=sla_minutes)
    assert marks(rt)[1] is None
    at(rt, warned - timedelta(minutes=1))
    assert marks(rt)[1] is None
    at(rt, warned)
    assert marks(rt)[1] == warned


def test_a_team_change_drops_the_rules_warning_with_its_deadline(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # Tech (24/7, a 60-minute deadline, the default 15-minute warning) takes the case a
    # minute after the rule: due 17:54, from when the answer was owed, warned at 17:39.
    # The rule's warning instant (16:59) left behind warned tech of a deadline an hour off.
    rt = escalated(make_runtime, tmp_path, sla_minutes=10)
    rt.clock.set(WROTE + timedelta(minutes=1))  # type: ignore[attr-defined]
    triage.set_team(rt, "C-1001", "tech", user="lena")
    due = WROTE + timedelta(minutes=60)
    at(rt, datetime(2026, 11, 20, 16, 59, tzinfo=UTC))
    assert marks(rt) == (due, None, None)
    at(rt, due - timedelta(minutes=15))
    assert marks(rt) == (due, due - timedelta(minutes=15), None)


def test_an_earlier_follow_up_moves_the_rules_warning_back_with_its_deadline() -> None:
    # A follow-up stored after a newer one moves the deadline back as much, in business
    # time, keeping a rule's tighter target; its warning stays as far before it.
    hours = {"timezone": "Europe/London", "business_hours": {"mon-fri": "09:00-17:00"}}
    settings = Settings.model_validate(
        {"brand": {"name": "Acme"}, "teams": [{"name": "care", **hours}]}
    )
    (care,) = settings.teams
    case = Case(team="care", opened_at=WROTE - timedelta(days=1))
    case.first_response_at = case.follow_up_at = WROTE  # answered, then a follow-up
    cases.set_deadline(case, care, WROTE, 10)
    assert (case.sla_warn_from, case.sla_due_at) == (
        datetime(2026, 11, 20, 16, 59, tzinfo=UTC),
        datetime(2026, 11, 23, 9, 4, tzinfo=UTC),
    )
    cases.owe_since_earlier(settings, case, WROTE - timedelta(minutes=4))
    assert (case.sla_warn_from, case.sla_due_at) == (
        datetime(2026, 11, 20, 16, 55, tzinfo=UTC),
        datetime(2026, 11, 20, 17, 0, tzinfo=UTC),  # ten business minutes from 16:50
    )


def test_cases_waiting_for_their_own_warning_leave_the_batch_to_those_warned_now(
    make_runtime: RuntimeFactory,
) -> None:
    # A batch of rule deadlines due in 10 minutes, warned in 5, sorts before a case due in
    # 12 and inside the team's 15-minute warning now. Selected by the team's warning,
    # they filled every batch, were not warned, and that case never was either.
    rt = make_runtime()
    now = rt.clock.now()
    due = [("care", now + timedelta(minutes=10), now + timedelta(minutes=5))] * sla.BATCH
    add_waiting_cases(rt, [*due, ("care", now + timedelta(minutes=12), None)])
    assert check_sla(rt) is False
    assert warned_deadlines(rt) == [now + timedelta(minutes=12)]


def test_cases_of_a_team_no_longer_configured_leave_the_batch_until_their_breach(
    make_runtime: RuntimeFactory,
) -> None:
    # A team renamed in the config leaves its cases' own warning instants behind, and
    # check_sla warns only for a configured team. Selected by their own warning anyway,
    # they filled every batch until their deadlines passed (over a weekend, with
    # business hours), and a care case inside its warning behind them was never warned.
    rt = make_runtime()
    now = rt.clock.now()
    due = [("old-care", now + timedelta(minutes=10), now - timedelta(minutes=1))] * sla.BATCH
    add_waiting_cases(rt, [*due, ("care", now + timedelta(minutes=12), None)])
    assert check_sla(rt) is False
    assert warned_deadlines(rt) == [now + timedelta(minutes=12)]


def add_waiting_cases(rt: Runtime, due: list[tuple[str, datetime, datetime | None]]) -> None:
    """One customer's cases waiting on a team: (team, sla_due_at, sla_warn_from) each."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        customer = Customer(
            platform="x", platform_user_id="9", handle="c", first_seen_at=now, last_seen_at=now
        )
        session.add(customer)
        session.flush()
        session.add_all(
            Case(
                platform="x",
                conversation_id=str(i),
                customer_id=customer.id,
                state=CaseState.AWAITING_HUMAN.value,
                team=team,
                tags=[],
                opened_at=now,
                updated_at=now,
                sla_due_at=due_at,
                sla_warn_from=warn_from,
            )
            for i, (team, due_at, warn_from) in enumerate(due)
        )


def warned_deadlines(rt: Runtime) -> list[datetime]:
    with rt.sessions() as session:
        query = select(Case.sla_due_at).where(Case.sla_warned_at.is_not(None))
        return list(session.scalars(query))
