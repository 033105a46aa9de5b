"""A message that cannot be decided holds up only itself (and its author's later
messages), not every message stored after it (DESIGN rule 6)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, OperationalError

from monitor import triage
from monitor.domain import CaseState, Decision
from monitor.pipeline import poll_source, process_pending, run_cycle
from monitor.processing import GUARDS, _decision_json, _guarded, ruled
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Event, Message, from_customer
from monitor.undecided import UNDECIDED_TRIES, UNDECIDED_TRIES_AMONG
from tests.conftest import RuntimeFactory, mention

POISON = "thread-that-breaks"


@contextmanager
def refusing(engine: Engine, value: str) -> Iterator[None]:
    """The database refuses every statement whose parameters hold ``value``, as
    PostgreSQL refuses a value it cannot store."""

    def refuse(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if value in repr(parameters):
            raise DataError(statement, parameters, Exception(f"cannot store {value}"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def undecided(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        query = select(Message.external_id).where(Message.processed.is_(False))
        return sorted(session.scalars(query.order_by(Message.id)))


def test_a_message_that_cannot_be_decided_does_not_hold_up_the_others(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [
        mention(1, conversation_id=POISON),
        mention(2),
        mention(3),
        # The first message's author again, later: decided after it, never before.
        mention(4, author="user1", author_id="501"),
    ]
    rt = make_runtime(rows)
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        with pytest.raises(DataError):
            process_pending(rt)  # the failure is still the job's, for status
        assert undecided(rt) == ["1001", "1004"]
        assert process_pending(rt) is False  # the next run is not held up by it
        assert undecided(rt) == ["1001", "1004"]
        rt.clock.advance(minutes=6)  # type: ignore[attr-defined]
        with pytest.raises(DataError):
            process_pending(rt)  # tried again later, not on every run
    rt.clock.advance(minutes=6)  # type: ignore[attr-defined]
    process_pending(rt)
    assert undecided(rt) == []


def test_two_messages_in_a_row_that_cannot_be_decided_do_not_hold_up_the_others(
    make_runtime: RuntimeFactory,
) -> None:
    # Two customers in one thread that cannot be decided (or one text posted by two
    # accounts, a spam wave): each failed alone, one after the other, which was taken
    # for a failure of everything; nothing was set aside, and no message stored after
    # them was decided at any run.
    rows = [mention(1, conversation_id=POISON), mention(2, conversation_id=POISON)]
    rt = make_runtime([*rows, mention(3), mention(4)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        with pytest.raises(DataError):
            process_pending(rt)
        assert undecided(rt) == ["1001", "1002"]
        assert process_pending(rt) is False
    rt.clock.advance(minutes=6)  # type: ignore[attr-defined]
    process_pending(rt)
    assert undecided(rt) == []


def test_a_failure_of_every_message_sets_none_aside(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(n, conversation_id=f"{POISON}-{n}") for n in range(3)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON), pytest.raises(DataError):
        process_pending(rt)
    # The trouble was not one message's: once it is over, all are decided at once.
    process_pending(rt)
    assert undecided(rt) == []


@contextmanager
def refusing_together(engine: Engine, first: str, second: str) -> Iterator[None]:
    """The database refuses a statement whose parameters hold both values: a batch with
    both messages fails, each message alone does not."""

    def refuse(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if first in repr(parameters) and second in repr(parameters):
            raise DataError(statement, parameters, Exception("cannot store the pair"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


def test_a_batch_that_fails_while_each_message_alone_is_decided_is_logged(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Decided one at a time, every message went through: the batch's error was dropped
    # without a word, and a bug that fails every batch went unseen while processing ran
    # a message per transaction.
    rt = make_runtime([mention(1, conversation_id="pair-a"), mention(2, conversation_id="pair-b")])
    while poll_source(rt, "feed"):
        pass
    with refusing_together(rt.engine, "pair-a", "pair-b"), caplog.at_level("WARNING"):
        process_pending(rt)
    assert undecided(rt) == []
    (line,) = [r.getMessage() for r in caplog.records if r.name == "inchannel.process"]
    assert "cannot store the pair" in line


def test_the_database_locked_while_messages_are_decided_one_by_one_sets_none_aside(
    make_runtime: RuntimeFactory,
) -> None:
    # The database locked for a moment while the failed batch's first message was
    # decided alone: the message was set aside for 5 minutes as the batch's culprit.
    rt = make_runtime([mention(1, conversation_id="pair-a"), mention(2, conversation_id="pair-b")])
    while poll_source(rt, "feed"):
        pass
    locked = ["once"]

    def lock_once(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "pair-a" in repr(parameters) and "pair-b" not in repr(parameters) and locked:
            locked.clear()
            raise OperationalError(statement, parameters, Exception("database is locked"))

    event.listen(rt.engine, "before_cursor_execute", lock_once)
    try:
        with refusing_together(rt.engine, "pair-a", "pair-b"):
            with pytest.raises(OperationalError):
                process_pending(rt)
            assert not locked
            process_pending(rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", lock_once)
    assert undecided(rt) == []


REFUND = "@acme I want a refund, you charged me twice"


def case_of(rt: Runtime, external_id: str) -> tuple[Message, Case | None]:
    with rt.sessions() as session:
        message = session.scalars(select(Message).where(Message.external_id == external_id)).one()
        case = session.get(Case, message.case_id) if message.case_id is not None else None
        session.expunge_all()
        return message, case


def fail_alone(rt: Runtime, times: int) -> None:
    """``times`` runs that each find the message failing alone, 6 minutes apart (past
    SET_ASIDE_FOR, so each run tries it again)."""
    for _ in range(times):
        with pytest.raises(DataError):
            process_pending(rt)
        rt.clock.advance(minutes=6)  # type: ignore[attr-defined]


def test_a_message_that_keeps_failing_alone_is_handed_to_the_team(
    make_runtime: RuntimeFactory,
) -> None:
    # Set aside for 5 minutes and tried again, forever: it never became a case, so no
    # person ever saw that customer, and the set-aside was forgotten at each restart.
    rows = [
        mention(1, text=REFUND),
        mention(2),
        mention(3, author="user1", author_id="501", conversation_id="1001"),  # later
    ]
    rt = make_runtime(rows)
    while poll_source(rt, "feed"):
        pass
    # The database refuses what the rules decided for it (their name, in the decision).
    with refusing(rt.engine, "refund-or-billing"):
        fail_alone(rt, UNDECIDED_TRIES - 1)
        assert undecided(rt) == ["1001", "1003"]
        with pytest.raises(DataError):
            process_pending(rt)  # the last try: the job's failure is still seen
        assert undecided(rt) == ["1003"]  # the author's later message waits no more
        process_pending(rt)
    assert undecided(rt) == []
    message, case = case_of(rt, "1001")
    assert case is not None
    assert (case.state, case.team) == (CaseState.AWAITING_HUMAN.value, "care")
    assert message.decision is not None
    assert message.decision["notes"] == ["could not be decided: DataError"]
    _, same = case_of(rt, "1003")
    assert same is not None
    assert same.id == case.id
    with rt.sessions() as session:
        replies = session.scalars(select(ActionRow).where(ActionRow.message_id == message.id))
        assert list(replies) == []  # nobody knows what it asked: no automatic reply
        escalated = session.scalars(
            select(Event).where(Event.case_id == case.id, Event.kind == "state")
        ).one()
        assert escalated.detail["new"] == CaseState.AWAITING_HUMAN.value


def test_the_tries_of_a_message_that_cannot_be_decided_outlive_a_restart(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1, text=REFUND), mention(2)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        fail_alone(rt, UNDECIDED_TRIES - 1)
    restarted = make_runtime([])  # its set-aside starts empty
    restarted.clock = rt.clock
    with refusing(restarted.engine, "refund-or-billing"), pytest.raises(DataError):
        process_pending(restarted)  # its last try, counted with the first worker's
    assert undecided(rt) == []
    _, case = case_of(rt, "1001")
    assert case is not None
    assert case.state == CaseState.AWAITING_HUMAN.value


def test_a_message_that_cannot_even_open_its_case_is_not_tried_forever(
    make_runtime: RuntimeFactory,
) -> None:
    # Every statement naming its thread is refused: no case can hold it. It is marked
    # decided with the reason, so it stops failing the job and holding up its author.
    rt = make_runtime([mention(1, conversation_id=POISON), mention(2)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        fail_alone(rt, UNDECIDED_TRIES)
        assert undecided(rt) == []
    message, case = case_of(rt, "1001")
    assert case is None
    assert message.decision is not None
    assert message.decision == {
        "notes": ["could not be decided: DataError", "no case could be opened: DataError"]
    }


def test_workers_that_do_not_know_the_set_aside_do_not_count_its_try_again(
    make_runtime: RuntimeFactory,
) -> None:
    # Each worker keeps its own set-aside: the others tried the message at once, each
    # counting a try, so three workers handed it over within seconds of its first
    # failure instead of after about 10 minutes.
    rt = make_runtime([mention(1, text=REFUND), mention(2)])
    while poll_source(rt, "feed"):
        pass
    others = [make_runtime([]) for _ in range(UNDECIDED_TRIES - 1)]
    for worker in [rt, *others]:
        worker.clock = rt.clock
        with refusing(worker.engine, "refund-or-billing"), pytest.raises(DataError):
            process_pending(worker)
    assert undecided(rt) == ["1001"]  # still to be tried, not handed over yet
    _, case = case_of(rt, "1001")
    assert case is None
    with rt.sessions() as session:
        tries = select(Event).where(Event.kind == "undecided")
        assert len(list(session.scalars(tries))) == 1
    for worker in others:  # set aside as long as by the worker that counted the try
        assert worker.set_aside == rt.set_aside


def test_a_message_closed_without_a_case_is_a_status_problem_for_a_day(
    make_runtime: RuntimeFactory,
) -> None:
    # Closed without a case, no person sees that customer: only a log line and a metric
    # said so, and `inchannel status` reported the installation healthy.
    rt = make_runtime([mention(1, conversation_id=POISON), mention(2)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        fail_alone(rt, UNDECIDED_TRIES)
    assert processing_problems(rt) == [
        "processing: 1 message closed without a case in the last 24 h, the last "
        "(message id=1) 6 min ago: no person will see it; answer it on the platform"
    ]
    rt.clock.advance(hours=24)  # type: ignore[attr-defined]
    assert processing_problems(rt) == []


def processing_problems(rt: Runtime) -> list[str]:
    return [p for p in collect(rt).problems if p.startswith("processing:")]


def test_messages_that_fail_together_are_handed_over_later_never_set_aside(
    make_runtime: RuntimeFactory,
) -> None:
    # Several failing while none of their batch is decided were neither counted nor set
    # aside: tried at every run, forever, and no person saw those customers.
    rt = make_runtime([mention(1, text=REFUND), mention(2, text=REFUND)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        for _ in range(UNDECIDED_TRIES_AMONG - 1):
            with pytest.raises(DataError):
                process_pending(rt)
            # Not set aside: once the rules are fixed, the next run decides them.
            assert rt.set_aside == {}
            with pytest.raises(DataError):
                process_pending(rt)  # the next run, 5 s later: the same try
            rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        # Not after UNDECIDED_TRIES: the rules or the scorer may fail every message.
        assert undecided(rt) == ["1001", "1002"]
        with pytest.raises(DataError):
            process_pending(rt)
    assert undecided(rt) == []
    for external_id in ("1001", "1002"):
        message, case = case_of(rt, external_id)
        assert case is not None
        assert case.state == CaseState.AWAITING_HUMAN.value
        assert message.decision is not None
        assert message.decision["notes"] == ["could not be decided: DataError"]
    with rt.sessions() as session:
        tries = session.scalars(select(Event).where(Event.kind == "undecided"))
        assert {e.detail["among"] for e in tries} == {2}
    counted = rt.metrics.registry.get_sample_value(
        "inchannel_undecided_messages_total", {"outcome": "failed_together"}
    )
    assert counted == 2 * UNDECIDED_TRIES_AMONG


def test_messages_failing_together_are_never_closed_without_a_case(
    make_runtime: RuntimeFactory,
) -> None:
    # Nothing decided, not even a case written: the database (a broken migration, say)
    # may refuse every case, and closing each message without one emptied the queue of
    # customers no person would see. Left undecided, they are decided once it is mended.
    rt = make_runtime([mention(1, conversation_id=POISON), mention(2, conversation_id=POISON)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        for _ in range(UNDECIDED_TRIES_AMONG + 1):
            with pytest.raises(DataError):
                process_pending(rt)
            rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        assert undecided(rt) == ["1001", "1002"]
    process_pending(rt)
    assert undecided(rt) == []
    for external_id in ("1001", "1002"):
        _, case = case_of(rt, external_id)
        assert case is not None


def test_a_spam_wave_as_long_as_a_batch_does_not_stop_the_queue_for_good(
    make_runtime: RuntimeFactory,
) -> None:
    # One crashing text posted by as many accounts as a batch holds: each failed, none
    # was decided, nothing was counted, and no message stored after them was reached.
    wave = [mention(n, text=REFUND) for n in range(1, 4)]
    rt = make_runtime([*wave, mention(4)], processing={"batch_size": 3})
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        fail_together(rt, UNDECIDED_TRIES_AMONG)
        process_pending(rt)
    assert undecided(rt) == []
    message, case = case_of(rt, "1004")
    assert case is not None
    assert message.decision is not None
    assert message.decision.get("matched")  # decided by the rules, not handed over


def fail_together(rt: Runtime, times: int) -> None:
    """``times`` runs 5 minutes apart (each counts a try) that each fail."""
    for _ in range(times):
        with pytest.raises(DataError):
            process_pending(rt)
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]


def test_messages_failing_in_whole_batches_are_a_status_problem_within_minutes(
    make_runtime: RuntimeFactory,
) -> None:
    # Rules or a scorer that fail every message: status said only that the job failed,
    # until the mentions went to people, one batch every 25 minutes.
    rt = make_runtime([mention(1, text=REFUND), mention(2, text=REFUND)])
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        fail_together(rt, 1)
        with pytest.raises(DataError):
            process_pending(rt)
    assert processing_problems(rt) == [
        "processing: every message tried has failed for 5 min (2 messages): DataError; "
        "the rules or the scorer may be broken"
    ]
    process_pending(rt)  # the rules fixed: all decided at the next run
    assert processing_problems(rt) == []


def test_messages_that_fail_alone_again_end_the_whole_batch_problem(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [mention(1, text=REFUND), mention(2, text=REFUND), mention(3, conversation_id=POISON)]
    rt = make_runtime(rows)
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        with refusing(rt.engine, POISON), pytest.raises(DataError):
            process_pending(rt)  # none decided
        assert len(processing_problems(rt)) == 1
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        with pytest.raises(DataError):
            process_pending(rt)  # the third is decided: the two fail by themselves
    assert undecided(rt) == ["1001", "1002"]
    assert processing_problems(rt) == []


def run_every(rt: Runtime, seconds: int, runs: int) -> None:
    """``runs`` runs of the process job, ``seconds`` apart, as the daemon runs it (a
    failed run is the job's failure, and the next one comes at its interval)."""
    for _ in range(runs):
        with suppress(DataError):
            process_pending(rt)
        rt.clock.advance(seconds=seconds)  # type: ignore[attr-defined]


def test_mentions_behind_a_crashing_wave_longer_than_a_batch_are_decided_at_once(
    make_runtime: RuntimeFactory,
) -> None:
    # A spam wave of one crashing text, longer than a batch: every run tried its first
    # batch, all failed, none was set aside, so the run never got past it; that batch
    # was handed over after about 25 minutes, then the next one. A mention stored behind
    # a wave ten batches long waited over four hours.
    wave = [mention(n, text=REFUND) for n in range(1, 8)]
    rt = make_runtime([*wave, mention(8), mention(9)], processing={"batch_size": 3})
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        run_every(rt, 5, 6)  # half a minute of runs at the default interval
        assert undecided(rt) == [str(1000 + n) for n in range(1, 8)]
        with rt.sessions() as session:
            tries = list(session.scalars(select(Event).where(Event.kind == "undecided")))
        # Each wave message counted one try; none handed over or closed yet.
        assert sorted(e.detail["message"] for e in tries) == list(range(1, 8))
        run_every(rt, 30, 80)  # 40 minutes
    assert undecided(rt) == []
    for n in range(1, 8):  # every one handed to a team, none closed without a case
        message, case = case_of(rt, str(1000 + n))
        assert case is not None
        assert case.state == CaseState.AWAITING_HUMAN.value
        assert message.decision is not None
        assert message.decision["notes"] == ["could not be decided: DataError"]
    for n in (8, 9):
        message, _ = case_of(rt, str(1000 + n))
        assert message.decision is not None
        assert message.decision.get("matched")  # decided by the rules


def test_a_crashing_wave_that_cannot_be_handed_over_does_not_hold_up_later_mentions(
    make_runtime: RuntimeFactory,
) -> None:
    # No case can hold the wave (its thread is refused): at its sixth try it was left
    # undecided, never closed, and in place it was again all every run tried.
    wave = [mention(n, conversation_id=POISON) for n in range(1, 6)]
    rt = make_runtime(wave, processing={"batch_size": 2})
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        run_every(rt, 30, 80)  # 40 minutes: every wave message past its sixth try
        assert undecided(rt) == [str(1000 + n) for n in range(1, 6)]  # never closed
        feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
        with feed.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(mention(6)) + "\n")
        while poll_source(rt, "feed"):
            pass
        run_every(rt, 5, 6)  # half a minute
        assert "1006" not in undecided(rt)


def test_a_crashing_wave_is_no_whole_batch_problem_while_the_mentions_behind_it_are_decided(
    make_runtime: RuntimeFactory,
) -> None:
    # The wave's messages fail together batch after batch, set aside, while the mentions
    # stored behind them are decided: status said every message tried had failed and the
    # rules or the scorer might be broken (exit 1) until the wave went to people.
    wave = [mention(n, text=REFUND) for n in range(1, 8)]
    rt = make_runtime([*wave, mention(8), mention(9)], processing={"batch_size": 3})
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        run_every(rt, 5, 6)
        assert undecided(rt) == [str(1000 + n) for n in range(1, 8)]  # 1008, 1009 decided
        assert processing_problems(rt) == []
        run_every(rt, 30, 12)  # the wave tried again, 6 minutes on: still nothing wrong
        assert processing_problems(rt) == []
        # The rules break for every mention: the newest, and nothing after it, fail.
        feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
        with feed.open("a", encoding="utf-8") as handle:
            for n in (10, 11):
                handle.write(json.dumps(mention(n, text=REFUND)) + "\n")
        while poll_source(rt, "feed"):
            pass
        run_every(rt, 5, 2)
        (problem,) = processing_problems(rt)
        assert problem.startswith("processing: every message tried has failed")


def test_a_message_another_worker_decided_meanwhile_is_not_reported_closed_without_a_case(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Its hand-over failed, and another worker decided it before this one closed it: the
    # close changed nothing, yet the `no_case` metric (the one to alert on) and the log
    # line `closed without a case` said a customer was left where no person would see.
    rt = make_runtime([mention(1, conversation_id=POISON), mention(2)])
    while poll_source(rt, "feed"):
        pass

    def decided_first(_conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        # The close's UPDATE, the only one of a message still undecided.
        if statement.lstrip().startswith("UPDATE messages") and "processed IS" in statement:
            # Another worker's decision, committed just before the close's UPDATE.
            cursor.execute("UPDATE messages SET processed = true WHERE external_id = '1001'")

    with refusing(rt.engine, POISON):
        fail_alone(rt, UNDECIDED_TRIES - 1)
        event.listen(rt.engine, "before_cursor_execute", decided_first)
        try:
            with caplog.at_level("ERROR"):
                fail_alone(rt, 1)
        finally:
            event.remove(rt.engine, "before_cursor_execute", decided_first)
    assert undecided(rt) == []
    message, _ = case_of(rt, "1001")
    assert message.decision is None  # the other worker's, not the closing notes
    closed = rt.metrics.registry.get_sample_value(
        "inchannel_undecided_messages_total", {"outcome": "no_case"}
    )
    assert not closed
    assert not [r for r in caplog.records if "closed without a case" in r.getMessage()]
    assert processing_problems(rt) == []


def test_an_author_another_worker_holds_does_not_cut_short_the_one_by_one_tries(
    make_runtime: RuntimeFactory,
) -> None:
    # Deciding the failed batch one message at a time, the claim of a message whose
    # author another worker held decided nothing and ended the tries: the messages after
    # it went untried, and the one failure before it was taken for a failure alone (set
    # aside, handed over at its third try and closed without a case if need be) though
    # every message tried had failed.
    rt = make_runtime([mention(1, text=REFUND), mention(2), mention(3, text=REFUND)])
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one worker: no author is held by another")
    while poll_source(rt, "feed"):
        pass
    with rt.sessions() as session:
        held = session.scalars(select(Customer.id).where(Customer.platform_user_id == "502")).one()
    with rt.engine.connect() as other:  # another worker's batch, deciding on user2
        query = select(Customer.id).where(Customer.id == held).with_for_update(key_share=True)
        other.execute(query)
        with refusing(rt.engine, "refund-or-billing"), pytest.raises(DataError):
            process_pending(rt)
        other.rollback()
    with rt.sessions() as session:
        tries = list(session.scalars(select(Event).where(Event.kind == "undecided")))
    assert sorted((e.detail["message"], e.detail.get("among")) for e in tries) == [(1, 2), (3, 2)]
    process_pending(rt)  # set aside: the held author's message is decided next
    assert undecided(rt) == ["1001", "1003"]


class BrokenRules:
    """Rules that fail on every message, as a rule file whose code path crashes."""

    def decide(self, *_: Any, **__: Any) -> Any:
        raise RuntimeError("the rules are broken")


def test_a_brand_post_in_the_batch_does_not_hide_rules_broken_for_every_message(
    make_runtime: RuntimeFactory,
) -> None:
    # Tried one at a time, the brand's own post is marked processed without the rules
    # (it is never acted on) and counted as "decided": the customers' failures beside it
    # were taken for failures alone, handed over at their third try, and status never
    # said that every message tried had failed.
    rows = [
        mention(1, text=REFUND),
        mention(2, "Our sale starts today!", author="acme", author_id="1"),
        mention(3, text=REFUND),
    ]
    rt = make_runtime(rows)
    while poll_source(rt, "feed"):
        pass
    rt.rules = BrokenRules()  # type: ignore[assignment]
    fails_together_while_rules_are_broken(rt, ["1001", "1003"])


def fails_together_while_rules_are_broken(rt: Runtime, customers: list[str]) -> None:
    """``customers`` fail together, reported at once, and are not handed over at
    UNDECIDED_TRIES (the rules broken for every message)."""
    with pytest.raises(RuntimeError):
        process_pending(rt)
    assert undecided(rt) == customers
    with rt.sessions() as session:
        tries = list(session.scalars(select(Event).where(Event.kind == "undecided")))
    assert {e.detail.get("among") for e in tries} == {len(customers)}
    assert rt.set_aside == {}  # once the rules are fixed, the next run decides them
    (problem,) = processing_problems(rt)
    assert problem.startswith("processing: every message tried has failed")
    for _ in range(UNDECIDED_TRIES):
        rt.clock.advance(minutes=5)  # type: ignore[attr-defined]
        with pytest.raises(RuntimeError):
            process_pending(rt)
    assert undecided(rt) == customers


def test_a_spammer_writing_again_does_not_hide_rules_broken_for_every_message(
    make_runtime: RuntimeFactory,
) -> None:
    # A message in a case closed as spam is ignored by processing itself, the rules not
    # asked: it too was counted as "decided" beside the customers' failures.
    rt = make_runtime([mention(1, "@acme buy followers at spam.example")])
    run_cycle(rt)
    triage.mark_spam(rt, "C-1001", user="ana")
    feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
    later = [
        mention(2, text=REFUND),
        mention(3, "@acme again", author="user1", author_id="501", conversation_id="1001"),
        mention(4, text=REFUND),
    ]
    with feed.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in later)
    while poll_source(rt, "feed"):
        pass
    rt.rules = BrokenRules()  # type: ignore[assignment]
    fails_together_while_rules_are_broken(rt, ["1002", "1004"])


def test_brand_posts_waiting_on_a_message_set_aside_do_not_stop_the_queue(
    make_runtime: RuntimeFactory,
) -> None:
    # The brand's reply to a message set aside waits for it, outside the claim. Counted
    # as the brand account's earlier message still undecided, it held back every later
    # brand post as if another worker decided on that "author": a batch of nothing but
    # those decided nothing and said no more was waiting, so the customers stored after
    # them waited until the message set aside was handed over.
    rows = [
        mention(1, text=REFUND),
        mention(
            2,
            "@user1 sorry",
            author="acme",
            author_id="1",
            in_reply_to="1001",
            conversation_id="1001",
        ),
        mention(3, "Our sale starts today!", author="acme", author_id="1"),
        mention(4, "Our sale ends today!", author="acme", author_id="1"),
        mention(5),
    ]
    rt = make_runtime(rows, processing={"batch_size": 2})
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, "refund-or-billing"):
        with pytest.raises(DataError):
            process_pending(rt)
        rt.clock.advance(seconds=10)  # type: ignore[attr-defined]
        while process_pending(rt):
            rt.clock.advance(seconds=10)  # type: ignore[attr-defined]
    assert undecided(rt) == ["1001", "1002"]  # the reply waits for the post it answers


def test_a_spammer_writing_after_the_failing_messages_does_not_end_the_whole_batch_problem(
    make_runtime: RuntimeFactory,
) -> None:
    # A message in a case closed as spam is ignored by processing itself, the rules not
    # asked. Stored after the customers' failing messages, status took it for a message
    # the rules decided behind a wave set aside, and said nothing while the rules stayed
    # broken for every message.
    rt = make_runtime([mention(1, "@acme buy followers at spam.example")])
    run_cycle(rt)
    triage.mark_spam(rt, "C-1001", user="ana")
    feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
    later = [
        mention(2, text=REFUND, created_at="2026-11-20T10:01:00Z"),
        mention(3, text=REFUND, created_at="2026-11-20T10:02:00Z"),
        mention(
            4,
            "@acme again",
            author="user1",
            author_id="501",
            conversation_id="1001",
            created_at="2026-11-20T10:03:00Z",
        ),
    ]
    with feed.open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in later)
    while poll_source(rt, "feed"):
        pass
    rt.rules = BrokenRules()  # type: ignore[assignment]
    fails_together_while_rules_are_broken(rt, ["1002", "1003"])


BRAND_POST = {"author": "acme", "author_id": "1"}


def given_up(rt: Runtime, outcome: str) -> float:
    value = rt.metrics.registry.get_sample_value(
        "inchannel_undecided_messages_total", {"outcome": outcome}
    )
    return value or 0.0


def test_a_brand_post_that_cannot_be_linked_is_closed_as_needing_no_answer(
    make_runtime: RuntimeFactory,
) -> None:
    # The brand's own post failing by itself was closed as a customer's mention is: the
    # `no_case` metric (the one to alert on) and status said no person would see it and
    # to answer it on the platform, but it is the brand's post and needs no answer.
    rt = make_runtime(
        [mention(1, "Our sale starts today!", conversation_id=POISON, **BRAND_POST), mention(2)]
    )
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON):
        fail_alone(rt, UNDECIDED_TRIES)
    assert undecided(rt) == []
    message, case = case_of(rt, "1001")
    assert case is None
    assert message.decision == {
        "notes": ["could not be decided: DataError", "the brand's own post: needs no answer"]
    }
    assert processing_problems(rt) == []
    assert (given_up(rt, "no_case"), given_up(rt, "brand_post")) == (0, 1)


def test_a_brand_post_linked_without_deciding_is_counted(make_runtime: RuntimeFactory) -> None:
    # Its third try handed over (linked to its thread, as processing does), the brand's
    # post returned no decision: nothing counted it, nothing logged it.
    rows = [mention(1, "Our sale starts today!", conversation_id=POISON, **BRAND_POST), mention(2)]
    rt = make_runtime(rows)
    while poll_source(rt, "feed"):
        pass
    tries = 0

    def refuse_until_the_last_try(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any
    ) -> None:
        nonlocal tries
        if statement.lstrip().startswith("INSERT INTO events") and "undecided" in repr(parameters):
            tries += 1
        elif tries < UNDECIDED_TRIES and POISON in repr(parameters):
            raise DataError(statement, parameters, Exception(f"cannot store {POISON}"))

    event.listen(rt.engine, "before_cursor_execute", refuse_until_the_last_try)
    try:
        fail_alone(rt, UNDECIDED_TRIES)
    finally:
        event.remove(rt.engine, "before_cursor_execute", refuse_until_the_last_try)
    assert undecided(rt) == []
    assert processing_problems(rt) == []
    assert (given_up(rt, "no_case"), given_up(rt, "brand_post")) == (0, 1)


def test_a_brand_post_failing_with_its_whole_batch_is_closed_not_tried_forever(
    make_runtime: RuntimeFactory,
) -> None:
    # Never closed while nothing of its batch is decided (the database may refuse every
    # case), the brand's post was left undecided at its sixth try and tried forever;
    # it needs no answer, and no case is lost.
    rows = [mention(1, "Our sale!", conversation_id=POISON, **BRAND_POST), mention(2, text=REFUND)]
    rt = make_runtime(rows)
    while poll_source(rt, "feed"):
        pass
    with refusing(rt.engine, POISON), refusing(rt.engine, "refund-or-billing"):
        fail_together(rt, UNDECIDED_TRIES_AMONG)
    assert undecided(rt) == []
    message, _ = case_of(rt, "1001")
    assert message.decision is not None
    assert message.decision["notes"][1] == "the brand's own post: needs no answer"
    _, case = case_of(rt, "1002")
    assert case is not None
    assert case.state == CaseState.AWAITING_HUMAN.value
    assert (given_up(rt, "no_case"), given_up(rt, "brand_post")) == (0, 1)


RULES_GUARD = Decision(ignored=True, notes=("guard: the brand's own post is never acted on",))
RULES_REPLY = Decision(matched=("refund",), notes=("a note of the rules",))


@pytest.mark.parametrize("decision", [*GUARDS, RULES_GUARD, RULES_REPLY])
def test_status_tells_the_rules_decisions_as_a_batch_does(
    make_runtime: RuntimeFactory, decision: Decision
) -> None:
    # A batch counts the rules' decisions by _guarded before its commit (batch_retry),
    # status by ruled() over the stored ones: they must agree on every decision a batch
    # can store, or one says the rules work while the other says they are broken.
    rt = make_runtime([mention(1, text=REFUND)])
    run_cycle(rt)
    with transaction(rt.sessions) as session:
        message = session.scalars(select(Message).where(from_customer())).one()
        message.decision = _decision_json(decision)
    with rt.sessions() as session:
        found = session.scalar(select(Message.id).where(from_customer(), ruled()))
    assert (found is not None) is not _guarded(decision)
