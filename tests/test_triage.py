"""Triage operations (monitor.triage) and the reply check seam, through the real core."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from monitor import casework, casework_actions, casework_drafts, casework_replies, triage
from monitor.casework import CaseworkError
from monitor.dispatch import dispatch_outbox
from monitor.domain import Action, CaseState, Platform
from monitor.ingest import release_leases
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.sla import check_sla
from monitor.store.models import ActionRow, Case, Event, Message
from monitor.store.web_models import SentimentFeedback
from monitor.web.users import create_user
from tests.conftest import REPO, RuntimeFactory, mention
from tests.fakes import CrashAfterPost, ScriptedResponder, permanent, temporary
from tests.webkit import PASSWORD, TEAMS, seeded


def test_check_reply_measures_against_the_platform_limit() -> None:
    assert casework.check_reply("x", "a" * 280) == []
    assert casework.check_reply("x", "a" * 281) == ["281 characters: x allows 280"]
    assert casework.check_reply("reddit", "a" * 10_000) == []
    assert casework.check_reply("reddit", "a" * 10_001) == ["10001 characters: reddit allows 10000"]
    # Surrounding whitespace is not posted, so it does not count.
    assert casework.check_reply("x", " " * 50 + "a" * 280) == []


def test_team_change_restarts_the_sla_clock_of_an_unanswered_case(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    rt.clock.advance(hours=3)  # type: ignore[attr-defined]
    check_sla(rt)
    with rt.sessions() as session:
        before = (
            session.query(Case)
            .filter(Case.team == "care", Case.first_response_at.is_(None))
            .order_by(Case.id)
            .first()
        )
        assert before is not None
        assert before.sla_breached_at is not None  # care: 60 minutes, long gone
    triage.set_team(rt, before.ref, "international", user="lena")
    with rt.sessions() as session:
        after = session.get(Case, before.id)
        assert after is not None
        assert after.team == "international"
        assert after.sla_due_at == after.opened_at + timedelta(minutes=240)
        assert after.sla_breached_at is None


def test_a_team_change_unassigns_an_agent_who_cannot_open_the_case_any_more(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    with rt.sessions() as session:
        refs = [c.ref for c in session.query(Case).filter(Case.team == "care").order_by(Case.id)]
    casework_actions.assign(rt, refs[0], "alice", user="lena")  # an agent of care
    casework_actions.assign(rt, refs[1], "lena", user="lena")  # a lead: opens every team's cases
    triage.set_team(rt, refs[0], "billing", user="lena")
    triage.set_team(rt, refs[1], "billing", user="lena")
    with rt.sessions() as session:
        moved = [casework.find_case(session, ref) for ref in refs[:2]]
        assert [c.assignee for c in moved] == [None, "lena"]
        event = session.query(Event).filter(Event.kind == "team", Event.case_id == moved[0].id)
        assert event.one().detail == {"old": "care", "new": "billing", "unassigned": "alice"}


def test_the_new_team_is_alerted_on_a_channel_it_shares_with_the_old_one(
    make_runtime: RuntimeFactory,
) -> None:
    channels = {"floor": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{"name": n, "channels": ["floor"]} for n in ("care", "billing", "tech")]
    teams.append({"name": "international", "channels": ["floor"], "first_response_minutes": 240})
    rt = make_runtime([mention(1, "@acme you are idiots")], channels=channels, teams=teams)
    run_cycle(rt)
    rt.clock.advance(minutes=50)  # type: ignore[attr-defined]
    check_sla(rt)  # care's warning
    triage.set_team(rt, "C-1001", "international", user="lena")
    rt.clock.advance(minutes=180)  # type: ignore[attr-defined]
    check_sla(rt)  # international's warning, 10 minutes before its deadline
    with rt.sessions() as session:
        alerts = session.query(ActionRow).filter(ActionRow.text.like("%SLA first response%"))
        assert [a.text.count("due in") for a in alerts.order_by(ActionRow.id)] == [1, 1]


def test_a_draft_rejected_while_it_was_being_approved_stays_rejected(
    make_runtime: RuntimeFactory, db_url: str
) -> None:
    # The dashboard and the CLI at once: lena's approval has read the draft and checks
    # her edit while a colleague rejects it. The rejection waits for the approval's case
    # lock (casework.lock_case), then finds no draft: it cannot slip in between, and the
    # approval cannot undo it. tests/test_casework_locks.py covers PostgreSQL.
    if not db_url.startswith("sqlite"):
        pytest.skip("called inside the approval, the rejection would wait for ever")
    rt = seeded(make_runtime, database={"url": db_url, "busy_timeout_ms": 50})
    rejected: list[str] = []

    def reject_before_the_write(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The approval has read the draft and checked the edit; its write is next. (The
        # rejection's own write passes through here too, once the list says so.)
        if statement.lstrip().upper().startswith("UPDATE ACTIONS") and not rejected:
            rejected.append("C-1015")
            try:
                casework_drafts.reject(rt, "C-1015", user="root", reason="wrong tone")
            except OperationalError as exc:  # the approval's lock, in this test's one thread
                rejected.append(str(exc.orig))

    event.listen(rt.engine, "before_cursor_execute", reject_before_the_write)
    try:
        casework_drafts.approve(rt, "C-1015", user="lena", text="Yes, we do. Thanks!")
    finally:
        event.remove(rt.engine, "before_cursor_execute", reject_before_the_write)
    assert rejected == ["C-1015", "database is locked"]
    with pytest.raises(CaseworkError, match="C-1015 has no draft waiting for approval"):
        casework_drafts.reject(rt, "C-1015", user="root", reason="wrong tone")
    with rt.sessions() as session:
        case = casework.find_case(session, "C-1015")
        draft = session.query(ActionRow).filter(ActionRow.case_id == case.id).one()
        assert (draft.status, draft.text) == ("pending", "Yes, we do. Thanks!")
        kinds = [e.kind for e in session.query(Event).filter(Event.case_id == case.id)]
        assert "approved" in kinds
        assert "rejected" not in kinds
    # Approving twice: the second finds no draft, rather than queueing it again.
    casework_drafts.approve(rt, "C-1025", user="lena")
    with pytest.raises(CaseworkError, match="C-1025 has no draft waiting for approval"):
        casework_drafts.approve(rt, "C-1025", user="lena")


def test_tags_are_normalised_and_bounded(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    assert triage.tag(rt, "C-1028", user="a", add=("VIP", "vip", "late-2")) == ["vip", "late-2"]
    assert triage.tag(rt, "C-1028", user="a", remove=("vip",)) == ["late-2"]
    with pytest.raises(CaseworkError, match="at most 20 tags"):
        triage.tag(rt, "C-1028", user="a", add=tuple(f"t{n}" for n in range(20)))
    with pytest.raises(CaseworkError, match="bad tag"):
        triage.tag(rt, "C-1028", user="a", add=("two words",))


def test_an_upper_case_tag_stored_by_an_older_version_can_be_removed(
    make_runtime: RuntimeFactory,
) -> None:
    # Rule tags were stored as written before they were lower-cased; what a person types
    # is lower-cased, so "VIP" stayed on the case whatever they removed.
    rt = seeded(make_runtime)
    with rt.sessions.begin() as session:
        casework.find_case(session, "C-1028").tags = ["VIP", "late-2"]
    assert triage.tag(rt, "C-1028", user="a", add=("vip",)) == ["VIP", "late-2"]
    assert triage.tag(rt, "C-1028", user="a", remove=("VIP",)) == ["late-2"]


def test_spam_rejects_waiting_drafts(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    triage.mark_spam(rt, "C-1015", user="lena")
    with rt.sessions() as session:
        statuses = {a.status for a in session.query(ActionRow).filter(ActionRow.case_id == 15)}
        assert statuses == {"rejected"}
        case = session.get(Case, 15)
        assert case is not None
        assert (case.state, "spam" in case.tags) == ("resolved", True)
    dispatch_outbox(rt)
    with rt.sessions() as session:
        assert session.query(ActionRow).filter(ActionRow.case_id == 15).one().status == "rejected"


def first_send_fails(
    make_runtime: RuntimeFactory, rows: list[dict[str, Any]], error: Exception, **overrides: Any
) -> tuple[Runtime, ScriptedResponder]:
    """A cycle over ``rows`` whose first post fails with ``error``."""
    rt = make_runtime(rows, **overrides)
    responder = ScriptedResponder()
    rt.responders = dict.fromkeys(Platform, responder)
    responder.fail_next(error)
    run_cycle(rt)
    return rt, responder


def test_spam_withdraws_the_bots_waiting_replies(make_runtime: RuntimeFactory) -> None:
    """A reply that failed once and waits for its retry is not posted after "spam".
    (Refused for sure: one that may have posted is looked for, as the test below.)"""
    late = mention(1, "@acme my order is late, terrible service")
    rt, responder = first_send_fails(
        make_runtime, [late], temporary("429 Too Many Requests", rate_limited=True)
    )
    with rt.sessions() as session:
        replies = session.query(ActionRow).filter(ActionRow.kind == "reply").all()
        assert [a.status for a in replies] == ["failed"]
        ref = session.query(Case).one().ref
    triage.mark_spam(rt, ref, user="lena")
    rt.clock.advance(hours=2)
    dispatch_outbox(rt)
    assert responder.posts == []
    with rt.sessions() as session:
        assert [a.status for a in session.query(ActionRow).filter(ActionRow.kind == "reply")] == [
            "rejected"
        ]
        spam = session.query(Event).filter(Event.kind == "spam").one()
        assert spam.detail["replies_withdrawn"] == 1


def test_replies_withdrawn_as_spam_do_not_count_toward_the_threads_cap(
    make_runtime: RuntimeFactory,
) -> None:
    # The cap counts every customer's case in the thread. A reply withdrawn when its case
    # was marked as spam was never posted: counted, it took the thread's one reply from
    # the next customer, who got no answer although the bot had said nothing there.
    thread = {"conversation_id": "1001"}
    spammer = mention(1, "@acme my order is late, terrible service")
    other = mention(2, "@acme my order is late, terrible service", **thread)
    rules = {"path": str(REPO / "config" / "rules"), "max_replies_per_thread": 1}
    # Refused for sure: one that may have posted holds its place until it is looked for.
    rt, responder = first_send_fails(
        make_runtime, [spammer], temporary("429 Too Many Requests", rate_limited=True), rules=rules
    )
    triage.mark_spam(rt, "C-1001", user="lena")
    release_leases(rt)
    rt = make_runtime([spammer, other], rules=rules)
    rt.responders = dict.fromkeys(Platform, responder)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    run_cycle(rt)
    assert [target for _, target, _ in responder.posts] == ["1002"]
    with rt.sessions() as session:
        spam = session.query(Case).filter(Case.customer_id == 1).one()
        assert ("spam" in spam.tags, spam.bot_replies) == (True, 0)


def test_spam_takes_only_the_bots_own_replies_off_the_threads_count(
    make_runtime: RuntimeFactory,
) -> None:
    # A person's reply waiting in the outbox was never counted as the bot's: withdrawing
    # it must not lower the count of the bot's reply, which was posted.
    late = mention(1, "@acme my order is late, terrible service")
    rt = make_runtime([late])
    responder = ScriptedResponder()
    rt.responders = dict.fromkeys(Platform, responder)
    run_cycle(rt)
    assert len(responder.posts) == 1
    casework_replies.reply(rt, "C-1001", "Sorry, we are on it.", user="lena")
    triage.mark_spam(rt, "C-1001", user="lena")
    with rt.sessions() as session:
        case = session.query(Case).one()
        assert case.bot_replies == 1
        spam = session.query(Event).filter(Event.kind == "spam").one()
        assert spam.detail["replies_withdrawn"] == 1


def test_a_persons_reply_to_a_resolved_case_takes_it_out_of_the_resolved_figures(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1, "@acme ok, the order number is 5512")])
    run_cycle(rt)
    casework_actions.resolve(rt, "C-1001", user="lena")
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    casework_replies.reply(rt, "C-1001", "One more thing: it ships today.", user="lena")
    with rt.sessions() as session:
        case = session.query(Case).one()
        # Open again: the reports' resolution time must not count it as resolved.
        assert (case.state, case.resolved_at) == ("replied", None)


def test_a_spammer_writing_again_neither_reopens_the_case_nor_gets_an_answer(
    make_runtime: RuntimeFactory,
) -> None:
    first = mention(1, "@acme the app is down")
    thread = {"author": "user1", "author_id": "501", "conversation_id": "1001"}
    again = mention(2, "@acme the app is down!!", **thread)
    rt = make_runtime([first])
    run_cycle(rt)
    triage.mark_spam(rt, "C-1001", user="lena")
    release_leases(rt)  # the daemon restarts with a longer feed
    rt = make_runtime([first, again])
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.query(Case).one()
        assert (case.state, case.bot_replies) == ("resolved", 1)
        follow_up = session.query(Message).filter(Message.external_id == "1002").one()
        assert follow_up.case_id == case.id
        assert follow_up.decision == {
            "ignored": True,
            "notes": ["guard: the case was closed as spam"],
        }
        assert session.query(ActionRow).filter(ActionRow.target_external_id == "1002").all() == []
    # Without the spam tag it is an ordinary resolved case: the customer reopens it.
    triage.tag(rt, "C-1001", user="lena", remove=("spam",))
    release_leases(rt)
    rt = make_runtime([first, again, {**again, "id": "1003"}])
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.query(Case).one()
        assert case.state == "awaiting_human"


def test_only_customer_messages_of_the_case_take_sentiment_feedback(
    make_runtime: RuntimeFactory,
) -> None:
    rt = seeded(make_runtime)
    with rt.sessions() as session:
        outbound = session.query(ActionRow).filter(ActionRow.status == "sent").first()
        assert outbound is not None
        case_ref = f"C-{1000 + outbound.case_id}"
        from monitor.store.models import Message

        own = (
            session.query(Message)
            .filter(Message.case_id == outbound.case_id, Message.direction == "outbound")
            .first()
        )
        assert own is not None
    with pytest.raises(CaseworkError, match="only customer messages carry a sentiment"):
        triage.correct_sentiment(rt, case_ref, own.id, "negative", user="a")
    with pytest.raises(CaseworkError, match="label must be one of"):
        triage.correct_sentiment(rt, case_ref, own.id, "unscored", user="a")


def test_retry_gives_a_dead_reply_fresh_attempts_and_it_is_sent(
    make_runtime: RuntimeFactory,
) -> None:
    platform = ScriptedResponder()
    platform.fail_next(permanent("403 replies restricted"))
    rt = seeded(make_runtime, responder=platform)
    with rt.sessions() as session:
        dead = session.query(ActionRow).filter(ActionRow.status == "dead").one()
    case = triage.retry_action(rt, dead.id, user="lena")
    dispatch_outbox(rt)
    with rt.sessions() as session:
        sent = session.get(ActionRow, dead.id)
        assert sent is not None
        assert sent.status == "sent"
        kinds = [e.kind for e in session.query(Event).filter(Event.case_id == case.id)]
    assert "retried" in kinds
    assert any(text == dead.text for _, _, text in platform.posts)


def test_a_rule_moving_a_case_to_another_team_unassigns_an_agent_who_cannot_open_it(
    make_runtime: RuntimeFactory,
) -> None:
    # The sibling of a person's team change: the customer writes again about billing and
    # the rules hand the case on. Left assigned to the care agent, who cannot open a
    # billing case, it waited on nobody who could work it.
    first = mention(1, "@acme you are idiots")
    thread = {"author": "user1", "author_id": "501", "conversation_id": "1001"}
    again = mention(2, "@acme and I was charged twice, I want a refund", **thread)
    rt = make_runtime([first], teams=TEAMS)
    run_cycle(rt)
    create_user(rt, "alice", "agent", PASSWORD, ("care",))
    casework_actions.assign(rt, "C-1001", "alice", user="root")
    release_leases(rt)
    rt = make_runtime([first, again], teams=TEAMS)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    run_cycle(rt)
    with rt.sessions() as session:
        case = casework.find_case(session, "C-1001")
        assert (case.team, case.assignee) == ("billing", None)
        events = session.query(Event).filter(Event.kind == "assigned").order_by(Event.id).all()
        assert [(e.actor, e.detail["new"]) for e in events] == [
            ("root", {"assignee": "alice"}),
            ("refund-or-billing", {"assignee": None}),
        ]


def test_a_dead_reply_of_a_case_marked_spam_is_not_posted_by_a_retry(
    make_runtime: RuntimeFactory,
) -> None:
    # After a platform outage a person retries the dead replies from the outbox page; one
    # of them answers a case marked as spam since. Spam withdrew only the replies waiting
    # to go out, and the retry posted this one to the spammer.
    late = mention(1, "@acme my order is late, terrible service")
    rt, responder = first_send_fails(make_runtime, [late], permanent("503 for now"))
    with rt.sessions() as session:
        (reply,) = session.query(ActionRow).filter(ActionRow.kind == "reply").all()
        assert reply.status == "dead"
    triage.mark_spam(rt, "C-1001", user="lena")
    with pytest.raises(CaseworkError, match=r"^C-1001 was closed as spam: remove its spam tag"):
        triage.retry_action(rt, reply.id, user="lena")
    dispatch_outbox(rt)
    assert responder.posts == []
    triage.tag(rt, "C-1001", user="lena", remove=("spam",))  # a person takes it back
    triage.retry_action(rt, reply.id, user="lena")
    dispatch_outbox(rt)
    assert len(responder.posts) == 1


def _customer_then_brand_post(make_runtime: RuntimeFactory) -> Runtime:
    """user1 writes; then the brand's own post answers in the thread (another agent,
    natively on X), brought in by a search as inbound of kind "own"."""
    customer = mention(1, "@acme ok, the order number is 5512", created_at="2026-11-20T10:00:00Z")
    own = mention(
        2,
        "@user1 We are looking into it.",
        author="acme",
        author_id="1",
        kind="own",
        conversation_id="1001",
        in_reply_to="1001",
        created_at="2026-11-20T10:05:00Z",
    )
    rt = make_runtime([customer, own])
    run_cycle(rt)
    return rt


def test_a_persons_reply_answers_the_customer_not_the_brands_own_post(
    make_runtime: RuntimeFactory,
) -> None:
    rt = _customer_then_brand_post(make_runtime)
    action_id = casework_replies.reply(rt, "C-1001", "It ships today.", user="lena")
    with rt.sessions() as session:
        action = session.get(ActionRow, action_id)
        assert action is not None
        assert action.target_external_id == "1001"


def test_the_brands_own_post_carries_no_sentiment_to_correct(
    make_runtime: RuntimeFactory,
) -> None:
    rt = _customer_then_brand_post(make_runtime)
    with rt.sessions() as session:
        own = session.query(Message).filter(Message.external_id == "1002").one()
        assert own.case_id is not None
    with pytest.raises(CaseworkError) as refused:
        triage.correct_sentiment(rt, "C-1001", own.id, "positive", user="lena")
    assert str(refused.value) == "only customer messages carry a sentiment to correct"


@pytest.mark.parametrize("posted", [True, False])
def test_spam_leaves_a_dead_workers_claim_to_be_looked_for(
    make_runtime: RuntimeFactory, posted: bool
) -> None:
    # A worker died after claiming the bot's reply (`sending`), maybe after the platform
    # took it. Spam rejected the claim: a reply in the thread was recorded as never
    # sent, taken off the thread's count, and never looked for. It is left to the
    # recovery, which looks for it in the thread; one not there is withdrawn, not sent.
    rt = make_runtime([mention(1, "@acme my order is late, terrible service")])
    responder = ScriptedResponder(crash_after_post=True)
    rt.responders = dict.fromkeys(Platform, responder)
    with pytest.raises(CrashAfterPost):
        run_cycle(rt)
    if not posted:
        responder.posts.clear()  # the worker died before the request went out
    responder.crash_after_post = False
    rt.clock.advance(seconds=rt.settings.workers.stale_claim_seconds + 1)  # type: ignore[attr-defined]
    triage.mark_spam(rt, "C-1001", user="lena")
    dispatch_outbox(rt)
    assert (responder.lookups, len(responder.posts)) == (1, int(posted))
    with rt.sessions() as session:
        reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
        case = session.query(Case).one()
        assert reply.status == ("sent" if posted else "rejected")
        assert (case.state, case.bot_replies) == ("resolved", int(posted))


def test_a_tag_can_be_removed_from_a_case_the_rules_gave_more_than_the_limit(
    make_runtime: RuntimeFactory,
) -> None:
    # A case can hold more than 20 tags (``spam`` is always added; the rules' tags were
    # unbounded before processing._add_tags kept the limit); removing one of them was
    # refused as "at most 20 tags", and the person could take none off.
    rt = seeded(make_runtime)
    many = [f"t{n}" for n in range(triage.MAX_TAGS + 2)]
    with rt.sessions.begin() as session:
        casework.find_case(session, "C-1028").tags = many
    assert triage.tag(rt, "C-1028", user="a", remove=("t0",)) == many[1:]
    with pytest.raises(CaseworkError, match="at most 20 tags"):
        triage.tag(rt, "C-1028", user="a", add=("more",))


@pytest.mark.parametrize("posted", [True, False])
def test_spam_leaves_a_failed_reply_that_may_have_posted_to_be_looked_for(
    make_runtime: RuntimeFactory, posted: bool
) -> None:
    # The bot's reply timed out (a 5xx after the request went out): the platform may
    # have taken it, and its retry looks first. Spam rejected it as never posted and
    # took it off the thread's count; one in the thread was recorded as withdrawn.
    late = mention(1, "@acme my order is late, terrible service")
    rt, responder = first_send_fails(make_runtime, [late], temporary("504 Gateway Timeout"))
    with rt.sessions() as session:
        reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
        assert (reply.status, reply.may_have_posted) == ("failed", True)
        if posted:  # the platform took it before the gateway gave up
            responder.posts.append(("p1", reply.target_external_id, reply.text))
    triage.mark_spam(rt, "C-1001", user="lena")
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (responder.lookups, len(responder.posts)) == (1, int(posted))
    with rt.sessions() as session:
        reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
        case = session.query(Case).one()
        assert reply.status == ("sent" if posted else "rejected")
        assert (case.state, case.bot_replies) == ("resolved", int(posted))


class LookupRefused(ScriptedResponder):
    """The platform refuses every search of the thread (a revoked read scope, say)."""

    def find_own_reply(self, action: Action) -> str | None:
        self.lookups += 1
        raise permanent("403 search not allowed")


def test_a_spam_cases_reply_whose_look_fails_does_not_reopen_the_case(
    make_runtime: RuntimeFactory,
) -> None:
    # The reply left to be looked for (it may have posted) could not be looked for: it
    # died, and its case, closed as spam, went back to a person as "reply could not be
    # posted", with an alert, for a reply nobody meant to post.
    late = mention(1, "@acme my order is late, terrible service")
    rt = make_runtime([late])
    responder = LookupRefused()
    rt.responders = dict.fromkeys(Platform, responder)
    responder.fail_next(temporary("504 Gateway Timeout"))
    run_cycle(rt)
    triage.mark_spam(rt, "C-1001", user="lena")
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (responder.lookups, responder.posts) == (1, [])
    with rt.sessions() as session:
        reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
        case = session.query(Case).one()
        assert reply.status == "dead"
        assert (case.state, "spam" in case.tags) == ("resolved", True)
        assert session.query(ActionRow).filter(ActionRow.kind == "notify").count() == 0


@pytest.mark.parametrize("posted", [True, False])
def test_spam_leaves_a_released_retry_that_may_have_posted_to_be_looked_for(
    make_runtime: RuntimeFactory, posted: bool
) -> None:
    # The reply timed out (it may be in the thread); its retry was claimed by a worker
    # that stopped (SIGTERM) before trying it and gave it back as `pending`. Spam then
    # rejected it as never posted: only a `failed` one was left to be looked for.
    late = mention(1, "@acme my order is late, terrible service")
    rt, responder = first_send_fails(make_runtime, [late], temporary("504 Gateway Timeout"))
    if posted:  # the platform took it before the gateway gave up
        with rt.sessions() as session:
            reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
            responder.posts.append(("p1", reply.target_external_id, reply.text))
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    rt.stopping.set()
    dispatch_outbox(rt)  # claimed, then given back untried
    rt.stopping.clear()
    with rt.sessions() as session:
        reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
        assert (reply.status, reply.may_have_posted) == ("pending", True)
    triage.mark_spam(rt, "C-1001", user="lena")
    dispatch_outbox(rt)
    assert (responder.lookups, len(responder.posts)) == (1, int(posted))
    with rt.sessions() as session:
        reply = session.query(ActionRow).filter(ActionRow.kind == "reply").one()
        case = session.query(Case).one()
        assert reply.status == ("sent" if posted else "rejected")
        assert (case.state, case.bot_replies) == ("resolved", int(posted))


def test_a_correction_sent_again_is_recorded_once(make_runtime: RuntimeFactory) -> None:
    # A double click, or a form resent after a timeout, stored the correction twice and
    # claimed two changes in the audit trail; a change of mind is still recorded.
    rt = seeded(make_runtime)
    with rt.sessions() as session:
        message = session.query(Message).filter(Message.case_id == 1).first()
        assert message is not None

    def recorded() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        with rt.sessions() as session:
            rows = session.query(SentimentFeedback).order_by(SentimentFeedback.id)
            events = session.query(Event).filter(Event.kind == "sentiment_feedback")
            return (
                [(f.corrected_label, f.user) for f in rows],
                [(e.actor, (e.detail or {})["new"]) for e in events.order_by(Event.id)],
            )

    first = triage.correct_sentiment(rt, "C-1001", message.id, "negative", user="alice")
    assert triage.correct_sentiment(rt, "C-1001", message.id, "negative", user="alice") == first
    assert recorded() == ([("negative", "alice")], [("alice", "negative")])
    triage.correct_sentiment(rt, "C-1001", message.id, "neutral", user="alice")
    triage.correct_sentiment(rt, "C-1001", message.id, "negative", user="alice")
    # A colleague's agreement is theirs to record.
    triage.correct_sentiment(rt, "C-1001", message.id, "negative", user="lena")
    assert recorded() == (
        [("negative", "alice"), ("neutral", "alice"), ("negative", "alice"), ("negative", "lena")],
        [("alice", "negative"), ("alice", "neutral"), ("alice", "negative"), ("lena", "negative")],
    )


def test_a_rule_moving_a_waiting_case_to_another_team_leaves_a_team_event(
    make_runtime: RuntimeFactory,
) -> None:
    # The case waited on care when the rules handed it to billing: the state stayed
    # awaiting_human, and with it the only event an escalation wrote, so the case
    # changed team with no trace in its history.
    first = mention(1, "@acme you are idiots")
    thread = {"author": "user1", "author_id": "501", "conversation_id": "1001"}
    again = mention(2, "@acme and I was charged twice, I want a refund", **thread)
    rt = make_runtime([first, again], teams=TEAMS)
    run_cycle(rt)
    with rt.sessions() as session:
        case = casework.find_case(session, "C-1001")
        assert (case.team, case.state) == ("billing", CaseState.AWAITING_HUMAN.value)
        events = session.query(Event).filter(Event.kind == "team").order_by(Event.id).all()
        assert [(e.actor, e.detail["old"], e.detail["new"]) for e in events] == [
            ("refund-or-billing", "care", "billing")
        ]
