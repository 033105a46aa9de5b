"""The next-response clock: a customer writing again after the brand answered, through the
real pipeline (replay source, recording responder, FakeClock)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from monitor import casework_actions, casework_drafts, casework_replies, status, triage
from monitor.domain import Action, ActionKind, ActionStatus, CaseState, Platform
from monitor.pipeline import check_sla, dispatch_outbox, poll_source, process_pending, run_cycle
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, Event
from monitor.web.queue import QueueFilter, load_queue
from monitor.web.reports import build_report
from monitor.web.users import User
from responders.base import ResponderError, SendResult
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.fakes import ScriptedResponder, permanent

REF = "C-1001"
CARE = {"name": "care", "first_response_minutes": 60, "sla_warning_minutes": 15}
OTHERS = [
    {"name": "tech"},
    {"name": "billing"},
    {"name": "international", "first_response_minutes": 240},
]
# The shipped rules decide nothing for this one: the team has to answer it.
PLAIN = "@acme ok, the order number is 5512"


@dataclass
class Thread:
    """One customer's thread on X, written line by line into the replay feed."""

    rt: Runtime
    feed: Path
    said: int = 0

    def say(self, text: str, *, at: datetime | None = None, **extra: Any) -> None:
        """user1 writes in thread 1001, created now unless ``at``."""
        self.said += 1
        created = (at or self.rt.clock.now()).isoformat()
        row = mention(1, text, id=f"1001-{self.said}", created_at=created, **extra)
        with self.feed.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")

    def advance(self, **delta: float) -> datetime:
        return self.rt.clock.advance(**delta)  # type: ignore[attr-defined,no-any-return]

    def case(self) -> Case:
        with self.rt.sessions() as session:
            return session.scalars(select(Case).order_by(Case.id)).first()  # type: ignore[return-value]

    def sla_events(self) -> list[tuple[str, dict[str, Any]]]:
        with self.rt.sessions() as session:
            query = select(Event.kind, Event.detail).where(Event.kind.like("sla_%"))
            return [(kind, detail) for kind, detail in session.execute(query.order_by(Event.id))]


def escalated(
    make_runtime: RuntimeFactory, care: dict[str, Any] = CARE, **overrides: Any
) -> Thread:
    """An abusive mention escalated to care, not answered yet."""
    rt = make_runtime(teams=[care, *OTHERS], **overrides)
    thread = Thread(rt, Path(rt.settings.source("feed").path))  # type: ignore[union-attr]
    thread.say("@acme you are idiots")
    run_cycle(rt)
    return thread


def answered(make_runtime: RuntimeFactory, care: dict[str, Any] = CARE, **overrides: Any) -> Thread:
    """An abusive mention escalated to care, answered by a person five minutes later."""
    thread = escalated(make_runtime, care, **overrides)
    rt = thread.rt
    thread.advance(minutes=5)
    casework_replies.reply(rt, REF, "Sorry about that. Which order is it?", user="lena")
    dispatch_outbox(rt)
    case = thread.case()
    assert case.first_response_at == rt.clock.now()
    assert case.state == CaseState.WAITING_CUSTOMER.value
    return thread


def follow_up(
    thread: Thread, text: str = PLAIN, *, at: datetime | None = None, **extra: Any
) -> datetime:
    """The customer writes again, polled a day later; returns when they wrote."""
    now = thread.advance(days=1)
    thread.say(text, at=at, **extra)
    run_cycle(thread.rt)
    return at or now


@pytest.mark.parametrize(
    "text",
    [PLAIN, "@acme you are still idiots"],
    ids=["no rule decides", "a rule escalates again"],
)
def test_a_follow_up_after_an_answer_gets_the_team_clock(
    make_runtime: RuntimeFactory, text: str
) -> None:
    chat = {"chat": {"url": "json://127.0.0.1:9/hook"}}  # nothing listens: alerts wait
    thread = answered(make_runtime, {**CARE, "channels": ["chat"]}, channels=chat)
    first = thread.case()
    wrote = follow_up(thread, text)
    case = thread.case()
    assert case.state != CaseState.WAITING_CUSTOMER.value
    assert case.follow_up_at == wrote
    assert case.sla_due_at == wrote + timedelta(minutes=60)
    # The first response and what reports count from are untouched.
    assert (case.opened_at, case.first_response_at) == (first.opened_at, first.first_response_at)
    thread.advance(minutes=44)
    check_sla(thread.rt)
    assert thread.sla_events() == []
    thread.advance(minutes=2)
    check_sla(thread.rt)
    thread.advance(minutes=15)
    check_sla(thread.rt)
    check_sla(thread.rt)
    due = case.sla_due_at.isoformat()
    assert thread.sla_events() == [
        ("sla_warning", {"due": due, "response": "next"}),
        ("sla_breached", {"due": due, "response": "next"}),
    ]
    alerts = notices(thread.rt, "%SLA next response overdue since%")
    assert len(alerts) == 1


def notices(rt: Runtime, like: str) -> list[ActionRow]:
    with rt.sessions() as session:
        query = select(ActionRow).where(
            ActionRow.kind == ActionKind.NOTIFY.value, ActionRow.text.like(like)
        )
        return list(session.scalars(query))


def test_the_brands_reply_stops_the_clock_and_a_later_follow_up_starts_another(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    follow_up(thread)
    thread.advance(minutes=50)
    check_sla(thread.rt)  # warned
    casework_replies.reply(thread.rt, REF, "Thanks, it ships today.", user="lena")
    dispatch_outbox(thread.rt)
    assert thread.case().follow_up_at is None
    thread.advance(hours=3)
    check_sla(thread.rt)
    assert [kind for kind, _ in thread.sla_events()] == ["sla_warning"]
    again = follow_up(thread)
    case = thread.case()
    assert (case.follow_up_at, case.sla_due_at) == (again, again + timedelta(minutes=60))
    assert (case.sla_warned_at, case.sla_breached_at) == (None, None)
    thread.advance(minutes=46)
    check_sla(thread.rt)
    assert [kind for kind, _ in thread.sla_events()] == ["sla_warning", "sla_warning"]


class SomeoneWritesDuringTheSend(ScriptedResponder):
    """Our reply takes 2 s to post; meanwhile a post is written in the thread (by the
    customer unless ``extra`` says otherwise), and another worker stores and decides it
    before our outcome is written."""

    def __init__(self, thread: Thread, text: str, **extra: Any) -> None:
        super().__init__()
        self.thread, self.text, self.extra = thread, text, extra

    def send(self, action: Action) -> SendResult:
        result = super().send(action)
        self.thread.advance(seconds=2)
        self.thread.say(self.text, **self.extra)
        poll_source(self.thread.rt, "feed")
        process_pending(self.thread.rt)
        return result


def reply_while_the_customer_writes(
    thread: Thread,
    text: str,
    meanwhile: str = "@acme that is not my order, it is 7781",
    **extra: Any,
) -> datetime:
    """A person's reply, posted while ``meanwhile`` is written; when it was written."""
    casework_replies.reply(thread.rt, REF, text, user="lena")
    writer = SomeoneWritesDuringTheSend(thread, meanwhile, **extra)
    thread.rt.responders = dict.fromkeys(Platform, writer)
    sending_at = thread.rt.clock.now()
    dispatch_outbox(thread.rt)
    return sending_at + timedelta(seconds=2)


def test_a_follow_up_written_while_our_reply_was_posted_stays_owed(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    follow_up(thread)
    written = reply_while_the_customer_writes(thread, "Thanks, it ships today.")
    case = thread.case()
    assert (case.follow_up_at, case.sla_due_at) == (written, written + timedelta(minutes=60))


def test_a_message_written_while_the_first_response_was_posted_is_owed_an_answer(
    make_runtime: RuntimeFactory,
) -> None:
    thread = escalated(make_runtime)  # nobody has answered yet
    thread.advance(minutes=5)
    written = reply_while_the_customer_writes(thread, "Sorry about that. Which order is it?")
    case = thread.case()
    assert (case.first_response_at, case.follow_up_at) == (thread.rt.clock.now(), written)
    assert case.sla_due_at == written + timedelta(minutes=60)


def test_the_brands_own_post_written_while_our_reply_was_posted_owes_no_answer(
    make_runtime: RuntimeFactory,
) -> None:
    """Another agent answering natively on X while our reply posts: a search brings
    their post in as inbound (kind "own"); it is no customer's follow-up."""
    thread = answered(make_runtime)
    follow_up(thread)
    own = {"author": "acme", "author_id": "1", "kind": "own"}
    reply_while_the_customer_writes(thread, "Thanks, it ships today.", "It is on its way.", **own)
    case = thread.case()
    assert case.follow_up_at is None
    thread.advance(days=1)
    check_sla(thread.rt)
    assert [kind for kind, _ in thread.sla_events()] == []


def test_the_queue_sorts_an_owed_follow_up_by_its_own_deadline(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    thread.advance(days=1)
    # Another customer escalated to care half an hour before the follow-up: due first.
    other = mention(2, "@acme you are idiots", created_at=thread.rt.clock.now().isoformat())
    with thread.feed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(other) + "\n")
    run_cycle(thread.rt)
    thread.advance(minutes=30)
    thread.say(PLAIN)
    run_cycle(thread.rt)
    lead = User(0, "lena", "lead", ("care",))
    rows = load_queue(thread.rt, lead, QueueFilter()).rows
    assert [(row.ref, row.sla_due_at is not None) for row in rows] == [
        ("C-1002", True),
        (REF, True),
    ]
    assert rows[1].sla_due_at == thread.rt.clock.now() + timedelta(minutes=60)


def test_a_follow_up_the_bot_answers_on_its_own_raises_no_warning(
    make_runtime: RuntimeFactory,
) -> None:
    # A clock on it would be inside its warning time at once: check_sla runs between
    # processing and dispatch, and warned about what the bot was answering. Written 5
    # minutes before it is polled, it would be due in 5, within the 9-minute warning.
    care = {"name": "care", "first_response_minutes": 10, "sla_warning_minutes": 9}
    thread = answered(make_runtime, care)
    first_response_warned = thread.sla_events()
    wrote = thread.rt.clock.now() + timedelta(days=1, minutes=-5)
    follow_up(thread, "@acme thank you so much, that was amazing!", at=wrote)
    with thread.rt.sessions() as session:
        replies = session.scalars(select(ActionRow).where(ActionRow.rule == "praise")).all()
    assert [reply.status for reply in replies] == [ActionStatus.SENT.value]
    assert thread.case().follow_up_at is None
    thread.advance(hours=2)
    check_sla(thread.rt)
    assert thread.sla_events() == first_response_warned


def test_a_bot_reply_to_a_follow_up_that_cannot_be_posted_leaves_care_its_clock(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    responder = ScriptedResponder()
    thread.rt.responders = dict.fromkeys(Platform, responder)
    responder.fail_next(permanent())
    wrote = thread.advance(days=1)
    thread.say("@acme thank you so much, that was amazing!")
    thread.advance(minutes=3)  # polled a little later: the customer waits since they wrote
    run_cycle(thread.rt)  # the praise reply dies: care takes over
    case = thread.case()
    assert case.state == CaseState.AWAITING_HUMAN.value
    assert case.sla_due_at == wrote + timedelta(minutes=60)


def test_a_drafted_answer_to_a_follow_up_is_no_answer_until_it_is_posted(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    wrote = follow_up(thread, "@acme can i swap the colour for the blue one")
    case = thread.case()
    assert case.state == CaseState.AWAITING_APPROVAL.value
    assert case.sla_due_at == wrote + timedelta(minutes=60)
    thread.advance(minutes=20)
    casework_drafts.approve(thread.rt, REF, user="lena", text="Yes: reply here with your order.")
    dispatch_outbox(thread.rt)
    assert thread.case().follow_up_at is None
    thread.advance(hours=2)
    check_sla(thread.rt)
    assert thread.sla_events() == []


@pytest.mark.parametrize(
    "kind",
    ["ignored by a rule", "the brand's own post", "written before the brand's reply"],
)
def test_messages_that_owe_no_answer_start_no_clock(
    make_runtime: RuntimeFactory, kind: str
) -> None:
    thread = answered(make_runtime)
    replied = thread.case().first_response_at
    assert replied is not None
    before = thread.case().sla_due_at
    if kind == "ignored by a rule":
        follow_up(thread, "@acme win free followers giveaway")
    elif kind == "the brand's own post":
        follow_up(thread, "We have sent the new one.", author="acme", author_id="1", kind="own")
    else:  # crossed the reply: the reply answers it
        follow_up(thread, PLAIN, at=replied - timedelta(seconds=30))
    case = thread.case()
    assert (case.follow_up_at, case.sla_due_at) == (None, before)
    thread.advance(days=1)
    check_sla(thread.rt)
    assert thread.sla_events() == []


@pytest.mark.parametrize("closed", [True, False], ids=["closed as spam", "tagged spam"])
def test_spam_gets_no_clock(make_runtime: RuntimeFactory, closed: bool) -> None:
    thread = answered(make_runtime)
    if closed:
        triage.mark_spam(thread.rt, REF, user="lena")
    else:
        triage.tag(thread.rt, REF, user="lena", add=("spam",))
    follow_up(thread)
    case = thread.case()
    assert case.state == (CaseState.RESOLVED if closed else CaseState.NEW).value
    assert case.follow_up_at is None
    thread.advance(days=1)
    check_sla(thread.rt)
    assert thread.sla_events() == []


def test_a_follow_up_closed_unanswered_starts_afresh_when_the_customer_writes_again(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    follow_up(thread)
    casework_actions.resolve(thread.rt, REF, user="lena")  # nothing more to say
    again = follow_up(thread, "@acme hello? still there?")
    case = thread.case()
    assert (case.follow_up_at, case.sla_due_at) == (again, again + timedelta(minutes=60))
    check_sla(thread.rt)
    assert thread.sla_events() == []


def test_a_team_change_gives_an_owed_follow_up_the_new_teams_clock(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered(make_runtime)
    wrote = follow_up(thread)
    thread.advance(minutes=10)
    triage.set_team(thread.rt, REF, "international", user="lena")
    assert thread.case().sla_due_at == wrote + timedelta(minutes=240)


def test_reports_keep_the_first_responses_sla_after_a_follow_up(
    make_runtime: RuntimeFactory,
) -> None:
    # Answered after 2 h (care's target: 1 h), then a follow-up answered at once: the
    # follow-up's deadline, met, must not turn the first response's breach into "met".
    rt = make_runtime(teams=[CARE, *OTHERS])
    thread = Thread(rt, Path(rt.settings.source("feed").path))  # type: ignore[union-attr]
    thread.say("@acme you are idiots")
    run_cycle(rt)
    thread.advance(hours=2)
    casework_replies.reply(rt, REF, "Sorry for the wait. Which order is it?", user="lena")
    dispatch_outbox(rt)
    follow_up(thread)
    casework_replies.reply(rt, REF, "Thanks, it ships today.", user="lena")
    dispatch_outbox(rt)
    report = build_report(rt)
    (care,) = [a for a in report.sla if a.team == "care"]
    assert (care.met, care.breached, care.pending) == (0, 1, 0)
    (timing,) = [t for t in report.first_response if t.group == "care"]
    assert timing.median == 120.0


def test_a_bot_reply_to_a_follow_up_held_by_a_rate_limit_starts_the_teams_clock(
    make_runtime: RuntimeFactory,
) -> None:
    # A rate-limited send no longer uses up an attempt, so the reply no longer dies and
    # hands the case over after max_attempts: the X write budget holds it until UTC
    # midnight. Without a clock, care heard nothing of the follow-up all that time.
    thread = answered(make_runtime)
    responder = ScriptedResponder()
    thread.rt.responders = dict.fromkeys(Platform, responder)
    wrote = thread.advance(days=1)
    reset = wrote + timedelta(hours=10)
    held = ResponderError("x reply budget: 50 of 50", retry_after=reset, rate_limited=True)
    responder.fail_next(held)
    thread.say("@acme thank you so much, that was amazing!")
    thread.advance(minutes=3)
    run_cycle(thread.rt)
    with thread.rt.sessions() as session:
        reply = session.scalars(select(ActionRow).where(ActionRow.rule == "praise")).one()
    assert (reply.status, reply.next_attempt_at) == (ActionStatus.FAILED.value, reset)
    case = thread.case()
    assert case.follow_up_at == wrote
    assert case.sla_due_at == wrote + timedelta(minutes=60)
    thread.advance(hours=2)
    check_sla(thread.rt)
    due = case.sla_due_at.isoformat()
    assert thread.sla_events()[-1] == ("sla_breached", {"due": due, "response": "next"})


def test_a_rule_handing_an_unanswered_case_to_another_team_gives_it_that_teams_clock(
    make_runtime: RuntimeFactory,
) -> None:
    # Care was warned about the first response; then the customer writes in German and
    # the rules hand the case to international. Care's deadline and warning mark stayed:
    # international was never warned and was alerted at care's deadline, not its own.
    chat = {"chat": {"url": "json://127.0.0.1:9/hook"}}
    thread = escalated(make_runtime, {**CARE, "channels": ["chat"]}, channels=chat)
    opened = thread.case().opened_at
    thread.advance(minutes=50)
    check_sla(thread.rt)
    thread.say("@acme wo ist meine Bestellung? Ich warte schon seit zwei Wochen darauf")
    run_cycle(thread.rt)
    case = thread.case()
    assert (case.team, case.sla_due_at) == ("international", opened + timedelta(minutes=240))
    assert (case.sla_warned_at, case.sla_breached_at) == (None, None)
    thread.advance(minutes=175)  # 15 min before international's deadline
    check_sla(thread.rt)
    assert [(kind, detail["due"]) for kind, detail in thread.sla_events()] == [
        ("sla_warning", (opened + timedelta(minutes=60)).isoformat()),
        ("sla_warning", (opened + timedelta(minutes=240)).isoformat()),
    ]


def test_a_rule_escalating_again_to_the_same_team_keeps_its_clock(
    make_runtime: RuntimeFactory,
) -> None:
    thread = escalated(make_runtime)
    due = thread.case().sla_due_at
    thread.advance(minutes=50)
    check_sla(thread.rt)
    thread.say("@acme you are still idiots")
    run_cycle(thread.rt)
    check_sla(thread.rt)
    assert thread.case().sla_due_at == due
    assert [kind for kind, _ in thread.sla_events()] == ["sla_warning"]


def test_setting_the_team_a_case_has_already_changes_nothing(
    make_runtime: RuntimeFactory,
) -> None:
    # Two people moving a case to care at once, or a form sent twice: the second change
    # cleared the warning mark, so care was warned twice about one deadline.
    thread = escalated(make_runtime)
    due = thread.case().sla_due_at
    thread.advance(minutes=50)
    check_sla(thread.rt)
    triage.set_team(thread.rt, REF, "care", user="lena")
    check_sla(thread.rt)
    case = thread.case()
    assert (case.sla_due_at, case.sla_warned_at) == (due, due - timedelta(minutes=10))
    assert [kind for kind, _ in thread.sla_events()] == ["sla_warning"]
    with thread.rt.sessions() as session:
        assert session.scalars(select(Event).where(Event.kind == "team")).all() == []


def test_a_teams_case_closed_unanswered_and_reopened_gets_the_teams_clock(
    make_runtime: RuntimeFactory,
) -> None:
    # Care's case, resolved without a reply; days later the customer writes again with
    # nothing a rule escalates. The reopened case waited on care with no deadline at all:
    # first in no queue, never warned, never breached.
    thread = escalated(make_runtime)
    casework_actions.resolve(thread.rt, REF, user="lena")
    reopened = thread.advance(days=3)
    thread.say(PLAIN)
    run_cycle(thread.rt)
    case = thread.case()
    assert (case.state, case.team) == (CaseState.NEW.value, "care")
    assert case.sla_due_at == reopened + timedelta(minutes=60)
    for minutes in (46, 15):  # into care's warning time, then past the deadline
        thread.advance(minutes=minutes)
        check_sla(thread.rt)
    assert [kind for kind, _ in thread.sla_events()] == ["sla_warning", "sla_breached"]


def test_status_counts_no_open_breach_once_the_breached_answer_is_posted(
    make_runtime: RuntimeFactory,
) -> None:
    # The first response came late: the bot answered the customer's next message. The
    # breach stays on the case for the reports, but nothing is owed any more, and
    # `inchannel status` (and the gauge alerted on) counted it as an open breach until a
    # person resolved the case.
    thread = escalated(make_runtime)
    thread.advance(hours=2)
    check_sla(thread.rt)
    assert thread.case().sla_breached_at is not None
    assert status.collect(thread.rt).sla_breaches_open == 1
    thread.say("@acme thanks, all sorted, love it")
    run_cycle(thread.rt)
    case = thread.case()
    assert case.first_response_at is not None
    assert case.follow_up_at is None
    # Still the team's: the bot's reply to the thank-you takes no escalated case from it.
    assert case.state == CaseState.AWAITING_HUMAN.value
    assert case.sla_breached_at is not None  # kept for the reports
    assert status.collect(thread.rt).sla_breaches_open == 0


def test_an_older_follow_up_stored_late_moves_the_clock_to_when_it_was_written(
    make_runtime: RuntimeFactory,
) -> None:
    # Two follow-ups after the brand's answer, the older one stored after the newer (a
    # source that lags). The customer has waited since the older one; the clock kept
    # the newer one's start, giving the team 20 minutes more than promised.
    thread = answered(make_runtime)
    now = thread.advance(days=1)
    thread.say(PLAIN, at=now)
    run_cycle(thread.rt)
    assert thread.case().sla_due_at == now + timedelta(minutes=60)
    thread.say("@acme hello? anyone there?", at=now - timedelta(minutes=20))
    run_cycle(thread.rt)
    case = thread.case()
    assert case.follow_up_at == now - timedelta(minutes=20)
    assert case.sla_due_at == now + timedelta(minutes=40)


def test_a_message_stored_late_written_as_our_answer_was_posted_moves_no_clock(
    make_runtime: RuntimeFactory,
) -> None:
    # Written the very moment the brand's answer went out, it crossed that answer, which
    # answers it (as follow_up says): stored after a real follow-up, it is not an
    # earlier one, and the clock keeps the follow-up's start.
    thread = answered(make_runtime)
    answered_at = thread.rt.clock.now()
    now = thread.advance(days=1)
    thread.say(PLAIN, at=now)
    run_cycle(thread.rt)
    thread.say("@acme hello? anyone there?", at=answered_at)
    run_cycle(thread.rt)
    case = thread.case()
    assert (case.follow_up_at, case.sla_due_at) == (now, now + timedelta(minutes=60))


def answered_and_resolved_before_a_late_message(
    make_runtime: RuntimeFactory, *, spam: bool = False
) -> Thread:
    """Care's case: the customer wrote at 09:00, Lena answered at 09:04 and resolved the
    case (or marked it as spam) at 09:05; it is 09:10, and the source has not brought
    what they wrote since."""
    thread = escalated(make_runtime)
    thread.advance(minutes=4)
    casework_replies.reply(thread.rt, REF, "Sorry about that. Which order is it?", user="lena")
    dispatch_outbox(thread.rt)
    thread.advance(minutes=1)
    if spam:
        triage.mark_spam(thread.rt, REF, user="lena")
    else:
        casework_actions.resolve(thread.rt, REF, user="lena")
    thread.advance(minutes=5)
    return thread


def test_a_late_message_written_before_the_case_was_resolved_reopens_it_with_a_clock(
    make_runtime: RuntimeFactory,
) -> None:
    # Written at 09:03, before the reply and the resolution, brought at 09:10 by a
    # lagging poll: the case was reopened owing nothing (the reply "crossed" it), so it
    # sat in care's queue with no deadline, never warned about, never overdue.
    thread = answered_and_resolved_before_a_late_message(make_runtime)
    opened = thread.case().opened_at
    wrote = opened + timedelta(minutes=3)
    thread.say("@acme also the box was open when it came", at=wrote)
    run_cycle(thread.rt)
    case = thread.case()
    assert (case.state, case.team) == (CaseState.NEW.value, "care")
    # The customer has waited since they wrote, as for any follow-up.
    assert (case.follow_up_at, case.sla_due_at) == (wrote, wrote + timedelta(minutes=60))
    for minutes in (41, 15):  # 09:51 into care's warning time, 10:06 past the deadline
        thread.advance(minutes=minutes)
        check_sla(thread.rt)
    due = case.sla_due_at.isoformat()
    assert thread.sla_events() == [
        ("sla_warning", {"due": due, "response": "next"}),
        ("sla_breached", {"due": due, "response": "next"}),
    ]


def test_two_late_messages_in_one_batch_reopen_with_the_first_written(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered_and_resolved_before_a_late_message(make_runtime)
    opened = thread.case().opened_at
    # Stored newest first, as a search listing returns them.
    thread.say("@acme hello?", at=opened + timedelta(minutes=3))
    thread.say(PLAIN, at=opened + timedelta(minutes=2))
    run_cycle(thread.rt)
    case = thread.case()
    assert case.state == CaseState.NEW.value
    assert case.follow_up_at == opened + timedelta(minutes=2)
    assert case.sla_due_at == opened + timedelta(minutes=62)


def test_a_late_message_in_a_case_closed_as_spam_leaves_it_closed(
    make_runtime: RuntimeFactory,
) -> None:
    thread = answered_and_resolved_before_a_late_message(make_runtime, spam=True)
    thread.say(PLAIN, at=thread.case().opened_at + timedelta(minutes=3))
    run_cycle(thread.rt)
    case = thread.case()
    assert (case.state, case.follow_up_at) == (CaseState.RESOLVED.value, None)
    thread.advance(days=1)
    check_sla(thread.rt)
    assert thread.sla_events() == []


def test_a_team_change_made_while_the_sla_check_runs_keeps_the_new_teams_alert(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    # SQLite: the check read the overdue case outside any transaction (the driver begins
    # one at the first write), a person handed it to another team meanwhile (a new
    # deadline, its marks cleared), and the check then marked the new deadline breached:
    # the alert it queued was about the old deadline and withdrawn, and the new team was
    # never alerted at its own. The check now holds the write lock from its start, as
    # PostgreSQL locks the row: the person waits for it (here, with one thread, gives up
    # after busy_timeout_ms) and then hands the case over.
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL: the check locks the case, the team change waits for it")
    thread = escalated(make_runtime, database={"url": db_url, "busy_timeout_ms": 50})
    rt = thread.rt
    opened = thread.case().opened_at
    thread.advance(minutes=61)
    moved: list[str] = []

    def team_change_meanwhile(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        words = " ".join(statement.split())
        if moved or "FROM cases" not in words or "ORDER BY cases.sla_due_at" not in words:
            return
        moved.append(statement)
        try:
            triage.set_team(rt, REF, "international", user="lena")
            moved.append("committed")
        except OperationalError as exc:
            moved.append(str(exc.orig))

    event.listen(rt.engine, "after_cursor_execute", team_change_meanwhile)
    try:
        check_sla(rt)
    finally:
        event.remove(rt.engine, "after_cursor_execute", team_change_meanwhile)
    assert moved[1:] == ["database is locked"]
    old_due = thread.case().sla_due_at
    assert old_due is not None
    breached_old = ("sla_breached", {"due": old_due.isoformat(), "response": "first"})
    assert thread.sla_events() == [breached_old]  # care's deadline, which it missed
    triage.set_team(rt, REF, "international", user="lena")  # once the check committed
    case = thread.case()
    assert case.sla_due_at == opened + timedelta(minutes=240)
    assert case.sla_breached_at is None
    thread.advance(minutes=240 - 61, seconds=1)  # past the new deadline: overdue
    check_sla(rt)
    due = case.sla_due_at.isoformat()
    assert thread.sla_events() == [
        breached_old,
        ("sla_breached", {"due": due, "response": "first"}),
    ]


def test_a_message_written_while_a_persons_reply_was_posted_keeps_the_case_open(
    make_runtime: RuntimeFactory,
) -> None:
    # The reply's outcome moved the case to "waiting on the customer" although the
    # message written meanwhile was owed an answer: check_sla, which watches open cases
    # only, never warned of or alerted on its deadline, and the queue hid it.
    thread = escalated(make_runtime)
    thread.advance(minutes=5)
    written = reply_while_the_customer_writes(thread, "Sorry about that. Which order is it?")
    case = thread.case()
    assert case.follow_up_at == written
    assert case.state != CaseState.WAITING_CUSTOMER.value
    thread.advance(minutes=61)
    check_sla(thread.rt)
    due = (written + timedelta(minutes=60)).isoformat()
    assert thread.sla_events() == [("sla_breached", {"due": due, "response": "next"})]


def test_a_breach_alert_held_by_an_outage_is_sent_when_an_older_follow_up_moves_the_deadline(
    make_runtime: RuntimeFactory,
) -> None:
    # The team's chat is down when the follow-up's answer breaches; then the source
    # brings a follow-up written 20 minutes earlier, which moves the deadline back (the
    # breach mark stands: no second alert). The waiting breach alert was withdrawn as
    # "no longer owed" because its deadline had moved, so the team never heard of it.
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        channels = {"care-chat": {"url": f"json://{hook.base_url.removeprefix('http://')}/hook"}}
        thread = answered(make_runtime, {**CARE, "channels": ["care-chat"]}, channels=channels)
        hook.add("POST", "/hook", Reply(503))
        now = thread.advance(days=1)
        thread.say(PLAIN, at=now)
        run_cycle(thread.rt)
        thread.advance(minutes=61)
        run_cycle(thread.rt)  # the warning and the breach: 503
        breach = ActionRow.idempotency_key.like("notify:sla-breached:%")
        assert [a.status for a in actions(thread.rt, breach)] == [ActionStatus.FAILED]
        thread.say("@acme hello? anyone there?", at=now - timedelta(minutes=20))
        run_cycle(thread.rt)
        assert thread.case().sla_due_at == now + timedelta(minutes=40)
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        thread.advance(hours=1)
        dispatch_outbox(thread.rt)
        assert [a.status for a in actions(thread.rt, breach)] == [ActionStatus.SENT]
        titles = [r.json()["title"] for r in hook.seen("POST", "/hook")]
        assert any("SLA next response overdue" in t for t in titles)


def actions(rt: Runtime, *where: Any) -> list[ActionRow]:
    with rt.sessions() as session:
        return list(session.scalars(select(ActionRow).where(*where).order_by(ActionRow.id)))


def test_a_warning_held_by_an_outage_is_withdrawn_once_its_deadline_has_breached(
    make_runtime: RuntimeFactory,
) -> None:
    # The team's chat is down from before the warning until after the breach: once it
    # is back, "due in 15 business min" must not reach the team after (or beside) the
    # breach alert for the same deadline.
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(503))
        channels = {"care-chat": {"url": f"json://{hook.base_url.removeprefix('http://')}/hook"}}
        thread = escalated(make_runtime, {**CARE, "channels": ["care-chat"]}, channels=channels)
        thread.advance(minutes=46)
        run_cycle(thread.rt)  # the warning: 503
        thread.advance(minutes=15)
        run_cycle(thread.rt)  # the breach: 503
        warning = ActionRow.idempotency_key.like("notify:sla-warning:%")
        breach = ActionRow.idempotency_key.like("notify:sla-breached:%")
        assert len(actions(thread.rt, warning)) == 1
        assert [a.status for a in actions(thread.rt, breach)] == [ActionStatus.FAILED]
        hook.add("POST", "/hook", Reply(200, body=b"ok"))
        refused = len(hook.seen("POST", "/hook"))
        thread.advance(hours=1)
        dispatch_outbox(thread.rt)
        assert [a.status for a in actions(thread.rt, breach)] == [ActionStatus.SENT]
        assert [a.status for a in actions(thread.rt, warning)] == [ActionStatus.REJECTED]
        titles = [r.json()["title"] for r in hook.seen("POST", "/hook")[refused:]]
        assert any("SLA first response overdue" in t for t in titles)
        assert not any("SLA first response due in" in t for t in titles)


@pytest.mark.parametrize("closed", [True, False], ids=["resolved", "waiting on the customer"])
def test_a_message_the_rules_ignore_leaves_a_closed_case_closed(
    make_runtime: RuntimeFactory, closed: bool
) -> None:
    # docs/rules.md: an ignored mention is stored and nothing else happens. Attaching it
    # reopened the case ("customer wrote again") before the rules ignored it, so giveaway
    # spam put a resolved case back in the queue, with no clock and nothing to answer.
    thread = answered(make_runtime)
    if closed:
        casework_actions.resolve(thread.rt, REF, user="lena")
    before = thread.case()
    follow_up(thread, "@acme follow to win our giveaway")
    case = thread.case()
    assert case.state == before.state
    assert (case.follow_up_at, case.sla_due_at) == (None, before.sla_due_at)
    with thread.rt.sessions() as session:
        reopened = session.scalars(select(Event).where(Event.kind == "state")).all()
        assert not [e for e in reopened if e.detail.get("reason") == "customer wrote again"]


def test_a_message_after_an_ignored_one_still_reopens_the_case(
    make_runtime: RuntimeFactory,
) -> None:
    # The ignored message leaves the case resolved; the customer's next message in the
    # same batch reopens it, is owed an answer and sees the state it found (resolved).
    thread = answered(make_runtime)
    casework_actions.resolve(thread.rt, REF, user="lena")
    wrote = thread.advance(days=1)
    thread.say("@acme follow to win our giveaway")
    thread.say(PLAIN)
    run_cycle(thread.rt)
    case = thread.case()
    assert case.state == CaseState.NEW.value
    assert (case.follow_up_at, case.sla_due_at) == (wrote, wrote + timedelta(minutes=60))


def test_a_message_the_rules_ignore_written_while_our_reply_was_posted_owes_nothing(
    make_runtime: RuntimeFactory,
) -> None:
    # Giveaway spam written while a person's reply was being posted: dispatch counted it
    # as a follow-up, kept the case open (not waiting on the customer) and started a
    # clock that breached, for a message the rules had ignored.
    thread = escalated(make_runtime)
    thread.advance(minutes=5)
    reply_while_the_customer_writes(thread, "Sorry about that.", "@acme follow to win our giveaway")
    case = thread.case()
    assert (case.state, case.follow_up_at) == (CaseState.WAITING_CUSTOMER.value, None)
    thread.advance(minutes=61)
    check_sla(thread.rt)
    assert thread.sla_events() == []
