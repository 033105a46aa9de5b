"""A person answering on X itself, as the brand, instead of from the dashboard: the
answer counts as the brand's response (its SLA clock stops), as a dashboard reply does.
Replay source, recording responder, FakeClock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from monitor import cases, casework_actions
from monitor.pipeline import (
    check_sla,
    dispatch_outbox,
    drain,
    poll_source,
    process_pending,
    run_cycle,
)
from monitor.runtime import Runtime
from monitor.store.models import Case, Event, Message
from monitor.web.reports import build_report
from tests.conftest import RuntimeFactory, mention
from tests.test_pipeline import append, recorded

ANN = {"author": "ann", "author_id": "7", "author_name": "Ann"}
# The shipped rules escalate it to care with no bot reply: the team must answer.
LATE = "@acme my order is late, I am calling my lawyer"


NINE = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


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


def _escalated(make_runtime: RuntimeFactory, **settings: Any) -> Runtime:
    rt = make_runtime([mention(1, LATE, **ANN, created_at="2026-11-20T09:00:00Z")], **settings)
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


def test_a_case_answered_on_x_and_then_by_the_bot_credits_the_first_response_to_a_person(
    make_runtime: RuntimeFactory,
) -> None:
    # The team answers her complaint on X; she thanks them and the bot's thank-you goes
    # out. The reports credited the first response to the bot: its reply was the first
    # sent through inchannel, though the team's answer on X came before it.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=20)
    answered_at = _answer_on_x(rt, 2, "1001")
    run_cycle(rt)
    rt.clock.advance(minutes=10)
    later = {"conversation_id": "1001", "in_reply_to": "1002"}
    thanks = mention(3, "@acme thanks, love the new app", **ANN, **later)
    append(rt, {**thanks, "created_at": _iso(rt.clock.now())})
    run_cycle(rt)
    rt.clock.advance(minutes=1)
    run_cycle(rt)
    assert recorded(rt) != []  # the bot's thank-you went out
    assert _case(rt).first_response_at == answered_at
    by_who = {t.group: t.count for t in build_report(rt).first_response}
    assert (by_who.get("by human"), by_who.get("by bot")) == (1, None)


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


@pytest.mark.parametrize("queued_first", [True, False])
def test_a_reopening_before_the_answer_on_x_is_linked_keeps_the_opening_and_counts_it(
    make_runtime: RuntimeFactory, queued_first: bool
) -> None:
    # A person answers on X and the customer writes again; the search brings her message
    # in before the brand's post. The case waits on the customer before that post is
    # linked: dispatch withdrew the bot's queued thanks for it (queued_first), or
    # processing gave her first message no reply for it. Her new message reopened the
    # case as never answered: its opening moved to then, and the brand's post, linked
    # after it, answered nothing (the reports timed the case from her second message).
    thanks = mention(1, "@acme thanks, love the new app", **ANN, created_at=_iso(NINE))
    rt = make_runtime([thanks], processing={"batch_size": 1})
    drain(poll_source, rt, "feed")
    if queued_first:
        drain(process_pending, rt)
        assert _case(rt).state == "auto_replied"
    rt.clock.advance(minutes=20)
    answered_at = rt.clock.now()
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    answer = mention(3, "@ann glad you like it!", **own, in_reply_to="1001")
    answer["created_at"] = _iso(answered_at)
    rt.clock.advance(minutes=5)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    again = mention(2, "@acme one more thing", **ANN, **later, created_at=_iso(rt.clock.now()))
    for post in (again, answer):  # the brand's post comes in after hers
        append(rt, post)
        drain(poll_source, rt, "feed")
    if queued_first:
        dispatch_outbox(rt)
        assert _case(rt).state == "waiting_customer"
    rt.clock.advance(minutes=1)
    # Without a bot reply queued, her first message is decided now, in a batch of its own.
    opened = _case(rt).opened_at if queued_first else rt.clock.now()
    drain(process_pending, rt)
    case = _case(rt)
    assert case.opened_at == opened
    assert case.first_response_at == max(answered_at, opened)
    # Nothing is owed from before the opening, a follow-up no more than the first answer.
    assert case.follow_up_at == max(datetime.fromisoformat(again["created_at"]), opened)


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_message_written_after_the_post_answered_on_x_stays_owed(
    make_runtime: RuntimeFactory, one_batch: bool
) -> None:
    # The team answers her first post on X; she had written again meanwhile, before that
    # answer. Decided in a later batch, her second message kept the case owed (the answer
    # was to the post before it); in the answer's batch, the answer covered every message
    # written before it, and her second one waited with nobody owing it anything.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=10)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    again = mention(2, "@acme any news on this?", **ANN, **later, created_at=_iso(rt.clock.now()))
    rt.clock.advance(minutes=10)
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    answer = mention(3, "@ann sorry, it ships today", **own, in_reply_to="1001")
    answered_at = rt.clock.now()
    answer["created_at"] = _iso(answered_at)
    append(rt, again)
    if not one_batch:
        run_cycle(rt)
    append(rt, answer)
    run_cycle(rt)
    case = _case(rt)
    written = datetime.fromisoformat(again["created_at"])
    # Still in care's queue: the answer is her first post's response, and her second
    # message is owed its own, on care's hour from when she wrote it.
    assert (case.state, case.first_response_at) == ("awaiting_human", answered_at)
    assert cases.response_owed_since(case) == written
    assert case.sla_due_at == written + timedelta(hours=1)


@pytest.mark.parametrize("posts", [1, 2])
def test_a_message_written_before_the_answer_on_x_but_stored_after_it_stays_owed(
    make_runtime: RuntimeFactory, posts: int
) -> None:
    # The team answers her first post on X; she had written again before that answer,
    # but a lagging search brings her second message in a later batch. Judged against
    # when the answer was posted (the first response), it "crossed" the answer and
    # reopened the case owing nothing: no clock, never overdue. The answer replies to
    # her first post only, as in the answer's own batch (the test above). In two posts,
    # the second (answering the first) made a later batch judge the answer as covering
    # all she wrote until the first was posted.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=10)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    again = mention(2, "@acme any news on this?", **ANN, **later, created_at=_iso(rt.clock.now()))
    rt.clock.advance(minutes=10)
    _answer_on_x(rt, 3, "1001")
    if posts == 2:
        rt.clock.advance(minutes=1)
        _answer_on_x(rt, 4, "1003")
    run_cycle(rt)
    assert _case(rt).state == "waiting_customer"
    rt.clock.advance(minutes=5)
    append(rt, again)
    run_cycle(rt)
    case = _case(rt)
    assert case.follow_up_at == datetime.fromisoformat(again["created_at"])
    assert case.sla_due_at is not None


def test_an_answer_on_x_stored_after_a_person_resolved_the_case_is_its_first_response(
    make_runtime: RuntimeFactory,
) -> None:
    # The team answers on X within the hour; a lagging search brings the answer in only
    # after a person closed the case. The answer counted for nothing: no first response,
    # and the reports called the case breached (closed after its deadline, unanswered).
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=20)
    answered_at = _answer_on_x(rt, 2, "1001")
    rt.clock.advance(minutes=70)  # past the care team's hour
    casework_actions.resolve(rt, _case(rt).ref, user="lena")
    rt.clock.advance(minutes=5)
    run_cycle(rt)
    case = _case(rt)
    assert (case.state, case.first_response_at) == ("resolved", answered_at)
    (care,) = [a for a in build_report(rt).sla if a.team == "care"]
    assert (care.met, care.breached, care.pending) == (1, 0, 0)
    by_who = {t.group: t.count for t in build_report(rt).first_response}
    assert by_who.get("by human") == 1


@pytest.mark.parametrize("batch_size", [1, 200])
def test_a_resolved_case_reopened_before_its_answer_on_x_is_linked_counts_the_answer(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # As above, but the customer writes again and her message comes in with the
    # brand's answer, decided before it (batch_size 1) or with it: reopened as never
    # answered, the case's opening moved to her new message, and the answer, to a post
    # before it, counted for nothing.
    rt = _escalated(make_runtime, processing={"batch_size": batch_size})
    opened = _case(rt).opened_at
    rt.clock.advance(minutes=20)
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    answer = mention(2, "@ann sorry, it ships today", **own, in_reply_to="1001")
    answer["created_at"] = _iso(answered_at := rt.clock.now())
    rt.clock.advance(minutes=70)
    casework_actions.resolve(rt, _case(rt).ref, user="lena")
    rt.clock.advance(minutes=5)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    again = mention(3, LATE, **ANN, **later, created_at=_iso(rt.clock.now()))
    for post in (again, answer):  # the brand's post comes in after hers
        append(rt, post)
        drain(poll_source, rt, "feed")
    drain(process_pending, rt)
    case = _case(rt)
    assert (case.opened_at, case.first_response_at) == (opened, answered_at)
    assert case.follow_up_at == datetime.fromisoformat(again["created_at"])


@pytest.mark.parametrize("batch_size", [1, 200])
def test_an_answer_on_x_posted_before_a_reopening_and_linked_after_it_answers_nothing_owed(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # Unanswered when a person closed it, the case is reopened by the customer (its
    # opening moved to then); the team's answer on X to her first post, posted before
    # the close, comes in only after that. It counted as the reopened case's first
    # response, at zero minutes (clamped to the moved opening), and stopped the clock
    # of the answer her new message is owed.
    rt = _escalated(make_runtime, processing={"batch_size": batch_size})
    rt.clock.advance(minutes=20)
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    answer = mention(2, "@ann sorry, it ships today", **own, in_reply_to="1001")
    answer["created_at"] = _iso(rt.clock.now())
    rt.clock.advance(minutes=70)
    casework_actions.resolve(rt, _case(rt).ref, user="lena")
    rt.clock.advance(minutes=5)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    append(rt, mention(3, LATE, **ANN, **later, created_at=_iso(rt.clock.now())))
    run_cycle(rt)
    reopened = _case(rt)
    assert (reopened.state, reopened.first_response_at) == ("awaiting_human", None)
    rt.clock.advance(minutes=5)
    append(rt, answer)
    run_cycle(rt)
    case = _case(rt)
    assert (case.state, case.first_response_at) == ("awaiting_human", None)
    assert (case.opened_at, case.follow_up_at) == (reopened.opened_at, None)
    assert case.sla_due_at == reopened.sla_due_at
    assert cases.response_owed_since(case) == reopened.opened_at


def test_an_answer_on_x_posted_after_a_person_resolved_the_case_leaves_it_unanswered(
    make_runtime: RuntimeFactory,
) -> None:
    # Closed first (nothing to answer, say): what the brand posts later answered nothing
    # the case owed, and the case stays closed.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=20)
    casework_actions.resolve(rt, _case(rt).ref, user="lena")
    rt.clock.advance(minutes=5)
    _answer_on_x(rt, 2, "1001")
    run_cycle(rt)
    case = _case(rt)
    assert (case.state, case.first_response_at) == ("resolved", None)


@pytest.mark.parametrize("batch_size", [1, 200])
@pytest.mark.parametrize("answer_first", [True, False], ids=["answer_first", "message_first"])
@pytest.mark.parametrize("one_cycle", [True, False], ids=["one_cycle", "cycle_each"])
def test_an_answer_on_x_to_a_post_before_a_later_message_is_the_first_response(
    make_runtime: RuntimeFactory, batch_size: int, answer_first: bool, one_cycle: bool
) -> None:
    # Escalated at 9:00, she writes again at 9:10, and the team answers her first post
    # on X at 9:20. Her 9:10 message decided before the answer was linked, the answer
    # was dropped, first response and all: the reports said the team never answered.
    # The answer is the first response; her 9:10 message, after the post it answers,
    # is still owed, on its own clock, whatever order the two come in.
    rt = _escalated(make_runtime, processing={"batch_size": batch_size})
    first_due = _case(rt).sla_due_at
    rt.clock.advance(minutes=10)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    again = mention(2, "@acme any news on this?", **ANN, **later, created_at=_iso(rt.clock.now()))
    rt.clock.advance(minutes=10)
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    answer = mention(3, "@ann sorry, it ships today", **own, in_reply_to="1001")
    answer["created_at"] = _iso(answered_at := rt.clock.now())
    for post in (answer, again) if answer_first else (again, answer):
        append(rt, post)
        if not one_cycle:
            run_cycle(rt)
    if one_cycle:
        run_cycle(rt)
    case = _case(rt)
    written = datetime.fromisoformat(again["created_at"])
    assert (case.first_response_at, case.first_response_due_at) == (answered_at, first_due)
    assert case.state in cases.OPEN_STATES
    assert case.follow_up_at == written
    care = rt.settings.team("care")
    assert care is not None
    assert case.sla_due_at == care.calendar().add_minutes(written, care.first_response_minutes)
    (met,) = [a for a in build_report(rt).sla if a.team == "care"]
    assert (met.met, met.breached, met.pending) == (1, 0, 0)


@pytest.mark.parametrize("batch_size", [1, 200])
def test_an_answer_on_x_to_a_follow_up_leaves_the_next_message_owed_from_when_written(
    make_runtime: RuntimeFactory, batch_size: int
) -> None:
    # Answered at 9:10; she writes at 9:40 and again at 9:50, both decided; the team
    # answers her 9:40 post. Dropped, the answer left the 9:40 clock running, for a
    # message the team had answered; her 9:50 one is what is owed now.
    rt = _escalated(make_runtime, processing={"batch_size": batch_size})
    rt.clock.advance(minutes=10)
    _answer_on_x(rt, 2, "1001")
    run_cycle(rt)
    later = {"conversation_id": "1001", "in_reply_to": "1002"}
    for n, text in ((3, "@acme it is still not here"), (4, "@acme hello??")):
        rt.clock.advance(minutes=30 if n == 3 else 10)
        append(rt, mention(n, text, **ANN, **later, created_at=_iso(rt.clock.now())))
        run_cycle(rt)
    written = rt.clock.now()
    assert _case(rt).follow_up_at == written - timedelta(minutes=10)
    rt.clock.advance(minutes=5)
    _answer_on_x(rt, 5, "1003")
    run_cycle(rt)
    case = _case(rt)
    assert case.state in cases.OPEN_STATES
    assert case.follow_up_at == written
    care = rt.settings.team("care")
    assert care is not None
    assert case.sla_due_at == care.calendar().add_minutes(written, care.first_response_minutes)


# The shipped rules ignore it (ignore-giveaway-spam): it owes no answer.
GIVEAWAY = "@acme follow to win our giveaway"


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_message_the_rules_ignore_after_the_post_answered_on_x_owes_nothing(
    make_runtime: RuntimeFactory, one_batch: bool
) -> None:
    # Giveaway spam after her complaint, then the team answers the complaint on X: the
    # spam counted as her writing again, so the case stayed open, owing it an answer
    # on a clock that breached. Decided in the answer's batch, it left the case in the
    # team's queue (awaiting_human), answered.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=10)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    append(rt, mention(2, GIVEAWAY, **ANN, **later, created_at=_iso(rt.clock.now())))
    if not one_batch:
        run_cycle(rt)
    rt.clock.advance(minutes=10)
    answered_at = _answer_on_x(rt, 3, "1001")
    run_cycle(rt)
    case = _case(rt)
    assert (case.state, case.first_response_at) == ("waiting_customer", answered_at)
    assert case.follow_up_at is None
    rt.clock.advance(hours=3)
    check_sla(rt)
    assert _events(rt, "sla_breached") == []


def test_a_reply_withdrawn_for_an_answer_on_x_leaves_no_case_owed_to_ignored_spam(
    make_runtime: RuntimeFactory,
) -> None:
    # The bot's reply waits in the outbox; she posts giveaway spam; the team answers
    # her first post on X. Dispatch withdrew the reply and, taking the spam for her
    # writing again, put the case back in the queue as new instead of waiting on her.
    thanks = mention(1, "@acme thanks, love the new app", **ANN, created_at=_iso(NINE))
    rt = make_runtime([thanks])
    drain(poll_source, rt, "feed")
    drain(process_pending, rt)
    assert _case(rt).state == "auto_replied"
    rt.clock.advance(minutes=5)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    append(rt, mention(2, GIVEAWAY, **ANN, **later, created_at=_iso(rt.clock.now())))
    drain(poll_source, rt, "feed")
    drain(process_pending, rt)
    rt.clock.advance(minutes=5)
    _answer_on_x(rt, 3, "1001")
    drain(poll_source, rt, "feed")
    dispatch_outbox(rt)
    assert _events(rt, "reply_withdrawn") != []
    assert _case(rt).state == "waiting_customer"


def test_the_second_post_of_an_answer_on_x_in_two_answers_nothing_more(
    make_runtime: RuntimeFactory,
) -> None:
    # Escalated at 9:00, she writes again at 9:10, and the team answers her first post
    # on X at 9:20 in two posts, the second replying to the first ("1/2", "2/2"; it
    # waits outside the claim until the first is decided). The second counted as an
    # answer to all she wrote until the first was posted: her 9:10 message, still owed,
    # was dropped and the case waited on her.
    rt = _escalated(make_runtime)
    rt.clock.advance(minutes=10)
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    append(
        rt, mention(2, "@acme any news on this?", **ANN, **later, created_at=_iso(rt.clock.now()))
    )
    run_cycle(rt)
    written = rt.clock.now()
    rt.clock.advance(minutes=10)
    answered_at = _answer_on_x(rt, 3, "1001")
    rt.clock.advance(minutes=1)
    _answer_on_x(rt, 4, "1003")  # "2/2", replying to the team's own "1/2"
    run_cycle(rt)
    case = _case(rt)
    assert (case.first_response_at, case.follow_up_at) == (answered_at, written)
    assert case.state in cases.OPEN_STATES
    assert case.sla_due_at is not None


def test_a_second_post_to_the_brands_own_post_in_no_case_joins_none(
    make_runtime: RuntimeFactory,
) -> None:
    # The brand posts on its own (no customer, no case) and, a cycle later, adds a
    # second post replying to it. The post it answers is decided and in no case: the
    # second joins none at once, rather than waiting for a case that never comes.
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1005"}
    rt = make_runtime([mention(5, "Our summer sale starts today", **own)])
    run_cycle(rt)
    rt.clock.advance(minutes=1)
    second = {**own, "in_reply_to": "1005", "created_at": _iso(rt.clock.now())}
    append(rt, mention(6, "Free shipping on every order, too", **second))
    run_cycle(rt)
    with rt.sessions() as session:
        stored = session.execute(
            select(Message.external_id, Message.processed, Message.case_id).order_by(
                Message.external_id
            )
        ).all()
        assert session.scalars(select(Case)).all() == []
    assert [tuple(row) for row in stored] == [("1005", True, None), ("1006", True, None)]


@pytest.mark.parametrize("batch_size", [1, 200])
@pytest.mark.parametrize("one_cycle", [True, False], ids=["one_cycle", "answer_later"])
def test_a_follow_up_in_a_case_a_lagging_poll_opened_is_owed_from_the_first_response(
    make_runtime: RuntimeFactory, batch_size: int, one_cycle: bool
) -> None:
    # She writes at 9:00 and 9:10; a lagging search stores both at 9:30, opening the case
    # then, and the team's answer on X to her 9:00 post, posted at 9:20, at 9:35. The
    # first response counts from the opening (9:30), but her 9:10 message was owed from
    # 9:10: a follow-up owed before the answer it follows, due twenty minutes early.
    # All three stored together (one_cycle), the answer counts from 9:30 as well.
    rt = make_runtime(processing={"batch_size": batch_size})
    first = mention(1, LATE, **ANN, created_at=_iso(NINE))
    later = {"conversation_id": "1001", "in_reply_to": "1001"}
    again = mention(2, "@acme any news on this?", **ANN, **later)
    again["created_at"] = _iso(NINE + timedelta(minutes=10))
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    answer = mention(3, "@ann sorry, it ships today", **own, in_reply_to="1001")
    answer["created_at"] = _iso(NINE + timedelta(minutes=20))
    rt.clock.advance(minutes=30)
    append(rt, first, again)
    opened = rt.clock.now()
    if not one_cycle:
        run_cycle(rt)
        rt.clock.advance(minutes=5)
    append(rt, answer)
    run_cycle(rt)
    case = _case(rt)
    assert case.first_response_at == opened
    assert case.follow_up_at == opened
    care = rt.settings.team("care")
    assert care is not None
    assert case.sla_due_at == care.calendar().add_minutes(opened, care.first_response_minutes)
    assert case.state in cases.OPEN_STATES
