"""Processing under several workers: shared authors, and batches run again."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Event, Message
from tests.conftest import REPO, RuntimeFactory, mention

OUTAGE = "@acme the app is down"


def replies(rt: Runtime, *targets: str) -> int:
    with rt.sessions() as session:
        query = (
            select(func.count())
            .select_from(ActionRow)
            .where(ActionRow.kind == "reply", ActionRow.target_external_id.in_(targets))
        )
        return int(session.scalar(query) or 0)


def paused_after_first_decision(rt: Runtime) -> tuple[threading.Event, threading.Thread]:
    """Start ``rt`` processing in a thread and return once it has decided its first
    batch and is about to write it, uncommitted; it goes on when the returned event is
    set. The pause is at the database cursor: the batch's first write of its messages."""
    writing, go = threading.Event(), threading.Event()
    worker_thread: list[threading.Thread] = []

    def pause_at_the_write(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        mine = threading.current_thread() in worker_thread
        if mine and statement.lstrip().startswith("UPDATE messages SET") and not writing.is_set():
            writing.set()
            go.wait(30)

    def process_then_unhook() -> None:
        try:
            process_pending(rt)
        finally:
            event.remove(rt.engine, "before_cursor_execute", pause_at_the_write)

    event.listen(rt.engine, "before_cursor_execute", pause_at_the_write)
    worker = threading.Thread(target=process_then_unhook)
    worker_thread.append(worker)
    worker.start()
    assert writing.wait(30)
    return go, worker


def test_two_workers_never_decide_on_one_author_at_once(make_runtime: RuntimeFactory) -> None:
    # The same author in two threads: were both messages decided in two workers at
    # once, both would read an empty cooldown and both reply. The second worker leaves
    # the author (and message 3) to a later batch. (A worker claims one row more than
    # its batch: message 2 keeps the two batches apart.)
    author = {"author": "sam", "author_id": "777"}
    rows = [mention(1, OUTAGE, **author), mention(2, OUTAGE), mention(3, OUTAGE, **author)]
    first = make_runtime(rows, processing={"batch_size": 1})
    if first.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two batches never overlap")
    second = make_runtime(processing={"batch_size": 1})
    while poll_source(first, "feed"):
        pass
    go, worker = paused_after_first_decision(first)
    assert process_pending(second) is False  # message 3's author is taken: left for later
    assert replies(first, "1003") == 0
    go.set()
    worker.join(30)
    while process_pending(second):
        pass
    assert replies(first, "1001", "1003") == 1
    with first.sessions() as session:
        later = session.scalars(select(Message.decision).where(Message.external_id == "1003"))
        assert "author cooldown" in str(later.one())


def test_a_batch_fills_up_past_an_author_another_worker_holds(make_runtime: RuntimeFactory) -> None:
    # Worker one is deciding sam's first message; sam's next two come first in the
    # queue. Worker two's batch of two took them and left them (sam was held), deciding
    # one message where it could have decided two: with three workers a third to a half
    # of every claim was left so, and batches paid their fixed cost for fewer messages.
    sam = {"author": "sam", "author_id": "777"}
    rows = [mention(n, OUTAGE, **(sam if n <= 3 else {})) for n in range(1, 7)]
    first = make_runtime(rows, processing={"batch_size": 1})
    if first.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two batches never overlap")
    second = make_runtime(processing={"batch_size": 2})
    while poll_source(first, "feed"):
        pass
    go, worker = paused_after_first_decision(first)
    assert process_pending(second) is True
    with second.sessions() as session:
        decided = session.scalars(select(Message.external_id).where(Message.processed))
        assert sorted(decided) == ["1004", "1005"]
    go.set()
    worker.join(30)
    while process_pending(second) or process_pending(first):
        pass
    with first.sessions() as session:
        assert session.scalar(select(func.count()).where(Message.processed.is_(False))) == 0


def test_a_message_with_no_author_is_still_claimed(make_runtime: RuntimeFactory) -> None:
    # The claim locks a message's author with it (a join, which leaves out a message
    # with none); ingest stores none so, but one would otherwise wait forever.
    rt = make_runtime([mention(1, OUTAGE), mention(2, OUTAGE)])
    while poll_source(rt, "feed"):
        pass
    with rt.sessions.begin() as session:
        session.execute(
            update(Message).where(Message.external_id == "1001").values(customer_id=None)
        )
    while process_pending(rt):
        pass
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).where(Message.processed.is_(False))) == 0


def test_a_thread_another_worker_is_deciding_in_is_not_held_back(
    make_runtime: RuntimeFactory,
) -> None:
    # Two customers in one thread, which takes one bot reply. Threads are not locked
    # (docs/operations.md: locking them cost three workers a fifth of their speed-up):
    # the second worker decides message 3 while the first is still deciding message 1,
    # and the cap is passed by that one queued reply, no more (the dispatcher withdraws
    # it: tests/test_thread_cap.py).
    thread = {"conversation_id": "1001"}
    rows = [mention(1, OUTAGE), mention(2, OUTAGE), mention(3, OUTAGE, **thread)]
    rules = {"path": str(REPO / "config" / "rules"), "max_replies_per_thread": 1}
    first = make_runtime(rows, processing={"batch_size": 1}, rules=rules)
    if first.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two batches never overlap")
    second = make_runtime(processing={"batch_size": 1}, rules=rules)
    while poll_source(first, "feed"):
        pass
    go, worker = paused_after_first_decision(first)
    process_pending(second)  # message 2 (another thread), then message 3
    process_pending(second)
    assert replies(first, "1003") == 1
    go.set()
    worker.join(30)
    assert replies(first, "1001", "1003") == 2


def test_a_batch_run_again_after_a_deadlock_counts_its_decisions_once(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1, OUTAGE)])
    poll_source(rt, "feed")
    deadlocks = [OperationalError("UPDATE messages ...", {}, _Deadlock())]

    def deadlocked_once(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        # The database's answer when the decided batch writes its messages.
        if statement.lstrip().startswith("UPDATE messages SET") and deadlocks:
            raise deadlocks.pop()

    event.listen(rt.engine, "before_cursor_execute", deadlocked_once)
    try:
        process_pending(rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", deadlocked_once)
    assert deadlocks == []
    counted = {
        sample.labels["type"]: sample.value
        for metric in rt.metrics.decisions.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    }
    assert counted
    assert set(counted.values()) == {1.0}


class _Deadlock(Exception):
    sqlstate = "40P01"


def test_an_author_whose_earlier_message_another_worker_holds_waits_for_it(
    make_runtime: RuntimeFactory,
) -> None:
    # Worker one claimed the author's first message but left it (the author was busy
    # in a third worker's batch, now committed); it holds the message row until its own
    # batch commits. Worker two's batch skips that locked row, finds the author free and
    # would decide the follow-up before the message it follows.
    author = {"author": "sam", "author_id": "777", "conversation_id": "1001"}
    rows = [mention(1, OUTAGE, **author), mention(2, "@acme any news?", **author)]
    rt = make_runtime(rows)
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two batches never overlap")
    while poll_source(rt, "feed"):
        pass
    with rt.sessions.begin() as held:
        first = select(Message).where(Message.external_id == "1001").with_for_update()
        held.scalars(first).one()
        process_pending(rt)
        with rt.sessions() as session:
            decided = session.scalars(select(Message.external_id).where(Message.processed))
            assert decided.all() == []  # the follow-up waits for the first message
    while process_pending(rt):
        pass
    with rt.sessions() as session:
        query = select(Message.external_id).where(Message.processed).order_by(Message.id)
        assert session.scalars(query).all() == ["1001", "1002"]
        opened = session.scalars(select(Event.detail).where(Event.kind == "opened")).one()
    assert opened["message"] == "1001"


def test_the_brands_answer_to_a_post_another_worker_holds_waits_for_it(
    make_runtime: RuntimeFactory,
) -> None:
    # Worker one is deciding the second customer's post (its case not opened yet) when
    # worker two claims the brand's native answer to it: that answer joined the
    # thread's latest case, the first customer's, instead of waiting for the post.
    rt = make_runtime([mention(1, OUTAGE)])
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: two batches never overlap")
    while process_pending(rt) or poll_source(rt, "feed"):
        pass
    thread = {"conversation_id": "1001", "in_reply_to": "1001"}
    brand = {"author": "AcmeHelp", "author_id": "9", "conversation_id": "1001"}
    feed = Path(rt.settings.source("feed").path)  # type: ignore[union-attr]
    with feed.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(mention(2, "@acme my card was charged twice", **thread)) + "\n")
        handle.write(json.dumps(mention(3, "@user2 sorry, on it", in_reply_to="1002", **brand)))
    while poll_source(rt, "feed"):
        pass
    with rt.sessions.begin() as held:
        held.scalars(select(Message).where(Message.external_id == "1002").with_for_update()).one()
        process_pending(rt)
        with rt.sessions() as session:
            answer = session.scalars(select(Message).where(Message.external_id == "1003")).one()
            assert (answer.processed, answer.case_id) == (False, None)
    while process_pending(rt):
        pass
    with rt.sessions() as session:
        query = select(Message.case_id, Message.processed).where(
            Message.external_id.in_(["1002", "1003"])
        )
        (customer_case, _), (answer_case, decided) = session.execute(query.order_by(Message.id))
    assert decided
    assert answer_case == customer_case is not None
