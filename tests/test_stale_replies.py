"""A bot reply must not answer what is answered or superseded already when it goes out."""

from __future__ import annotations

import json

from sqlalchemy import select

from monitor.ingest import poll_source
from monitor.pipeline import run_cycle
from monitor.processing import process_pending
from monitor.store.models import ActionRow, Event, Message
from tests.conftest import REPO, RuntimeFactory, mention
from tests.test_pipeline import append

JANE = "1859000000000000001"  # the demo's case C-1001: Jane's late order


def _demo_thread() -> list[dict[str, object]]:
    lines = (REPO / "config" / "samples" / "mentions.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in lines.splitlines() if line.strip()]
    return [row for row in rows if row["conversation_id"] == JANE]


def _replies(rt: object) -> list[tuple[str, str, str]]:
    """(target, status, text) of every reply in the outbox."""
    with rt.sessions() as session:  # type: ignore[attr-defined]
        query = select(ActionRow).where(ActionRow.kind == "reply").order_by(ActionRow.id)
        return [(a.target_external_id, a.status, a.text) for a in session.scalars(query)]


def test_one_batch_replies_to_the_customers_newest_message_only(
    make_runtime: RuntimeFactory,
) -> None:
    # The demo: Jane's complaint, acmehelp's own answer to it, "still nothing", and "it
    # finally arrived, thank you!", all decided in one batch. The bot answered the first
    # complaint ("Sorry your order is taking longer…") after the thank-you.
    rows = _demo_thread()
    assert [r["author"] for r in rows] == ["jane_doe", "acmehelp", "jane_doe", "jane_doe"]
    rt = make_runtime(rows, processing={"batch_size": 10})
    run_cycle(rt)
    replies = _replies(rt)
    assert [(target, status) for target, status, _ in replies] == [("1859000000000000026", "sent")]
    assert replies[0][2].startswith("Thank you so much, Jane")
    with rt.sessions() as session:  # type: ignore[attr-defined]
        decided = dict(session.execute(select(Message.external_id, Message.decision)).all())
    # The rules still decided the earlier messages: the case went to care with its tags.
    assert decided[JANE]["escalation"]["team"] == "care"
    assert "reply" not in decided[JANE]
    assert any("brand's own post" in note for note in decided[JANE]["notes"])
    assert any("later message" in note for note in decided["1859000000000000003"]["notes"])


def test_a_reply_waiting_in_the_outbox_is_withdrawn_once_the_brand_answered_natively(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1, "@acme my order is late", author="ann", author_id="7")])
    while poll_source(rt, "feed"):
        pass
    while process_pending(rt):
        pass
    assert [status for _, status, _ in _replies(rt)] == ["pending"]
    # A person answers on X itself before the dispatcher gets to the bot's reply.
    append(
        rt,
        mention(
            2,
            "@ann sorry Ann, a courier is on the way with it",
            author="acmehelp",
            author_id="900",
            conversation_id="1001",
            in_reply_to="1001",
        ),
    )
    run_cycle(rt)
    assert [(target, status) for target, status, _ in _replies(rt)] == [("1001", "rejected")]
    with rt.sessions() as session:  # type: ignore[attr-defined]
        withdrawn = session.scalars(select(Event).where(Event.kind == "reply_withdrawn")).one()
        outbound = session.scalars(select(Message).where(Message.direction == "outbound")).all()
    assert "brand answered the post" in withdrawn.detail["reason"]
    assert outbound == []


def test_a_follow_up_no_rule_answers_takes_the_reply_its_earlier_message_got(
    make_runtime: RuntimeFactory,
) -> None:
    # "hello??" after a complaint in the same batch: the rules give the nudge no reply,
    # and the complaint's reply, dropped as superseded, left the customer with none.
    rows = [
        mention(1, "@acme my order is late", author="ann", author_id="7"),
        mention(
            2,
            "@acme hello??",
            author="ann",
            author_id="7",
            conversation_id="1001",
            in_reply_to="1001",
            created_at="2026-11-20T10:05:00Z",
        ),
    ]
    rt = make_runtime(rows, processing={"batch_size": 10})
    run_cycle(rt)
    replies = _replies(rt)
    assert [(target, status) for target, status, _ in replies] == [("1002", "sent")]
    assert replies[0][2].startswith("Sorry your order is taking longer")
    with rt.sessions() as session:  # type: ignore[attr-defined]
        decided = dict(session.execute(select(Message.external_id, Message.decision)).all())
    assert any("earlier message" in note for note in decided["1002"]["notes"])
