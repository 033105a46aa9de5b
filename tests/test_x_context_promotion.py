"""X thread context that later arrives as a mention (a sweep cut short by a rate limit)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import casework_actions, casework_replies
from monitor.dispatch import dispatch_outbox
from monitor.domain import CaseState
from monitor.pipeline import poll_source, process_pending
from monitor.runtime import Runtime
from monitor.sla import check_sla
from monitor.store.models import ActionRow, Case, Event, Message, SourceState
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI
from tests.rulekit import write
from tests.xapi import BRAND_ID, MENTIONS, body, ok, reply_to, tid, tweet, user, x_section


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    started = time.monotonic()
    with FakeAPI() as server:
        yield server
    assert time.monotonic() - started < 10


def answering_runtime(make_runtime: RuntimeFactory, api: FakeAPI, rules: Path) -> Runtime:
    write(rules, "name: hello\nthen: {reply: 'Sorry to hear that {author}, we are on it'}\n")
    rt = make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        responders={"x": {"type": "recording", "path": None},
                    "reddit": {"type": "recording", "path": None}},
        x=x_section(api),
        rules={"path": str(rules)},
    )  # fmt: skip
    with rt.sessions.begin() as session:
        session.merge(SourceState(name="mentions", cursor=tid(0), consecutive_failures=0,
                                  items_total=0))  # fmt: skip
    return rt


def drain(rt: Runtime) -> None:
    while process_pending(rt):
        pass


def stored(rt: Runtime) -> dict[str, Message]:
    with rt.sessions() as session:
        return {m.external_id: m for m in session.scalars(select(Message))}


def replies(rt: Runtime) -> list[Any]:
    with rt.sessions() as session:
        return list(session.scalars(select(ActionRow)))


COMPLAINT = {"created_at": "2026-11-20T08:50:00.000Z"}
NUDGE = {"created_at": "2026-11-20T08:58:00.000Z", **reply_to(3)}


def cut_short_sweep(api: FakeAPI) -> None:
    """Page 1 spends the rate limit on the customer's nudge, whose parent (their complaint,
    naming the brand) comes in includes; page 2, read on the next poll, lists the
    complaint as a mention."""
    complaint = tweet(3, "@acme my order is late, this is awful", **COMPLAINT)
    nudge = tweet(5, "@acme hello?? anyone", **NUDGE)
    api.add("GET", MENTIONS, ok(body([nudge], included=[complaint], next_token="p2"), remaining=0))
    api.add("GET", MENTIONS, ok(body([complaint])), query={"pagination_token": "p2"})


def decisions(rt: Runtime) -> int:
    """How many decisions were made (their ``decided`` audit events)."""
    with rt.sessions() as session:
        return len(session.scalars(select(Event).where(Event.kind == "decided")).all())


@pytest.mark.parametrize("decided_between", [False, True])
def test_a_parent_read_as_context_is_decided_once_as_the_mention_a_later_page_lists(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path, decided_between: bool
) -> None:
    # The rate limit cut the sweep after page 1: the complaint, stored from its includes
    # as thread context (kind reply, no reply allowed), was decided as a post whose
    # author allows no replies and escalated with that false reason; page 2 listed it as
    # a mention on the next poll and that copy was dropped as a duplicate.
    cut_short_sweep(api)
    rt = answering_runtime(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    if decided_between:
        drain(rt)
    poll_source(rt, "mentions")
    drain(rt)
    rows = stored(rt)
    complaint, nudge = rows[tid(3)], rows[tid(5)]
    assert (complaint.direction, complaint.kind, complaint.reply_allowed) == (
        "inbound",
        "mention",
        True,
    )
    assert complaint.processed
    assert complaint.case_id == nudge.case_id is not None
    assert "allow replies" not in str(complaint.decision)
    assert decisions(rt) == 2  # the nudge and the complaint, each decided once
    # The bot answered the nudge: the complaint, decided after it, is not answered again.
    assert [a.message_id for a in replies(rt)] == [nudge.id]


def test_a_promoted_parent_takes_the_handle_and_link_its_mention_came_with(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    # The customer renamed their account between the two pages: the context row kept
    # the old handle and its link, which X no longer serves, on the case page and in
    # the {author} the bot answered with.
    complaint = tweet(3, "@acme my order is late, this is awful", **COMPLAINT)
    nudge = tweet(5, "@acme hello?? anyone", **NUDGE)
    api.add("GET", MENTIONS, ok(body([nudge], included=[complaint], next_token="p2"), remaining=0))
    renamed = body([complaint], users=[user("42", "carla_b")])
    api.add("GET", MENTIONS, ok(renamed), query={"pagination_token": "p2"})
    rt = answering_runtime(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    poll_source(rt, "mentions")
    promoted = stored(rt)[tid(3)]
    assert promoted.author_handle == "carla_b"
    assert promoted.url == f"https://x.com/carla_b/status/{tid(3)}"


def escalating_runtime(
    make_runtime: RuntimeFactory, api: FakeAPI, rules: Path, batch_size: int = 200
) -> Runtime:
    write(rules, "name: to-care\nthen: {escalate: {team: care}}\n")
    rt = make_runtime(
        sources=[{"name": "mentions", "type": "x_mentions"}],
        responders={"x": {"type": "recording", "path": None},
                    "reddit": {"type": "recording", "path": None}},
        x=x_section(api),
        rules={"path": str(rules)},
        processing={"batch_size": batch_size},
    )  # fmt: skip
    with rt.sessions.begin() as session:
        session.merge(SourceState(name="mentions", cursor=tid(0), consecutive_failures=0,
                                  items_total=0))  # fmt: skip
    return rt


def test_a_parent_shown_in_a_case_resolved_since_does_not_reopen_it_when_listed(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    # The complaint was on the case page (thread context) when the agent answered the
    # nudge and resolved the case. Listed as a mention on the next poll, it was decided
    # as new: it reopened the case, owed an answer since it was written (08:50), and
    # check_sla breached the reopened case at once.
    cut_short_sweep(api)
    rt = escalating_runtime(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    drain(rt)
    with rt.sessions() as session:
        ref = session.scalars(select(Case)).one().ref
    rt.clock.advance(minutes=5)
    casework_replies.reply(rt, ref, "Sorry about the wait, it ships today.", user="lena")
    dispatch_outbox(rt)
    rt.clock.advance(minutes=5)
    casework_actions.resolve(rt, ref, user="lena")
    resolved = case_clocks(rt)
    rt.clock.advance(hours=3)
    poll_source(rt, "mentions")
    drain(rt)
    check_sla(rt)
    rows = stored(rt)
    complaint, nudge = rows[tid(3)], rows[tid(5)]
    assert (complaint.direction, complaint.processed) == ("inbound", True)
    assert complaint.case_id == nudge.case_id
    assert "shown in the case's thread" in str(complaint.decision)
    assert case_clocks(rt) == resolved
    assert resolved[0] == CaseState.RESOLVED.value
    assert resolved[-1] is None  # never breached


def case_clocks(rt: Runtime) -> tuple[Any, ...]:
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        return (case.state, case.follow_up_at, case.sla_due_at, case.sla_breached_at)


def test_a_parent_shown_when_a_person_answered_does_not_reopen_the_case_waiting_on_them(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path
) -> None:
    # The agent answered with the complaint on the case page, and the case waited on the
    # customer. Listed as a mention later, the complaint put the case back in the queue
    # as new ("customer wrote again"), owing nothing, and the rules acted on it again.
    cut_short_sweep(api)
    rt = escalating_runtime(make_runtime, api, tmp_path / "rules")
    poll_source(rt, "mentions")
    drain(rt)
    with rt.sessions() as session:
        ref = session.scalars(select(Case)).one().ref
    rt.clock.advance(minutes=5)
    casework_replies.reply(rt, ref, "Sorry about the wait, it ships today.", user="lena")
    dispatch_outbox(rt)
    waiting = case_clocks(rt)
    assert waiting[0] == CaseState.WAITING_CUSTOMER.value
    rt.clock.advance(hours=3)
    poll_source(rt, "mentions")
    drain(rt)
    complaint = stored(rt)[tid(3)]
    assert complaint.processed
    assert complaint.case_id is not None
    assert "shown in the case's thread" in str(complaint.decision)
    assert case_clocks(rt) == waiting


@pytest.mark.parametrize("batch_size", [1, 200])
def test_the_brand_answering_a_customer_post_kept_as_context_joins_their_case(
    make_runtime: RuntimeFactory, api: FakeAPI, tmp_path: Path, batch_size: int
) -> None:
    # The sweep was cut short: the customer's complaint is context only. The brand
    # answered it natively and the customer replied to that answer; the brand's answer,
    # a parent of the reply, is stored as the brand's post at once. Answering a post in
    # no case, it joined none: the case page showed the complaint without its answer.
    complaint = tweet(3, "@acme my order is late, this is awful", **COMPLAINT)
    nudge = tweet(5, "@acme hello?? anyone", **NUDGE)
    answer = tweet(6, "@carla sorry, it ships today", author=BRAND_ID,
                   created_at="2026-11-20T08:59:00.000Z", **reply_to(3))  # fmt: skip
    thanks = tweet(7, "@acme @carla thanks!", created_at="2026-11-20T09:01:00.000Z",
                   **reply_to(6, conversation=3))  # fmt: skip
    people = [user("42", "carla"), user(BRAND_ID, "acme")]
    page = body([thanks, nudge], included=[complaint, answer], users=people, next_token="p2")
    api.add("GET", MENTIONS, ok(page, remaining=0))
    rt = escalating_runtime(make_runtime, api, tmp_path / "rules", batch_size=batch_size)
    poll_source(rt, "mentions")
    drain(rt)
    rows = stored(rt)
    assert (rows[tid(3)].direction, rows[tid(6)].kind) == ("context", "own")
    assert rows[tid(5)].case_id is not None
    assert rows[tid(6)].processed
    assert rows[tid(6)].case_id == rows[tid(5)].case_id
