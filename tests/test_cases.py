"""Cases: drafts, escalation notifications through apprise, SLA clocks over business hours."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import event, select

from monitor import (
    cases,
    casework,
    casework_drafts,
    casework_listing,
    casework_replies,
    sla,
    triage,
)
from monitor.domain import MAX_SLA_MINUTES, ActionKind, ActionStatus, CaseState
from monitor.ingest import release_leases
from monitor.pipeline import check_sla, dispatch_outbox, run_cycle
from monitor.runtime import Runtime
from monitor.settings import Team
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Event
from monitor.web.users import create_user
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.webkit import PASSWORD, TEAMS, api_client, client_for

LONDON = Team(
    name="care",
    timezone="Europe/London",
    business_hours={"mon-fri": "09:00-17:00"},
    holidays=["2026-12-25"],
)


def actions(rt: Runtime, *where: Any) -> list[ActionRow]:
    with rt.sessions() as session:
        return list(session.scalars(select(ActionRow).where(*where).order_by(ActionRow.id)))


def the_case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def test_draft_waits_for_approval_and_is_never_dispatched(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(
        [mention(1, "@acme how do I change the delivery address on an order I placed yesterday?")]
    )
    run_cycle(rt)
    (draft,) = actions(rt)
    assert draft.status == ActionStatus.DRAFT
    assert the_case(rt).state == CaseState.AWAITING_APPROVAL
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert actions(rt)[0].status == ActionStatus.DRAFT


def test_a_persons_reply_settles_the_drafts_waiting_in_the_case(
    make_runtime: RuntimeFactory,
) -> None:
    """A person answered the customer while the bot's draft waited: the case went to
    "replied", out of the queue's "awaiting approval", with the draft still there to be
    approved later, a second answer to the same question. The person, who saw the
    draft on the case page, wrote their own: the draft is rejected, saying why."""
    rt = make_runtime(
        [mention(1, "@acme how do I change the delivery address on an order I placed yesterday?")]
    )
    run_cycle(rt)
    (draft,) = actions(rt)
    assert draft.status == ActionStatus.DRAFT
    casework_replies.reply(
        rt, "C-1001", "Settings > Orders > Change address, until it ships.", user="lena"
    )
    assert the_case(rt).state == CaseState.REPLIED
    assert actions(rt, ActionRow.id == draft.id)[0].status == ActionStatus.REJECTED
    with pytest.raises(casework.CaseworkError, match="no draft"):
        casework_drafts.approve(rt, "C-1001", user="root")
    with rt.sessions() as session:
        (rejected,) = session.scalars(select(Event).where(Event.kind == "rejected"))
    assert (rejected.actor, rejected.detail) == (
        "lena",
        {"action": draft.id, "reason": "answered by a person's reply instead"},
    )


def escalated_to_a_chat(make_runtime: RuntimeFactory, hook: FakeAPI, **overrides: Any) -> Runtime:
    """An angry mention escalated to care, whose channel is ``hook``'s /hook."""
    channels = {"care-chat": {"url": f"json://{hook.base_url.removeprefix('http://')}/hook"}}
    teams = [{"name": "care", "channels": ["care-chat"]}]
    teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
    rt = make_runtime(
        [mention(1, "@acme you are idiots")], channels=channels, teams=teams, **overrides
    )
    run_cycle(rt)
    return rt


def test_escalation_notifies_team_channel_and_retries_when_down(
    make_runtime: RuntimeFactory,
) -> None:
    with FakeAPI() as hook:
        hook.add("POST", "/hook", Reply(503), Reply(200, body=b"ok"))
        rt = escalated_to_a_chat(make_runtime, hook)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.FAILED  # the channel answered 503
        assert the_case(rt).state == CaseState.AWAITING_HUMAN  # the case does not wait for it
        rt.clock.advance(hours=1)  # type: ignore[attr-defined]
        dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.SENT, notify.last_error
        posted = hook.seen("POST", "/hook")
        assert len(posted) == 2
        body = posted[-1].json()
        assert "C-1001" in body["title"]
        assert "you are idiots" in body["message"]
        assert "http://127.0.0.1:8000/cases/C-1001" in body["message"]


def test_a_notification_outlasts_a_channel_outage_longer_than_the_reply_attempts(
    make_runtime: RuntimeFactory,
) -> None:
    # Replies stop after max_attempts (about 12 minutes with the defaults) because a
    # person takes over; a notification has nobody to take over, and a chat channel
    # down for a quarter of an hour lost the escalation. It is retried for
    # notify_retry_hours.
    down = [Reply(503)] * 12
    with FakeAPI() as hook:
        hook.add("POST", "/hook", *down, Reply(200, body=b"ok"))
        rt = escalated_to_a_chat(make_runtime, hook, dispatch={"notify_retry_hours": 24})
        for _ in range(12):  # backoff is capped at an hour
            rt.clock.advance(hours=1)  # type: ignore[attr-defined]
            dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.SENT, notify.last_error
        assert notify.attempts == 13
        assert len(hook.seen("POST", "/hook")) == 13


def test_a_notification_is_dead_once_older_than_notify_retry_hours(
    make_runtime: RuntimeFactory,
) -> None:
    with FakeAPI() as hook:
        hook.add("POST", "/hook", *[Reply(503)] * 20)
        rt = escalated_to_a_chat(make_runtime, hook, dispatch={"notify_retry_hours": 2})
        for _ in range(5):
            rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
            dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.DEAD
        assert notify.attempts == 5  # the attempt at 2 h was the last


def test_unknown_channel_in_team_is_a_config_error(make_runtime: RuntimeFactory) -> None:
    with pytest.raises(ValueError, match="team 'care': unknown channel 'nope'"):
        make_runtime(teams=[{"name": "care", "channels": ["nope"]}])


def test_sla_warns_then_breaches_once_each(make_runtime: RuntimeFactory) -> None:
    teams = [{"name": "care", "first_response_minutes": 60, "sla_warning_minutes": 15}]
    teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
    rt = make_runtime([mention(1, "@acme you are idiots")], teams=teams)
    run_cycle(rt)
    opened = the_case(rt).opened_at
    assert the_case(rt).sla_due_at == opened + timedelta(minutes=60)
    rt.clock.advance(minutes=44)  # type: ignore[attr-defined]
    check_sla(rt)
    assert the_case(rt).sla_warned_at is None
    rt.clock.advance(minutes=2)  # type: ignore[attr-defined]
    check_sla(rt)
    check_sla(rt)
    rt.clock.advance(minutes=15)  # type: ignore[attr-defined]
    check_sla(rt)
    check_sla(rt)
    with rt.sessions() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind.like("sla_%"))).all()
    assert kinds == ["sla_warning", "sla_breached"]


def test_an_sla_alert_held_by_a_channel_outage_is_not_sent_once_the_case_is_answered(
    make_runtime: RuntimeFactory,
) -> None:
    """The team's chat was down when the warning came; meanwhile a person answered the
    customer. Sent once the chat was back, "response due in 14 business min" called
    them back to a case answered an hour before (and a whole outage's worth of them
    arrived at once)."""
    with FakeAPI() as hook:
        hook.add("POST", "/hook", *[Reply(503)] * 3, *[Reply(200, body=b"ok")] * 5)
        channels = {"care-chat": {"url": f"json://{hook.base_url.removeprefix('http://')}/hook"}}
        care = {"name": "care", "channels": ["care-chat"], "first_response_minutes": 60}
        teams = [{**care, "sla_warning_minutes": 15}, {"name": "tech"}, {"name": "billing"}]
        rows = [mention(1, "@acme you are idiots")]
        rt = make_runtime(rows, channels=channels, teams=[*teams, {"name": "international"}])
        run_cycle(rt)  # escalated; its notification: 503
        rt.clock.advance(minutes=46)  # type: ignore[attr-defined]
        check_sla(rt)
        dispatch_outbox(rt)  # the warning: 503
        (warning,) = actions(rt, ActionRow.idempotency_key.like("notify:sla-warning:%"))
        assert warning.status == ActionStatus.FAILED
        casework_replies.reply(
            rt, "C-1001", "So sorry about this - a refund is on its way.", user="lena"
        )
        dispatch_outbox(rt)  # the escalation again (503), the reply posted
        assert the_case(rt).first_response_at is not None
        rt.clock.advance(hours=1)  # type: ignore[attr-defined]
        dispatch_outbox(rt)
        (warning,) = actions(rt, ActionRow.id == warning.id)
        assert warning.status == ActionStatus.REJECTED
        messages = [r.json()["title"] + r.json()["message"] for r in hook.seen("POST", "/hook")]
        assert sum("SLA" in m for m in messages) == 1  # the one the outage refused
        assert sum("SLA" not in m for m in messages) == 3  # the escalation, sent at last
        assert (actions(rt, ActionRow.kind == ActionKind.NOTIFY)[0].status) == ActionStatus.SENT
    with rt.sessions() as session:
        withdrawn = session.scalars(select(Event).where(Event.kind == "notification_withdrawn"))
        assert [e.detail for e in withdrawn] == [
            {"action": warning.id, "reason": "the case no longer owes the answer it warned of"}
        ]


def test_a_case_reopened_days_later_gets_a_fresh_sla_clock(make_runtime: RuntimeFactory) -> None:
    # Escalated, then closed by a person without a reply (nothing was owed); the
    # customer writes again three days later. The deadline counted from the first
    # message (or the old deadline kept) made the reopened case breach at once.
    teams = [{"name": "care", "first_response_minutes": 60}]
    teams += [{"name": "tech"}, {"name": "billing"}, {"name": "international"}]
    first = mention(1, "@acme you are idiots")
    rt = make_runtime([first], teams=teams)
    run_cycle(rt)
    assert the_case(rt).sla_due_at is not None
    with rt.sessions.begin() as session:
        session.scalars(select(Case)).one().state = CaseState.RESOLVED.value
    release_leases(rt)
    again = mention(
        2, "@acme you are still idiots", author="user1", author_id="501", conversation_id="1001"
    )
    rt2 = make_runtime([first, again], teams=teams)
    reopened = rt2.clock.advance(days=3)  # type: ignore[attr-defined]
    run_cycle(rt2)
    case = the_case(rt2)
    assert case.state == CaseState.AWAITING_HUMAN.value
    assert case.sla_due_at == reopened + timedelta(minutes=60)
    assert case.sla_breached_at is None


def _waiting_cases(rt: Runtime, n: int, *, due_in: timedelta, team: str = "care") -> None:
    """``n`` escalated, unanswered cases of one customer, all due ``due_in`` from now."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        customer = Customer(
            platform="x",
            platform_user_id=f"sla-{due_in}",
            handle="waiting",
            first_seen_at=now,
            last_seen_at=now,
        )
        session.add(customer)
        session.flush()
        session.add_all(
            Case(
                platform="x",
                conversation_id=f"sla-{due_in}-{i}",
                customer_id=customer.id,
                state=CaseState.AWAITING_HUMAN.value,
                team=team,
                tags=[],
                opened_at=now,
                updated_at=now,
                sla_due_at=now + due_in,
            )
            for i in range(n)
        )


def test_more_warned_cases_than_a_batch_do_not_hide_the_next_warning(
    make_runtime: RuntimeFactory,
) -> None:
    # An outage: more cases inside their warning time than one batch holds.
    rt = make_runtime()
    _waiting_cases(rt, sla.BATCH + 1, due_in=timedelta(minutes=10))
    assert check_sla(rt) is True
    assert check_sla(rt) is False  # all warned: nothing left to do until they are due
    _waiting_cases(rt, 1, due_in=timedelta(minutes=12))
    assert check_sla(rt) is False
    with rt.sessions() as session:
        unwarned = session.scalars(select(Case.id).where(Case.sla_warned_at.is_(None))).all()
    assert unwarned == []


def test_a_batch_of_exactly_batch_cases_leaves_no_more_work(
    make_runtime: RuntimeFactory,
) -> None:
    # BATCH cases due, one batch's worth: all are alerted in this run, and the step
    # says nothing waits, or the worker ran it again at once for nothing.
    rt = make_runtime()
    _waiting_cases(rt, sla.BATCH, due_in=timedelta(minutes=-1))
    assert check_sla(rt) is False
    with rt.sessions() as session:
        unbreached = session.scalars(select(Case.id).where(Case.sla_breached_at.is_(None))).all()
    assert unbreached == []


def test_workers_checking_at_once_raise_a_breach_once(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("one worker per SQLite database")
    rt_a = make_runtime()
    rt_b = make_runtime()
    rt_b.clock.set(rt_a.clock.now())  # type: ignore[attr-defined]
    _waiting_cases(rt_a, 1, due_in=timedelta(minutes=-1))
    a_inside, b_done = threading.Event(), threading.Event()
    counted = rt_a.metrics.sla_alert

    def a_pauses(kind: str) -> None:  # worker A, inside its transaction
        counted(kind)
        a_inside.set()
        b_done.wait(timeout=1)  # B blocked on A's lock cannot finish: the wait runs out

    rt_a.metrics.sla_alert = a_pauses  # type: ignore[method-assign]
    a = threading.Thread(target=check_sla, args=(rt_a,))
    a.start()
    assert a_inside.wait(timeout=10)
    check_sla(rt_b)
    b_done.set()
    a.join()
    with rt_a.sessions() as session:
        kinds = session.scalars(select(Event.kind).where(Event.kind.like("sla_%"))).all()
    assert kinds == ["sla_breached"]


def test_answered_case_never_breaches(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme the site is down")])  # acknowledged in thread
    run_cycle(rt)
    assert the_case(rt).first_response_at is not None
    rt.clock.advance(days=2)  # type: ignore[attr-defined]
    check_sla(rt)
    assert the_case(rt).sla_breached_at is None


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "minutes", "due"),
    [
        ("2026-11-20T10:00", 60, "2026-11-20T11:00"),  # Friday, within hours (GMT = UTC)
        ("2026-11-20T16:30", 60, "2026-11-23T09:30"),  # runs over the weekend
        ("2026-11-21T12:00", 30, "2026-11-23T09:30"),  # opened on Saturday
        ("2026-11-20T06:00", 30, "2026-11-20T09:30"),  # before opening
        ("2026-12-24T16:45", 30, "2026-12-28T09:15"),  # Christmas holiday, then weekend
        ("2026-07-01T07:30", 60, "2026-07-01T09:00"),  # summer: opens 09:00 BST = 08:00 UTC
    ],
)
def test_business_calendar_deadlines(start: str, minutes: int, due: str) -> None:
    assert LONDON.calendar().add_minutes(at(start), minutes) == at(due)


def test_business_minutes_between_skips_nights_and_weekends() -> None:
    calendar = LONDON.calendar()
    assert calendar.minutes_between(at("2026-11-20T16:00"), at("2026-11-23T10:00")) == 120
    assert calendar.minutes_between(at("2026-11-23T10:00"), at("2026-11-20T16:00")) == -120
    always = Team(name="night-shift").calendar()
    assert always.minutes_between(at("2026-11-20T16:00"), at("2026-11-21T16:00")) == 1440
    assert always.add_minutes(at("2026-11-21T23:30"), 60) == at("2026-11-22T00:30")


def test_split_shifts_and_short_saturdays() -> None:
    team = Team(
        name="care",
        timezone="UTC",
        business_hours={"mon-fri": "09:00-12:00, 13:00-17:00", "sat": "10:00-12:00"},
    )
    calendar = team.calendar()
    assert calendar.add_minutes(at("2026-11-20T11:30"), 60) == at("2026-11-20T13:30")
    assert calendar.add_minutes(at("2026-11-20T16:30"), 60) == at("2026-11-21T10:30")


def test_deadlines_across_a_daylight_saving_change_count_real_minutes() -> None:
    # Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
    always = Team(name="care", timezone="Europe/Berlin").calendar()
    assert always.add_minutes(at("2026-03-29T00:30"), 90) == at("2026-03-29T02:00")
    assert always.add_minutes(at("2026-10-24T23:30"), 180) == at("2026-10-25T02:30")
    assert always.minutes_between(at("2026-03-28T23:00"), at("2026-03-29T22:00")) == 23 * 60
    assert always.minutes_between(at("2026-10-24T22:00"), at("2026-10-25T23:00")) == 25 * 60
    # A night shift open 01:00-05:00 on the clocks is three real hours that night.
    nights = Team(name="care", timezone="Europe/Berlin", business_hours={"mon-sun": "01:00-05:00"})
    assert nights.calendar().add_minutes(at("2026-03-29T00:00"), 180) == at("2026-03-29T03:00")
    # Office hours are on the local clocks both sides of the change.
    berlin = Team(name="care", timezone="Europe/Berlin", business_hours={"mon-fri": "09:00-17:00"})
    assert berlin.calendar().add_minutes(at("2026-03-27T15:30"), 60) == at("2026-03-30T07:30")


def test_cases_list_sorts_ties_as_the_dashboard_queue_does(make_runtime: RuntimeFactory) -> None:
    # Three customers escalated at the same moment: one deadline. Priority first, then
    # the oldest case, as on the dashboard; `cases list` used to put the newest first.
    rt = make_runtime(
        [mention(i, "@acme you are idiots", author_id=str(600 + i)) for i in (1, 2, 3)]
    )
    run_cycle(rt)
    triage.set_priority(rt, "C-1003", "urgent", user="lena")
    listed = casework_listing.list_cases(rt)
    assert len({row.sla_due_at for row in listed}) == 1
    assert [row.ref for row in listed] == ["C-1003", "C-1001", "C-1002"]


def test_cases_list_puts_answers_owed_before_deadlines_already_met(
    make_runtime: RuntimeFactory,
) -> None:
    # The outage report is acknowledged by the bot (tech, 30 min): nothing is owed, but
    # its met deadline, the earlier one, listed it above the abuse report nobody answered.
    rows = [mention(1, "@acme the app is down"), mention(2, "@acme you are idiots")]
    rt = make_runtime(rows, teams=TEAMS)
    run_cycle(rt)
    assert [row.ref for row in casework_listing.list_cases(rt)] == ["C-1002", "C-1001"]


def test_cases_list_shows_no_deadline_for_an_answer_already_given(
    make_runtime: RuntimeFactory,
) -> None:
    # As the dashboard shows it: the acknowledged case's met deadline read as one still
    # running, and once past, as overdue.
    rows = [mention(1, "@acme the app is down"), mention(2, "@acme you are idiots")]
    rt = make_runtime(rows, teams=TEAMS)
    run_cycle(rt)
    due = {row.ref: row.sla_due_at for row in casework_listing.list_cases(rt)}
    assert due["C-1001"] is None
    assert due["C-1002"] is not None


def two_drafts(make_runtime: RuntimeFactory) -> Runtime:
    """A customer who asks again, an hour later, while the first draft still waits."""
    first = mention(1, "@acme how do I change the delivery address on my order?")
    again = mention(
        2,
        "@acme hello? how can I change the address before it ships?",
        author="user1",
        author_id="501",
        conversation_id="1001",
        in_reply_to="1001",
        created_at="2026-11-20T11:00:00Z",
    )
    rt = make_runtime([first])
    run_cycle(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    rt.sources["feed"] = make_runtime([first, again]).sources["feed"]
    run_cycle(rt)
    return rt


def test_each_of_two_drafts_is_approved_or_rejected_by_its_id(
    make_runtime: RuntimeFactory,
) -> None:
    rt = two_drafts(make_runtime)
    older, newer = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    ref = the_case(rt).ref
    # Approving the older draft's form posted the newer draft with the older one's text.
    assert casework_drafts.approve(rt, ref, user="lena", draft_id=older.id) == older.id
    assert the_case(rt).state == CaseState.AWAITING_APPROVAL  # the newer one still waits
    with pytest.raises(
        casework.CaseworkError, match=f"draft {older.id} of {ref} was approved already"
    ):
        casework_drafts.reject(rt, ref, user="lena", draft_id=older.id)
    assert casework_drafts.reject(rt, ref, user="lena", draft_id=newer.id) == newer.id
    assert [(a.id, a.status) for a in actions(rt)] == [
        (older.id, ActionStatus.PENDING),
        (newer.id, ActionStatus.REJECTED),
    ]
    assert the_case(rt).state == CaseState.AWAITING_HUMAN


def test_the_case_page_settles_the_draft_whose_form_was_sent(
    make_runtime: RuntimeFactory,
) -> None:
    rt = two_drafts(make_runtime)
    older, newer = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, csrf = client_for(rt, "lena")
    ref = the_case(rt).ref
    page = client.get(f"/cases/{ref}").text
    for draft in (older, newer):
        assert page.count(f'name="draft" value="{draft.id}"') == 2  # approve and reject
    answer = client.post(f"/cases/{ref}/reject", data={"csrf_token": csrf, "draft": str(older.id)})
    assert answer.status_code == 200, answer.text[:300]
    assert [a.status for a in actions(rt)] == [ActionStatus.REJECTED, ActionStatus.DRAFT]


def test_approve_without_a_draft_id_is_refused_while_two_drafts_wait(
    make_runtime: RuntimeFactory,
) -> None:
    # "The newest" without an id: a script resending its approve after a timeout
    # approved the newer draft, then the older one, and both answers were posted.
    rt = two_drafts(make_runtime)
    older, newer = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    ref = the_case(rt).ref
    waiting = f"{ref} has 2 drafts waiting (actions {older.id}, {newer.id}): name one"
    for settle in (casework_drafts.approve, casework_drafts.reject):
        with pytest.raises(casework.CaseworkError) as refused:
            settle(rt, ref, user="lena")
        assert str(refused.value) == f"{waiting} with draft (--draft)"
    assert [a.status for a in actions(rt)] == [ActionStatus.DRAFT, ActionStatus.DRAFT]
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    lena = api_client(rt, "lena")
    refused = lena.post(f"/api/cases/{ref}/approve", json={})
    assert refused.status_code == 400
    assert refused.json()["error"].startswith(waiting)


def test_the_refusal_counts_every_draft_waiting_not_only_those_it_lists(
    make_runtime: RuntimeFactory,
) -> None:
    # A customer who kept writing while nobody approved: 12 drafts wait. The refusal
    # lists the first 10 ids but said "has 10 drafts waiting", hiding 2 of them.
    rt = two_drafts(make_runtime)
    _older, newer = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    with transaction(rt.sessions) as session:
        for n in range(10):
            session.add(
                ActionRow(
                    case_id=newer.case_id,
                    message_id=newer.message_id,
                    kind=newer.kind,
                    platform=newer.platform,
                    target_external_id=newer.target_external_id,
                    conversation_id=newer.conversation_id,
                    text=newer.text,
                    rule=newer.rule,
                    actor=newer.actor,
                    status=ActionStatus.DRAFT.value,
                    next_attempt_at=newer.next_attempt_at,
                    idempotency_key=f"{newer.idempotency_key}-more-{n}",
                    created_at=newer.created_at,
                    updated_at=newer.updated_at,
                )
            )
    drafts = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    ref = the_case(rt).ref
    listed = ", ".join(str(d.id) for d in drafts[:10])
    with pytest.raises(casework.CaseworkError) as refused:
        casework_drafts.approve(rt, ref, user="lena")
    assert str(refused.value) == (
        f"{ref} has 12 drafts waiting (actions {listed}, ...): name one with draft (--draft)"
    )


def test_resending_the_approval_of_a_named_draft_is_no_error_and_posts_once(
    make_runtime: RuntimeFactory,
) -> None:
    rt = two_drafts(make_runtime)
    older, newer = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    ref = the_case(rt).ref
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    lena = api_client(rt, "lena")
    body = {"draft": older.id}
    first = lena.post(f"/api/cases/{ref}/approve", json=body)
    assert first.json()["ok"] is True, first.text
    dispatch_outbox(rt)
    # The answer timed out on the script's side; it sends the same request again.
    again = lena.post(f"/api/cases/{ref}/approve", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == {
        "ok": True,
        "message": f"draft {older.id} of {ref} was approved already by lena at "
        "2026-11-20 10:00 UTC; nothing was changed",
    }
    with pytest.raises(casework.AlreadyQueued):
        casework_drafts.approve(rt, ref, user="lena", draft_id=older.id)
    assert [(a.id, a.status) for a in actions(rt)] == [
        (older.id, ActionStatus.SENT),
        (newer.id, ActionStatus.DRAFT),
    ]
    # A draft a person turned down is not "approved already": that stays a refusal.
    casework_drafts.reject(rt, ref, user="lena", draft_id=newer.id)
    turned_down = lena.post(f"/api/cases/{ref}/approve", json={"draft": newer.id})
    assert turned_down.status_code == 400
    assert turned_down.json() == {"error": f"{ref} has no draft {newer.id} waiting for approval"}


def test_overlapping_spans_count_each_minute_once() -> None:
    # Friday is listed twice (the week, then a short Friday): the two spans overlap from
    # 09:00 to 15:00. Counted per span, those minutes ran twice: a case at 14:30 with an
    # hour to go was due at 15:00, and 09:00-10:00 read as 120 business minutes.
    team = Team(name="care", business_hours={"mon-fri": "09:00-17:00", "fri": "09:00-15:00"})
    calendar = team.calendar()
    assert calendar.add_minutes(at("2026-11-20T14:30"), 60) == at("2026-11-20T15:30")
    assert calendar.minutes_between(at("2026-11-20T09:00"), at("2026-11-20T10:00")) == 60
    touching = Team(name="care", business_hours={"mon": "09:00-12:00, 11:00-13:00, 13:00-14:00"})
    assert touching.opening_hours().week is not None
    assert touching.opening_hours().week[0] == ((540, 840),)


def test_a_long_sla_on_a_short_week_reaches_its_deadline() -> None:
    # Saturdays 10:00-14:00 only: 240 minutes a week. The longest SLA the config accepts
    # (43,200 business minutes) is 180 Saturdays, over three years: the two-year bound on
    # the whole search failed every escalation to such a team. 2026-11-21 is a Saturday;
    # 179 weeks later, at the end of that day's hours.
    saturdays = Team(name="weekend", business_hours={"sat": "10:00-14:00"})
    due = at("2026-11-21T10:00") + timedelta(weeks=179, hours=4)
    assert saturdays.calendar().add_minutes(at("2026-11-21T10:00"), 43_200) == due
    # A week of holidays on top moves it by one more Saturday.
    holiday = Team(name="weekend", business_hours={"sat": "10:00-14:00"}, holidays=["2027-01-02"])
    later = holiday.calendar().add_minutes(at("2026-11-21T10:00"), 43_200)
    assert later == due + timedelta(weeks=1)


def test_a_calendar_closed_for_two_years_is_an_error() -> None:
    closed = [date(2026, 11, 21) + timedelta(weeks=n) for n in range(110)]
    saturdays = Team(name="weekend", business_hours={"sat": "10:00-14:00"}, holidays=closed)
    with pytest.raises(ValueError, match="two years"):
        saturdays.calendar().add_minutes(at("2026-11-21T10:00"), 60)


def test_the_warning_time_is_bounded_like_the_deadline() -> None:
    # check_sla looks sla_warning_minutes of business time ahead on every run, for every
    # team: unbounded, a typo of a few extra zeros passed check-config and then each run
    # walked the calendar for decades, or past year 9999 and failed.
    with pytest.raises(ValidationError, match="sla_warning_minutes"):
        Team(name="care", sla_warning_minutes=MAX_SLA_MINUTES + 1)
    # The longest one left is a minute short of the longest deadline: a warning must
    # come before its deadline.
    longest = Team(name="care", first_response_minutes=MAX_SLA_MINUTES, sla_warning_minutes=43_199)
    assert longest.warning_minutes == MAX_SLA_MINUTES - 1


def test_hours_on_a_time_the_clocks_skip_start_and_end_at_the_change() -> None:
    # Europe/Berlin, 2026-03-29: at 01:00 UTC the clocks go from 02:00 to 03:00, so they
    # never show 02:30. A team opening "at 02:30" is open from the change (03:00 on the
    # clocks, as the business_hours rule condition reads it), not an hour after 01:30
    # UTC; one closing "at 02:30" closes at the change, not at 03:30 on the clocks.
    opening = Team(name="care", timezone="Europe/Berlin", business_hours={"sun": "02:30-06:00"})
    assert opening.opening_hours().is_open(at("2026-03-29T01:15"))
    assert opening.calendar().add_minutes(at("2026-03-29T00:00"), 30) == at("2026-03-29T01:30")
    closing = Team(name="care", timezone="Europe/Berlin", business_hours={"sun": "00:00-02:30"})
    assert not closing.opening_hours().is_open(at("2026-03-29T01:15"))
    calendar = closing.calendar()
    assert calendar.minutes_between(at("2026-03-28T23:00"), at("2026-03-29T12:00")) == 120
    assert calendar.add_minutes(at("2026-03-29T00:50"), 30) == at("2026-04-04T22:20")


def test_a_dead_notification_retried_by_a_person_gets_fresh_attempts(
    make_runtime: RuntimeFactory,
) -> None:
    # `cases retry` promises fresh attempts. A notification gives up by its age, and a
    # retried one is past notify_retry_hours already: its first failure killed it again.
    with FakeAPI() as hook:
        hook.add("POST", "/hook", *[Reply(503)] * 6, Reply(200, body=b"ok"))
        rt = escalated_to_a_chat(make_runtime, hook, dispatch={"notify_retry_hours": 2})
        for _ in range(4):
            rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
            dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.DEAD
        triage.retry_action(rt, notify.id, user="lead")
        dispatch_outbox(rt)  # the channel is still down: a failure, not the end
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.FAILED, notify.last_error
        rt.clock.advance(minutes=30)  # type: ignore[attr-defined]
        dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.SENT, notify.last_error
        assert len(hook.seen("POST", "/hook")) == 7


def test_a_draft_whose_rule_allows_its_redirect_is_approved_as_drafted(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # The case page always sends the draft's box, edited or not: checked as a person's
    # own words, a draft its rule may post (allow_redirect, with a reason) was refused
    # ("the reply sends the customer elsewhere"), and the page offers no override.
    rules = tmp_path / "recall-rules"
    rules.mkdir()
    (rules / "recall.yaml").write_text(
        "name: recall\nallow_redirect: true\nredirect_reason: legal recall notice\n"
        "match: {text: recall}\nthen: {draft: 'The recall form: https://acme.example/recall'}\n",
        encoding="utf-8",
    )
    rt = make_runtime(
        [mention(1, "@acme is my kettle part of the recall?")], rules={"path": str(rules)}
    )
    run_cycle(rt)
    (draft,) = actions(rt, ActionRow.status == ActionStatus.DRAFT)
    ref = the_case(rt).ref
    # An edit is a person's words: the guard holds for those.
    edited = "Please email recall@acme.example"
    with pytest.raises(casework.CaseworkError, match="sends the customer elsewhere"):
        casework_drafts.approve(rt, ref, user="lena", text=edited)
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    client, csrf = client_for(rt, "lena")
    # Checked as the lead types, the box's problems lock its button: none for the draft
    # as drafted, the guard's for an edit.
    check = f"/cases/{ref}/check?draft={draft.id}"
    headers = {"X-CSRF-Token": csrf}
    assert client.post(check, content=draft.text, headers=headers).json()["problems"] == []
    problems = client.post(check, content=edited, headers=headers).json()["problems"]
    assert ["sends the customer elsewhere" in p for p in problems] == [True]
    form = {"csrf_token": csrf, "draft": str(draft.id), "text": draft.text}
    answer = client.post(f"/cases/{ref}/approve", data=form, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:2000]
    assert [a.status for a in actions(rt)] == [ActionStatus.PENDING]


def test_cases_list_reads_the_first_messages_in_the_same_statement(
    make_runtime: RuntimeFactory,
) -> None:
    # Each row's first message was read by a query of its own: `cases list --limit
    # 10000` sent 10,001 statements to the database.
    rt = make_runtime([mention(i, f"@acme order {i} is late\nsecond line") for i in range(1, 6)])
    run_cycle(rt)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        one = casework_listing.list_cases(rt, limit=1)
        for_one = len(statements)
        statements.clear()
        five = casework_listing.list_cases(rt, limit=5)
        for_five = len(statements)
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    assert len(one) == 1
    assert len(five) == 5
    assert for_five == for_one, statements
    assert sorted(row.first_line for row in five) == [
        f"@acme order {i} is late" for i in range(1, 6)
    ]


def test_cases_list_shows_the_first_line_with_words(make_runtime: RuntimeFactory) -> None:
    # A post may start with a line break: its first line was blank, and so was the cell,
    # while the dashboard's queue showed the first line with words in it.
    rt = make_runtime([mention(1, "\n  \n  @acme my order is late  \nsecond line")])
    run_cycle(rt)
    (row,) = casework_listing.list_cases(rt)
    assert row.first_line == "@acme my order is late"


def test_a_person_cannot_reply_to_a_case_closed_as_spam(make_runtime: RuntimeFactory) -> None:
    # Closed as spam, a case stays closed and nothing more is posted to the spammer until
    # a person removes the `spam` tag (as `cases retry` refuses its dead replies). A reply
    # (a colleague's page open from before the spam mark) reopened it and posted.
    rt = make_runtime([mention(1, "@acme you are idiots")])
    run_cycle(rt)
    triage.mark_spam(rt, "C-1001", user="ana")
    before = actions(rt)
    with pytest.raises(casework.CaseworkError) as refused:
        casework_replies.reply(rt, "C-1001", "Sorry to hear that.", user="lena")
    assert str(refused.value) == "C-1001 was closed as spam: remove its spam tag to reply"
    assert actions(rt) == before
    assert the_case(rt).state == CaseState.RESOLVED
    # Taken back by removing the tag, the case can be answered again.
    triage.tag(rt, "C-1001", user="ana", remove=("spam",))
    casework_replies.reply(rt, "C-1001", "Sorry to hear that.", user="lena")
    assert the_case(rt).state == CaseState.REPLIED


_T = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_the_first_missed_deadline_stands_over_later_ones() -> None:
    # Missed once, reopened and missed again: the reports keep the first breach.
    case = Case(opened_at=_T, sla_due_at=_T + timedelta(hours=5), missed_due_at=_T)
    cases.keep_missed_deadline(case, _T + timedelta(hours=6))
    assert case.missed_due_at == _T


def test_an_answer_posted_the_second_a_case_was_closed_is_its_first_response() -> None:
    # A lagging search brings in the brand's answer posted as the person closed the
    # case: still the first response (posted by the close), though nothing is owed now.
    closed = _T + timedelta(hours=1)
    case = Case(state=CaseState.RESOLVED.value, opened_at=_T, resolved_at=closed)
    assert not cases.answered_on_platform(case, closed, closed + timedelta(hours=1), closed)
    assert case.first_response_at == closed


def test_an_answer_dated_after_it_was_stored_counts_from_when_it_was_stored() -> None:
    # The platform's clock ahead of ours: the first response is never in the future.
    case = Case(state=CaseState.AWAITING_HUMAN.value, opened_at=_T)
    stored = _T + timedelta(hours=1)
    assert cases.answered_on_platform(case, stored + timedelta(minutes=5), stored, _T)
    assert case.first_response_at == stored
