"""The per-thread reply cap, kept again where replies are claimed for sending."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from monitor import thread_cap
from monitor.dispatch import dispatch_outbox
from monitor.domain import Action, Platform
from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Event, Message
from monitor.store.queries import claim_due_actions
from responders.base import SendResult
from tests.conftest import REPO, RuntimeFactory, mention
from tests.fakes import ScriptedResponder, temporary
from tests.test_processing_workers import paused_after_first_decision

OUTAGE = "@acme the app is down"
PRAISE = "@acme thanks, love the new app"  # a reply and no escalation: auto_replied
ONE_PER_THREAD = {"path": str(REPO / "config" / "rules"), "max_replies_per_thread": 1}


class AcceptedThenTimedOut(ScriptedResponder):
    """The platform takes the post, but the answer never reaches us (while times_out)."""

    times_out: bool = True

    def send(self, action: Action) -> SendResult:
        result = super().send(action)
        if self.times_out:
            raise temporary("read timed out")
        return result


def statuses(rt: Runtime) -> dict[str, str]:
    """Reply target → status of the bot's reply to it."""
    with rt.sessions() as session:
        query = select(ActionRow.target_external_id, ActionRow.status).where(
            ActionRow.kind == "reply"
        )
        return dict(session.execute(query).all())


def withdrawn_events(rt: Runtime) -> list[dict[str, object]]:
    with rt.sessions() as session:
        return list(session.scalars(select(Event.detail).where(Event.kind == "reply_withdrawn")))


def case_states(rt: Runtime) -> dict[str, str]:
    """The external id of each case's first message → the case's state."""
    with rt.sessions() as session:
        query = (
            select(Message.external_id, Case.state)
            .join(Case, Message.case_id == Case.id)
            .where(Message.direction == "inbound")
        )
        return dict(session.execute(query).all())


def bot_replies_in_thread(rt: Runtime, conversation: str) -> int:
    with rt.sessions() as session:
        query = select(func.sum(Case.bot_replies)).where(Case.conversation_id == conversation)
        return int(session.scalar(query) or 0)


def two_customers_one_thread(
    make_runtime: RuntimeFactory, *, cap: int, **overrides: Any
) -> Runtime:
    """Two bot replies queued in thread 1001 under a cap of 2, then the cap set to
    ``cap``: the state two workers deciding at once leave behind (test below)."""
    thread = {"conversation_id": "1001"}
    loose = {"path": str(REPO / "config" / "rules"), "max_replies_per_thread": 2}
    first = make_runtime([mention(1, PRAISE), mention(2, PRAISE, **thread)], rules=loose)
    poll_source(first, "feed")
    process_pending(first)
    strict = {"path": str(REPO / "config" / "rules"), "max_replies_per_thread": cap}
    return make_runtime(rules=strict, **overrides)


def test_a_bot_reply_past_its_threads_cap_is_withdrawn_not_sent(
    make_runtime: RuntimeFactory,
) -> None:
    rt = two_customers_one_thread(make_runtime, cap=1)
    assert statuses(rt) == {"1001": "pending", "1002": "pending"}
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}
    # The customer whose reply was withdrawn is unanswered: the case is new again, as
    # the rules leave one whose reply the cap blocked, not "auto replied".
    assert case_states(rt) == {"1001": "auto_replied", "1002": "new"}
    [event] = withdrawn_events(rt)
    assert "already 1 bot replies in this thread" in str(event["reason"])
    # Given back, as when a case is marked as spam: the thread holds one bot reply.
    assert bot_replies_in_thread(rt, "1001") == 1
    assert dispatch_outbox(rt) is False  # nothing left to send or withdraw
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}


def test_replies_within_the_cap_are_all_sent(make_runtime: RuntimeFactory) -> None:
    rt = two_customers_one_thread(make_runtime, cap=2)
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "sent"}
    assert withdrawn_events(rt) == []


def test_a_persons_reply_is_not_held_to_the_bots_cap(make_runtime: RuntimeFactory) -> None:
    rt = two_customers_one_thread(make_runtime, cap=1)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow).where(ActionRow.target_external_id == "1002")).one()
        row.actor = "dana"  # as `cases reply` queues it: a person's, not the rule's
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "sent"}


def test_a_recovered_claim_is_looked_for_not_withdrawn(make_runtime: RuntimeFactory) -> None:
    # A dead worker's claim may have been posted: it is checked, never judged again.
    rt = two_customers_one_thread(make_runtime, cap=1)
    with transaction(rt.sessions) as session:
        claim_due_actions(session, now=rt.clock.now(), limit=10, stale_before=rt.clock.now())
    rt.clock.advance(seconds=rt.settings.workers.stale_claim_seconds + 1)
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "sent"}
    assert withdrawn_events(rt) == []


def test_a_reply_whose_send_timed_out_still_counts_toward_its_threads_cap(
    make_runtime: RuntimeFactory,
) -> None:
    # The first reply's send timed out after the platform took it. Not counted while it
    # waited for its retry, the second went out past the cap, and the first, judged
    # again, was withdrawn unlooked: its case shown as unanswered though it was not.
    thread = {"conversation_id": "1001"}
    loose = {"path": str(REPO / "config" / "rules"), "max_replies_per_thread": 2}
    first = make_runtime([mention(1, PRAISE), mention(2, PRAISE, **thread)], rules=loose)
    poll_source(first, "feed")
    process_pending(first)
    rt = make_runtime(rules=ONE_PER_THREAD, dispatch={"batch_size": 1})
    responder = AcceptedThenTimedOut()
    rt.responders[Platform.X] = responder
    dispatch_outbox(rt)  # 1001: posted, but the answer never came
    assert statuses(rt) == {"1001": "failed", "1002": "pending"}
    responder.times_out = False
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "failed", "1002": "rejected"}
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}
    assert len(responder.posts) == 1
    assert case_states(rt) == {"1001": "auto_replied", "1002": "new"}


def test_two_workers_deciding_at_once_still_send_one_reply_per_thread(
    make_runtime: RuntimeFactory,
) -> None:
    # Processing lets each worker pass the cap by one reply (threads are not locked
    # there: docs/operations.md); the dispatcher sends only what the cap allows.
    thread = {"conversation_id": "1001"}
    rows = [mention(1, OUTAGE), mention(2, OUTAGE), mention(3, OUTAGE, **thread)]
    first = make_runtime(rows, processing={"batch_size": 1}, rules=ONE_PER_THREAD)
    if first.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two batches never overlap")
    second = make_runtime(processing={"batch_size": 1}, rules=ONE_PER_THREAD)
    while poll_source(first, "feed"):
        pass
    go, worker = paused_after_first_decision(first)
    process_pending(second)
    process_pending(second)
    go.set()
    worker.join(30)
    dispatch_outbox(second)
    sent = {target for target, status in statuses(first).items() if status == "sent"}
    assert len(sent & {"1001", "1003"}) == 1


def test_a_dispatcher_waits_for_another_ones_claim_in_the_same_thread(
    make_runtime: RuntimeFactory,
) -> None:
    rt = two_customers_one_thread(make_runtime, cap=1)
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two claims never overlap")
    other = rt.sessions()
    # Another dispatcher claims the first reply and judges it, uncommitted: it holds
    # the thread until it commits.
    [(first_id, _)] = claim_due_actions(
        other, now=rt.clock.now(), limit=1, stale_before=rt.clock.now()
    )
    row = other.get(ActionRow, first_id)
    assert row is not None
    assert thread_cap.withdraw_over_cap(other, [row], cap=1, now=rt.clock.now()) == set()
    dispatcher = threading.Thread(target=dispatch_outbox, args=(rt,))
    dispatcher.start()
    wait_for_advisory_lock_waiter(rt)
    other.commit()
    other.close()
    dispatcher.join(30)
    assert sorted(statuses(rt).values()) == ["rejected", "sending"]


def wait_for_advisory_lock_waiter(rt: Runtime) -> None:
    """Until a session waits on a thread's advisory lock (the dispatcher, on the thread).

    pg_locks is the whole server's: another test's workers waiting on an advisory lock
    in their own database (tests run in parallel, or a worker left over) would end the
    wait before the dispatcher got there, and the test would prove nothing."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = :space AND objsubid = 2 AND database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database())"
    ).bindparams(space=thread_cap.THREAD_LOCKS)
    deadline = time.monotonic() + 30
    with rt.engine.connect() as connection:
        while not connection.execute(query).scalar():
            assert time.monotonic() < deadline, "the dispatcher never waited on the thread"
            connection.commit()
            time.sleep(0.01)


class FirstPostTimesOut(ScriptedResponder):
    """The platform takes the first post, but its answer never arrives (a timeout)."""

    def send(self, action: Action) -> SendResult:
        result = super().send(action)
        if len(self.posts) == 1:
            raise temporary("timed out")
        return result


def test_a_retried_reply_that_may_be_posted_is_looked_for_not_withdrawn(
    make_runtime: RuntimeFactory,
) -> None:
    # The first reply's send timed out after the platform took it: it waits for a retry
    # (which looks for it first). The other customer's reply, claimed meanwhile, fitted
    # under the cap as the thread's one reply; the retry was then withdrawn as over the
    # cap, recorded as never sent although it was in the thread: two bot replies in a
    # thread capped at one, and a case shown as unanswered that was answered.
    rt = two_customers_one_thread(make_runtime, cap=1, dispatch={"batch_size": 1})
    responder = FirstPostTimesOut()
    rt.responders = dict.fromkeys(Platform, responder)
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "failed", "1002": "pending"}
    dispatch_outbox(rt)  # the retry is not due yet: the other reply is claimed
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}
    assert [target for _, target, _ in responder.posts] == ["1001"]
    assert case_states(rt) == {"1001": "auto_replied", "1002": "new"}
    assert bot_replies_in_thread(rt, "1001") == 1


def test_a_reply_refused_by_a_rate_limit_is_judged_again_on_its_retry(
    make_runtime: RuntimeFactory,
) -> None:
    # A rate limit posted nothing: the refused reply holds no place in the thread while
    # it waits, so the other customer's reply fits under the cap. Its retry is then
    # judged again, not sent as a reply that may already be there: two bot replies in a
    # thread capped at one.
    rt = two_customers_one_thread(make_runtime, cap=1, dispatch={"batch_size": 1})
    responder = ScriptedResponder()
    until = rt.clock.now() + timedelta(minutes=15)
    responder.fail_next(temporary("429 Too Many Requests", retry_after=until, rate_limited=True))
    rt.responders = dict.fromkeys(Platform, responder)
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "failed", "1002": "pending"}
    dispatch_outbox(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "rejected", "1002": "sent"}
    assert [target for _, target, _ in responder.posts] == ["1002"]
    assert responder.lookups == 0  # refused for sure: nothing to look for
    assert bot_replies_in_thread(rt, "1001") == 1


def test_a_given_back_retry_that_may_be_posted_still_counts_toward_its_threads_cap(
    make_runtime: RuntimeFactory,
) -> None:
    # The first reply timed out (it may be in the thread), and its retry was claimed by
    # a worker that stopped before trying it and gave it back as `pending` (or a person
    # retried it once dead). Only a `failed` one held its place: the other customer's
    # reply went out, then the retry, not judged again, too: two in a thread capped at 1.
    rt = two_customers_one_thread(make_runtime, cap=1, dispatch={"batch_size": 1})
    with transaction(rt.sessions) as session:
        first = session.scalars(select(ActionRow).where(ActionRow.target_external_id == "1001"))
        row = first.one()  # as dispatch._release leaves a retry it claimed and gave back
        row.attempts, row.last_error, row.may_have_posted = 1, "504 Gateway Timeout", True
        row.next_attempt_at = rt.clock.now() + timedelta(minutes=1)
    responder = ScriptedResponder()
    rt.responders = dict.fromkeys(Platform, responder)
    dispatch_outbox(rt)  # the other reply, due first
    rt.clock.advance(minutes=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}
    assert [target for _, target, _ in responder.posts] == ["1001"]
    assert responder.lookups == 1


def test_replies_due_at_the_same_moment_are_claimed_in_the_order_they_were_queued(
    make_runtime: RuntimeFactory,
) -> None:
    # A batch's replies share one next_attempt_at. Ordered by it alone, PostgreSQL gave
    # ties in the order the rows lie on disk, where an updated row has moved to the end:
    # the thread cap then sent the later customer's reply and withdrew the first's.
    rt = two_customers_one_thread(make_runtime, cap=1)
    if rt.engine.dialect.name == "postgresql":

        @event.listens_for(rt.engine, "checkout")
        def disk_order(dbapi_conn: Any, *_: Any) -> None:
            with dbapi_conn.cursor() as cursor:
                cursor.execute("SET enable_indexscan = off")
                cursor.execute("SET enable_bitmapscan = off")

    with rt.sessions() as session, session.begin():
        first = session.scalar(select(func.min(ActionRow.id)))
        session.execute(text("UPDATE actions SET text = text WHERE id = :id"), {"id": first})
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}


@pytest.mark.parametrize(
    ("status", "last_error"),
    [
        ("sending", None),  # another dispatcher is posting it now
        # Rows older than migration 0008 (may_have_posted NULL) after an attempt that
        # failed may have been posted: failed, or given back untried (pending).
        ("failed", "read timed out"),
        ("pending", "read timed out"),
    ],
)
def test_a_reply_on_its_way_or_maybe_posted_holds_its_place_in_the_thread(
    make_runtime: RuntimeFactory, status: str, last_error: str | None
) -> None:
    rt = two_customers_one_thread(make_runtime, cap=1)
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow).where(ActionRow.target_external_id == "1001")).one()
        row.status, row.may_have_posted, row.last_error = status, None, last_error
        row.updated_at, row.next_attempt_at = now, now + timedelta(days=1)  # not claimed here
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": status, "1002": "rejected"}


def test_a_retry_that_may_be_posted_is_not_judged_against_a_full_thread(
    make_runtime: RuntimeFactory,
) -> None:
    # The thread is at its cap with another customer's reply sent. A retry whose first
    # attempt may have been posted was judged when first claimed: it is looked for and
    # sent, never withdrawn as over the cap (recorded as never sent, maybe in the thread).
    rt = two_customers_one_thread(make_runtime, cap=1)
    with transaction(rt.sessions) as session:
        rows = session.scalars(select(ActionRow).where(ActionRow.kind == "reply"))
        by_target = {row.target_external_id: row for row in rows}
        by_target["1002"].status = "sent"
        retry = by_target["1001"]
        retry.attempts, retry.last_error, retry.may_have_posted = 1, "504 Gateway Timeout", True
    responder = ScriptedResponder()
    rt.responders = dict.fromkeys(Platform, responder)
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "sent"}
    assert responder.lookups == 1
    assert withdrawn_events(rt) == []


def test_a_withdrawn_reply_counts_no_attempt_and_no_reply_below_zero(
    make_runtime: RuntimeFactory,
) -> None:
    # The claim counted an attempt that was never made; and a case whose count holds
    # none of its replies (rows counted before bot_replies was kept) stays at zero.
    rt = two_customers_one_thread(make_runtime, cap=1)
    with transaction(rt.sessions) as session:
        session.execute(text("UPDATE cases SET bot_replies = 0"))
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}
    with rt.sessions() as session:
        withdrawn = session.scalars(
            select(ActionRow).where(ActionRow.target_external_id == "1002")
        ).one()
        assert withdrawn.attempts == 0
        assert session.scalar(select(func.min(Case.bot_replies))) == 0


def test_a_withdrawn_reply_leaves_an_escalated_case_with_its_team(
    make_runtime: RuntimeFactory,
) -> None:
    # Only a case the withdrawn reply made auto_replied is new again: one a rule
    # escalated (or a person took up) meanwhile keeps its state.
    rt = two_customers_one_thread(make_runtime, cap=1)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow).where(ActionRow.target_external_id == "1002")).one()
        case = session.get(Case, row.case_id)
        assert case is not None
        case.state, case.team = "awaiting_human", "care"
    dispatch_outbox(rt)
    assert statuses(rt) == {"1001": "sent", "1002": "rejected"}
    assert case_states(rt) == {"1001": "auto_replied", "1002": "awaiting_human"}
