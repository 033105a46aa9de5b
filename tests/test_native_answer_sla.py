"""A person answering on X itself, as the brand, instead of from the dashboard: the
answer counts as the brand's response (its SLA clock stops), as a dashboard reply does.
Replay source, recording responder, FakeClock."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from monitor.pipeline import check_sla, run_cycle
from monitor.runtime import Runtime
from monitor.store.models import Case, Event
from monitor.web.reports import build_report
from tests.conftest import RuntimeFactory, mention
from tests.test_pipeline import append

ANN = {"author": "ann", "author_id": "7", "author_name": "Ann"}
# The shipped rules escalate it to care with no bot reply: the team must answer.
LATE = "@acme my order is late, I am calling my lawyer"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _answer_on_x(rt: Runtime, n: int, answered: str) -> datetime:
    """@acmehelp replies to ``answered`` on X, now; the post comes back as the brand's own."""
    now: datetime = rt.clock.now()
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    text = "@ann sorry about that, Ann: it ships today, tracking in your DMs"
    append(rt, mention(n, text, **own, in_reply_to=answered, created_at=_iso(now)))
    return now


def _case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def _events(rt: Runtime, kind: str) -> list[Event]:
    with rt.sessions() as session:
        return list(session.scalars(select(Event).where(Event.kind == kind)))


def _escalated(make_runtime: RuntimeFactory) -> Runtime:
    rt = make_runtime([mention(1, LATE, **ANN, created_at="2026-11-20T09:00:00Z")])
    run_cycle(rt)
    case = _case(rt)
    assert (case.state, case.team, case.first_response_at) == ("awaiting_human", "care", None)
    assert case.sla_due_at is not None
    return rt


def test_an_escalated_case_answered_on_x_stops_its_clock_and_waits_on_the_customer(
    make_runtime: RuntimeFactory,
) -> None:
    # The team answered on X within the hour; the case kept its clock, breached at the
    # deadline (an alert to the team about a customer already answered), showed as
    # breached in the reports, and stayed in the team's queue.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=20)
    answered_at = _answer_on_x(rt, 2, "1001")
    rt.clock.advance(minutes=5)  # the search brings the post in a little later
    run_cycle(rt)
    case = _case(rt)
    assert case.first_response_at == answered_at
    assert case.state == "waiting_customer"
    rt.clock.advance(hours=3)
    check_sla(rt)
    assert _events(rt, "sla_breached") == []
    (care,) = [a for a in build_report(rt).sla if a.team == "care"]
    assert (care.met, care.breached, care.pending) == (1, 0, 0)
    by_who = {t.group: t.count for t in build_report(rt).first_response}
    assert by_who.get("by human") == 1
    assert "by bot" not in by_who


def test_a_follow_up_answered_on_x_stops_the_next_response_clock(
    make_runtime: RuntimeFactory,
) -> None:
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=10)
    _answer_on_x(rt, 2, "1001")
    run_cycle(rt)
    rt.clock.advance(minutes=30)
    later = {"conversation_id": "1001", "in_reply_to": "1002"}
    append(
        rt,
        mention(
            3,
            "@acme still nothing here, my lawyer is next",
            **ANN,
            **later,
            created_at=_iso(rt.clock.now()),
        ),
    )
    run_cycle(rt)
    case = _case(rt)
    assert case.follow_up_at is not None
    assert case.state != "waiting_customer"
    rt.clock.advance(minutes=10)
    _answer_on_x(rt, 4, "1003")
    run_cycle(rt)
    case = _case(rt)
    assert case.follow_up_at is None
    assert case.state == "waiting_customer"
    rt.clock.advance(hours=3)
    check_sla(rt)
    assert _events(rt, "sla_breached") == []


def test_a_case_answered_on_x_and_reopened_keeps_its_opening_and_first_response(
    make_runtime: RuntimeFactory,
) -> None:
    # Answered on X before the bot decided (the case waits on the customer) and then
    # reopened by the customer: with no first response counted, the reopening moved
    # the case's opening to then, and the reports timed its resolution and its first
    # answer from the customer's second message.
    rt = make_runtime(
        [mention(1, "@acme thanks, love the new app", **ANN, created_at="2026-11-20T09:00:00Z")]
    )
    answered_at = _answer_on_x(rt, 2, "1001")
    run_cycle(rt)
    case = _case(rt)
    opened = case.opened_at
    assert (case.state, case.first_response_at) == ("waiting_customer", opened)
    rt.clock.advance(hours=1)
    later = {"conversation_id": "1001", "in_reply_to": "1002"}
    append(rt, mention(3, "@acme one more thing", **ANN, **later, created_at=_iso(rt.clock.now())))
    run_cycle(rt)
    case = _case(rt)
    assert case.opened_at == opened
    assert case.first_response_at == max(opened, answered_at)
