"""The state a customer's later message leaves its case in: a case a person must look
at stays in front of them whatever the bot answers meanwhile."""

from __future__ import annotations

from sqlalchemy import select

from monitor.ingest import poll_source
from monitor.pipeline import run_cycle
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case
from tests.conftest import RuntimeFactory, mention
from tests.test_pipeline import append

ANN = {"author": "ann", "author_id": "7", "author_name": "Ann"}
LATER = {"conversation_id": "1001", "in_reply_to": "1001", "created_at": "2026-11-20T11:00:00Z"}


def _case(rt: Runtime) -> tuple[str, str | None]:
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        return case.state, case.team


def _sent(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        query = select(ActionRow.text).where(ActionRow.kind == "reply", ActionRow.status == "sent")
        return list(session.scalars(query.order_by(ActionRow.id)))


def test_a_later_auto_reply_leaves_an_escalated_case_with_its_team(
    make_runtime: RuntimeFactory,
) -> None:
    # The demo's C-1001: Jane's late order went to care, then "it arrived, thank you!"
    # got the praise rule's reply alone, and the case became auto_replied: out of the
    # team's awaiting_human queue with nobody having looked at it.
    rt = make_runtime([mention(1, "@acme my order is late", **ANN)])
    run_cycle(rt)
    assert _case(rt) == ("awaiting_human", "care")
    rt.clock.advance(hours=2)  # past the author cooldown: the praise gets its reply
    append(rt, mention(2, "@acme it finally arrived, thank you so much!", **ANN, **LATER))
    run_cycle(rt)
    assert _case(rt) == ("awaiting_human", "care")
    assert _sent(rt)[-1].startswith(("Thank you so much, Ann", "We really appreciate it, Ann"))


def _brand_answers(rt: Runtime, n: int, answered: str) -> None:
    """A person answers on X itself, as the brand, before the bot's reply goes out."""
    text = "@ann glad you like it, Ann!"
    own = {"author": "acmehelp", "author_id": "900", "conversation_id": "1001"}
    append(rt, mention(n, text, **own, in_reply_to=answered, created_at="2026-11-20T12:00:00Z"))


def test_a_reply_withdrawn_for_the_brands_own_answer_leaves_the_case_waiting(
    make_runtime: RuntimeFactory,
) -> None:
    # The brand answered the post on the platform, so the bot's reply was withdrawn;
    # the case went back to `new`, in the queue as if nobody had answered.
    rt = make_runtime([mention(1, "@acme thanks, love the new app", **ANN)])
    poll_and_process(rt)
    assert _case(rt) == ("auto_replied", None)
    _brand_answers(rt, 2, "1001")
    run_cycle(rt)
    assert _sent(rt) == []
    assert _case(rt) == ("waiting_customer", None)


def test_a_withdrawn_reply_leaves_a_case_new_while_a_later_message_is_unanswered(
    make_runtime: RuntimeFactory,
) -> None:
    # The brand answered the customer's first post, not the one after it: still owed.
    rt = make_runtime([mention(1, "@acme thanks, love the new app", **ANN)])
    poll_and_process(rt)
    append(rt, mention(3, "@acme one more thing about the app", **ANN, **LATER))
    poll_and_process(rt)
    assert _case(rt) == ("auto_replied", None)
    _brand_answers(rt, 2, "1001")
    run_cycle(rt)
    assert _sent(rt) == []
    assert _case(rt)[0] == "new"


def poll_and_process(rt: Runtime) -> None:
    """Decide what the feed holds, sending nothing yet."""
    while poll_source(rt, "feed"):
        pass
    while process_pending(rt):
        pass


def test_a_post_the_brand_answered_before_it_was_decided_leaves_the_case_waiting(
    make_runtime: RuntimeFactory,
) -> None:
    # Decided after the brand's own answer was stored, the post gets no bot reply (it
    # is answered), and its case was left `new`, as the withdrawn reply's was.
    rt = make_runtime([mention(1, "@acme thanks, love the new app", **ANN)])
    _brand_answers(rt, 2, "1001")
    run_cycle(rt)
    assert _sent(rt) == []
    assert _case(rt) == ("waiting_customer", None)


def test_a_later_draft_leaves_an_escalated_case_with_its_team(
    make_runtime: RuntimeFactory,
) -> None:
    # The customer's later question got the question-draft rule's draft, and the case
    # went to awaiting_approval: out of the team's awaiting_human queue, as a later
    # auto reply took it once. A person must act either way; the draft is on the case.
    rt = make_runtime([mention(1, "@acme my order is late, I am calling my lawyer", **ANN)])
    run_cycle(rt)
    assert _case(rt) == ("awaiting_human", "care")
    rt.clock.advance(hours=2)
    append(rt, mention(2, "@acme is there a number I can call about it", **ANN, **LATER))
    run_cycle(rt)
    assert _case(rt) == ("awaiting_human", "care")
    with rt.sessions() as session:
        statuses = session.scalars(select(ActionRow.status).where(ActionRow.kind == "reply"))
        assert list(statuses) == ["draft"]


def test_a_spam_tag_on_an_open_case_does_not_close_it_to_the_customer(
    make_runtime: RuntimeFactory,
) -> None:
    # Only a resolved case tagged spam is closed as spam: a person who tagged a case
    # they still wait on the customer in has not closed it, and the customer's next
    # message opens it again for the rules (case_transitions.closed_as_spam). Being
    # spam, it is owed no answer (owes_answer).
    rt = make_runtime([mention(1, "@acme thanks, love the new app", **ANN)])
    run_cycle(rt)
    with transaction(rt.sessions) as session:
        case = session.scalars(select(Case)).one()
        case.state, case.tags = "waiting_customer", ["spam"]
    rt.clock.advance(hours=2)
    append(rt, mention(2, "@acme my order is late", **ANN, **LATER))
    run_cycle(rt)
    assert _case(rt) == ("awaiting_human", "care")
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        # Tagged spam, it owes no answer: no follow-up owed, no deadline for the team.
        assert (case.follow_up_at, case.sla_due_at) == (None, None)


def test_the_brands_answer_on_the_platform_leaves_a_draft_waiting_on_a_person(
    make_runtime: RuntimeFactory,
) -> None:
    # case_transitions.ANSWERABLE: a draft waits on a person, who settles it; the
    # brand's own answer on the platform does not move its case on to waiting_customer.
    rt = make_runtime([mention(1, "@acme how do i change my delivery address?", **ANN)])
    run_cycle(rt)
    assert _case(rt) == ("awaiting_approval", None)
    _brand_answers(rt, 2, "1001")
    run_cycle(rt)
    assert _case(rt) == ("awaiting_approval", None)


def test_a_message_of_the_same_second_stored_later_sets_the_latest_sentiment(
    make_runtime: RuntimeFactory,
) -> None:
    # Only a message written before the newest one is older (threads._is_newest): one
    # written in the same second and stored after it is the case's latest word.
    same = {"created_at": "2026-11-20T11:00:00Z"}
    rt = make_runtime([mention(1, "@acme this is broken, worst service ever", **ANN, **same)])
    run_cycle(rt)
    append(rt, mention(2, "@acme thanks, love the new app", **ANN, **LATER))
    run_cycle(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert (case.first_label, case.latest_label) == ("negative", "positive")
