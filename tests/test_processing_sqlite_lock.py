"""A person acting on a case while a processing batch decides on it (SQLite).

PostgreSQL locks the batch's case rows (FOR UPDATE). SQLite began the batch's
transaction only at its first write, so the cases were read outside any transaction: a
person's change committed between that read and the batch's write was overwritten.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from monitor import casework_actions, casework_listing, triage
from monitor.cases import SPAM_TAG
from monitor.domain import ActionStatus
from monitor.ingest import poll_source
from monitor.pipeline import run_cycle
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, Event
from tests.conftest import RuntimeFactory, mention


def the_case(rt: Runtime) -> Case:
    with rt.sessions() as session:
        return session.scalars(select(Case)).one()


def follow_up(tmp_path: Path, text: str) -> None:
    """The customer of mention 1 writes again in its thread (the replay feed grows)."""
    row = mention(
        2, text, author="user1", author_id="501", conversation_id="1001", in_reply_to="1001"
    )
    with (tmp_path / "feed0.jsonl").open("a", encoding="utf-8") as feed:
        feed.write(json.dumps(row) + "\n")


def process_with_colleague(rt: Runtime, colleague_action: Any) -> list[str]:
    """Process the waiting messages; at the batch's first write, a colleague's action
    runs from its own connection (the dashboard). Returns its outcome: "ok", or the
    error it got waiting for the batch's write lock (this test has one thread)."""
    colleague: list[str] = []

    def at_first_write(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if colleague or not statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
            return
        colleague.append("started")
        try:
            colleague_action()
            colleague.append("ok")
        except OperationalError as exc:
            colleague.append(str(exc.orig))

    event.listen(rt.engine, "before_cursor_execute", at_first_write)
    try:
        process_pending(rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", at_first_write)
    return colleague


@pytest.fixture
def sqlite_rt(make_runtime: RuntimeFactory, db_url: str) -> Runtime:
    if not db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL locks the batch's case rows (FOR UPDATE)")
    rt = make_runtime(
        [mention(1, "@acme my order is late")], database={"url": db_url, "busy_timeout_ms": 50}
    )
    run_cycle(rt)  # a case, escalated to care, the bot's acknowledgement posted
    return rt


def test_a_case_marked_as_spam_while_a_batch_decides_stays_closed(
    sqlite_rt: Runtime, tmp_path: Path
) -> None:
    rt = sqlite_rt
    ref = the_case(rt).ref
    follow_up(tmp_path, "@acme I was charged twice, I want a refund")
    rt.clock.advance(minutes=10)
    poll_source(rt, "feed")
    outcome = process_with_colleague(rt, lambda: triage.mark_spam(rt, ref, user="lena"))
    case = the_case(rt)
    if outcome[-1] == "ok":
        # The person's spam mark was committed: the batch must not undo it (the spam tag
        # dropped, the case back in the queue) nor queue a reply to the spammer after it.
        assert SPAM_TAG in case.tags, outcome
        assert case.state == "resolved", outcome
        with rt.sessions() as session:
            queued = select(ActionRow.text).where(ActionRow.status == ActionStatus.PENDING.value)
            assert session.scalars(queued).all() == [], outcome
    else:
        # The colleague waited for the batch (here it gives up after busy_timeout_ms):
        # the batch's work is whole, and the mark, made again now, applies on top of it.
        assert "locked" in outcome[-1], outcome
        triage.mark_spam(rt, ref, user="lena")
        case = the_case(rt)
        assert SPAM_TAG in case.tags
        assert case.state == "resolved"


def test_a_case_resolved_while_a_batch_decides_is_reopened_by_the_new_message(
    sqlite_rt: Runtime, tmp_path: Path
) -> None:
    # The batch read the case before the person resolved it: it handed the customer's
    # refund request to billing (team, priority, deadline) but left the case resolved,
    # out of every queue, the request unanswered and never reopened.
    rt = sqlite_rt
    ref = the_case(rt).ref
    follow_up(tmp_path, "@acme I was charged twice, I want a refund")
    rt.clock.advance(minutes=10)
    poll_source(rt, "feed")
    outcome = process_with_colleague(rt, lambda: casework_actions.resolve(rt, ref, user="lena"))
    case = the_case(rt)
    assert (case.state, case.team) == ("awaiting_human", "billing"), outcome
    with rt.sessions() as session:
        trail = [
            (e.actor, e.detail["old"], e.detail["new"])
            for e in session.scalars(select(Event).where(Event.kind == "state").order_by(Event.id))
        ]
    for (_, _, before), (_, old, _) in pairwise(trail):
        assert old == before, (outcome, trail)  # every move starts where the last one ended


def test_pages_read_while_a_batch_holds_the_write_lock(sqlite_rt: Runtime, tmp_path: Path) -> None:
    # The batch takes SQLite's write lock when it starts; a page that only reads (the
    # queue, a case page) must not wait for it (WAL readers run beside the writer).
    rt = sqlite_rt
    ref = the_case(rt).ref
    follow_up(tmp_path, "@acme I was charged twice, I want a refund")
    poll_source(rt, "feed")
    shown: list[str] = []

    def read_pages() -> None:
        shown.extend(row.ref for row in casework_listing.list_cases(rt))
        shown.append(casework_listing.case_detail(rt, ref)["case"].ref)

    assert process_with_colleague(rt, read_pages) == ["started", "ok"]
    assert shown == [ref, ref]
