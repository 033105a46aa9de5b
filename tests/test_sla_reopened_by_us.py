"""SLA clocks of a resolved case brought back to life by us, not by the customer: a bot
reply that dies after a person closed the case, or a person replying to the closed
case. Through the real pipeline (replay source, scripted responder, FakeClock), on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from monitor import casework_actions, casework_replies, triage
from monitor.domain import ActionStatus, CaseState, Platform
from monitor.pipeline import check_sla, dispatch_outbox, poll_source, process_pending, run_cycle
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.models import ActionRow, Case, Event
from monitor.web.reports import build_report
from tests.conftest import REPO, RuntimeFactory, mention
from tests.fakes import ScriptedResponder, permanent, temporary

NOW = "2026-11-20T09:00:00Z"  # FakeClock's start
# The shipped rules answer it and hand it to tech (60 minutes, the default).
OUTAGE = "@acme the app is down"
ABUSE = "@acme you are idiots"  # escalated to care, no reply
OTHERS = [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]


def _attainment(rt: Runtime) -> dict[str, tuple[int, int, int]]:
    return {a.team: (a.met, a.breached, a.pending) for a in build_report(rt).sla}


def _case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case).where(Case.id == 1)).one()


def _overdue_alerts(rt: Runtime) -> int:
    with rt.sessions() as session:
        return len(session.scalars(select(Event).where(Event.kind == "sla_breached")).all())


def _outage_reply_failing(make_runtime: RuntimeFactory) -> tuple[Runtime, ScriptedResponder]:
    """C-1001, tech's, its bot reply failed once and waiting for its retry."""
    rt = make_runtime([mention(1, OUTAGE, created_at=NOW)])
    responder = ScriptedResponder()
    rt.responders[Platform.X] = responder
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(temporary())
    dispatch_outbox(rt)
    return rt, responder


def _reply_dies(rt: Runtime, responder: ScriptedResponder) -> None:
    responder.fail_next(permanent())
    dispatch_outbox(rt)
    with rt.sessions() as session:
        assert session.scalars(select(ActionRow.status)).one() == ActionStatus.DEAD


def test_a_reply_dying_after_a_person_closed_the_case_in_time_starts_a_fresh_clock(
    make_runtime: RuntimeFactory,
) -> None:
    # Closed ten minutes in, well before tech's one-hour deadline; the bot's reply, still
    # being retried, died two hours later. Handed back to tech, the case kept its old
    # deadline: "first response overdue" at once, and the report counted a breach.
    rt, responder = _outage_reply_failing(make_runtime)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    _reply_dies(rt, responder)
    case = _case(rt)
    assert (case.state, case.team, case.missed_due_at) == (CaseState.AWAITING_HUMAN, "tech", None)
    assert case.sla_due_at == rt.clock.now() + timedelta(minutes=60)
    check_sla(rt)
    assert _overdue_alerts(rt) == 0
    assert _attainment(rt) == {"tech": (0, 0, 1)}
    rt.clock.advance(minutes=61)  # type: ignore[attr-defined]
    check_sla(rt)  # the fresh deadline is a real one
    assert _overdue_alerts(rt) == 1
    assert _attainment(rt) == {"tech": (0, 1, 0)}


def test_a_reply_dying_after_a_late_close_keeps_the_breach_the_team_made(
    make_runtime: RuntimeFactory,
) -> None:
    # Closed unanswered two hours in, past the deadline: that breach stands, and the
    # new clock for the queue does not undo it however fast the team answers now.
    rt, responder = _outage_reply_failing(make_runtime)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    due = _case(rt).sla_due_at
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    _reply_dies(rt, responder)
    case = _case(rt)
    assert (case.state, case.missed_due_at) == (CaseState.AWAITING_HUMAN, due)
    assert case.sla_due_at == rt.clock.now() + timedelta(minutes=60)
    check_sla(rt)
    assert _overdue_alerts(rt) == 0
    casework_replies.reply(rt, "C-1001", "Sorry, we are on it.", user="lena")
    dispatch_outbox(rt)
    assert _attainment(rt) == {"tech": (0, 1, 0)}


def _answered_then_closed(make_runtime: RuntimeFactory) -> tuple[Runtime, ScriptedResponder]:
    """C-1001 answered by lena while the bot's reply waited for its retry, then closed:
    it owes nothing, and the bot's reply (action 1) is still to go."""
    rt, responder = _outage_reply_failing(make_runtime)
    casework_replies.reply(rt, "C-1001", "Sorry, we are on it.", user="lena")
    dispatch_outbox(rt)  # the bot's retry is not due yet: only lena's goes out
    assert [text for _, _, text in responder.posts] == ["Sorry, we are on it."]
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    return rt, responder


def _events_since(rt: Runtime, kind: str, since: datetime) -> list[Event]:
    with rt.sessions() as session:
        query = select(Event).where(Event.case_id == 1, Event.kind == kind, Event.at >= since)
        return list(session.scalars(query))


def test_a_bot_reply_dying_on_a_case_closed_owing_nothing_leaves_it_closed(
    make_runtime: RuntimeFactory,
) -> None:
    # The customer had lena's answer and the case was closed; the bot's extra reply then
    # died (the thread locked). The case came back to tech's queue, awaiting_human with no
    # deadline, for an answer nobody owed.
    rt, responder = _answered_then_closed(make_runtime)
    closed = _case(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    responder.fail_next(permanent("403 the thread is locked"))
    dispatch_outbox(rt)
    case = _case(rt)
    assert (case.state, case.resolved_at, case.sla_due_at) == (
        CaseState.RESOLVED,
        closed.resolved_at,
        closed.sla_due_at,
    )
    assert _events_since(rt, "state", rt.clock.now()) == []
    (failed,) = _events_since(rt, "send_failed", rt.clock.now())
    assert (failed.detail["action"], failed.detail["error"]) == (1, "403 the thread is locked")
    assert _attainment(rt) == {"tech": (1, 0, 0)}
    # Still a dead action a lead can send again; the case stays closed once it is out.
    assert triage.retry_action(rt, 1, user="lena") is not None
    dispatch_outbox(rt)
    assert len(responder.posts) == 2
    assert _case(rt).state == CaseState.RESOLVED


def test_the_status_docs_say_where_a_dead_reply_nobody_is_told_of_shows(
    make_runtime: RuntimeFactory,
) -> None:
    # docs/operations.md said of every dead reply that its case "is handed to a person,
    # whose notification this is", so status need not report it: one extra to a case
    # that owes nothing is handed to nobody and notifies nobody.
    rt, responder = _answered_then_closed(make_runtime)
    responder.fail_next(permanent("403 the thread is locked"))
    dispatch_outbox(rt)
    assert _case(rt).state == CaseState.RESOLVED
    with rt.sessions() as session:
        kinds = session.scalars(select(ActionRow.kind).where(ActionRow.id != 1)).all()
    assert "notify" not in kinds
    assert not [line for line in collect(rt).problems if "action 1" in line]
    docs = " ".join((REPO / "docs" / "operations.md").read_text(encoding="utf-8").split())
    said = docs.split("A dead reply is not a problem here", 1)[1].split(";", 1)[0]
    assert "owes nothing" in said, said


def test_a_persons_reply_dying_on_a_case_closed_owing_nothing_reopens_it(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot's reply answered the case; lena's own words, sent as she closed it, never
    # reached the customer: they go back to a person, as before.
    rt = make_runtime([mention(1, OUTAGE, created_at=NOW)])
    responder = ScriptedResponder()
    rt.responders[Platform.X] = responder
    run_cycle(rt)
    casework_replies.reply(rt, "C-1001", "Your refund is on its way.", user="lena")
    casework_actions.resolve(rt, "C-1001", user="lena")
    responder.fail_next(permanent("403 the thread is locked"))
    dispatch_outbox(rt)
    case = _case(rt)
    assert (case.state, case.team) == (CaseState.AWAITING_HUMAN, "tech")


def _abuse_escalated(make_runtime: RuntimeFactory) -> Runtime:
    """C-1001, care's (one hour), unanswered."""
    teams = [{"name": "care", "first_response_minutes": 60}, *OTHERS]
    rt = make_runtime([mention(1, ABUSE, created_at=NOW)], teams=teams)
    run_cycle(rt)
    return rt


def test_a_person_replying_to_a_case_closed_in_time_raises_no_overdue_alert(
    make_runtime: RuntimeFactory,
) -> None:
    # Closed in time, unanswered; a person answered it anyway the next day. Reopened as
    # `replied` with the old deadline, check_sla called the first response overdue
    # before it went out, and the report counted the answer against that deadline.
    rt = _abuse_escalated(make_runtime)
    rt.clock.advance(minutes=10)  # type: ignore[attr-defined]
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    case = _case(rt)
    assert (case.state, case.missed_due_at) == (CaseState.REPLIED, None)
    assert case.sla_due_at == rt.clock.now() + timedelta(minutes=60)
    check_sla(rt)
    assert _overdue_alerts(rt) == 0
    dispatch_outbox(rt)
    assert _attainment(rt) == {"care": (1, 0, 0)}


def test_a_person_replying_to_a_case_closed_late_keeps_the_breach_and_alerts_no_more(
    make_runtime: RuntimeFactory,
) -> None:
    rt = _abuse_escalated(make_runtime)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    check_sla(rt)  # the real breach, alerted while the case waited
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "Sorry, which order is it?", user="lena")
    assert _case(rt).missed_due_at is not None
    check_sla(rt)
    assert _overdue_alerts(rt) == 1
    dispatch_outbox(rt)
    assert _attainment(rt) == {"care": (0, 1, 0)}
