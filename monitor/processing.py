"""Step function ``process_pending``: score, attach to a case, decide, fill the outbox."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain import (
    ActionKind,
    ActionStatus,
    Author,
    CaseState,
    Decision,
    Direction,
    Mention,
    MessageKind,
    Platform,
    Score,
)
from monitor.rules.engine import Context
from monitor.rules.history import author_history
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Event, Message
from monitor.store.queries import last_bot_reply_to_customer, skip_locked

log = logging.getLogger("inchannel.process")


def process_pending(rt: Runtime) -> bool:
    """Process one batch of new inbound messages. Returns True when more are waiting."""
    started = time.perf_counter()
    limit = rt.settings.processing.batch_size
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        query = (
            select(Message)
            .where(Message.processed.is_(False), Message.direction == Direction.INBOUND.value)
            .order_by(Message.id)
            .limit(limit + 1)
        )
        batch = list(session.scalars(skip_locked(session, query)))
        for message in batch[:limit]:
            _process(rt, session, message, now)
    count = min(len(batch), limit)
    if count:
        log.info("processed=%d duration_ms=%.1f", count, (time.perf_counter() - started) * 1000)
    return len(batch) > limit


def _process(rt: Runtime, session: Session, message: Message, now: datetime) -> None:
    message.processed = True
    customer = session.get(Customer, message.customer_id) if message.customer_id else None
    mention = _mention(message, customer)
    if message.kind == MessageKind.OWN.value:
        # The brand's own post joins the thread's case (if any) but is never acted on.
        message.case_id = _latest_case_id(session, message)
        return
    assert customer is not None
    score = rt.scorer.score(mention.text, lang=mention.lang)
    message.label, message.compound, message.score_reason = (
        score.label.value, score.compound, score.reason
    )  # fmt: skip
    case = _attach(session, message, customer, score, now)
    earlier_cases, escalated_before = author_history(session, customer.id, case.id)
    context = Context(
        now=now,
        case_ref=case.ref,
        bot_replies_in_thread=case.bot_replies,
        last_bot_reply_to_author_at=last_bot_reply_to_customer(session, customer.id),
        source=message.source,
        case_state=CaseState(case.state),
        earlier_cases=earlier_cases,
        escalated_before=escalated_before,
        last_bot_reply_in_thread_at=case.last_bot_reply_at,
    )
    decision = rt.rules.decide(mention, score, context)
    message.decision = _decision_json(decision)
    _apply(session, case, message, decision, now)


def _mention(message: Message, customer: Customer | None) -> Mention:
    author = Author(
        id=customer.platform_user_id if customer else "",
        handle=message.author_handle,
        display_name=customer.display_name if customer else "",
        followers=customer.followers if customer else None,
        verified=customer.verified if customer else False,
    )
    return Mention(
        platform=Platform(message.platform),
        external_id=message.external_id,
        author=author,
        text=message.text,
        created_at=message.created_at,
        conversation_id=message.conversation_id,
        in_reply_to=message.in_reply_to,
        url=message.url,
        lang=message.lang,
        reply_allowed=message.reply_allowed,
        kind=MessageKind(message.kind),
    )


def _latest_case_id(session: Session, message: Message) -> int | None:
    query = (
        select(Case.id)
        .where(Case.platform == message.platform, Case.conversation_id == message.conversation_id)
        .order_by(Case.updated_at.desc(), Case.id.desc())
        .limit(1)
    )
    return session.execute(query).scalar_one_or_none()


def _attach(
    session: Session, message: Message, customer: Customer, score: Score, now: datetime
) -> Case:
    """Same platform + thread + customer → same case; a resolved one is reopened."""
    query = (
        select(Case)
        .where(
            Case.platform == message.platform,
            Case.conversation_id == message.conversation_id,
            Case.customer_id == customer.id,
        )
        .order_by(Case.id.desc())
        .limit(1)
    )
    case = session.scalars(query).first()
    if case is None:
        case = Case(
            platform=message.platform,
            conversation_id=message.conversation_id,
            customer_id=customer.id,
            state=CaseState.NEW.value,
            priority="normal",
            tags=[],
            first_label=score.label.value,
            bot_replies=0,
            opened_at=now,
            updated_at=now,
        )
        session.add(case)
        session.flush()
        _event(session, case, "opened", "system", now, message=message.external_id)
    elif case.state == CaseState.RESOLVED.value:
        _transition(session, case, CaseState.NEW, "system", now, reason="customer wrote again")
        case.resolved_at = None
    message.case_id = case.id
    case.latest_label, case.latest_compound = score.label.value, score.compound
    case.updated_at = now
    return case


def _apply(
    session: Session, case: Case, message: Message, decision: Decision, now: datetime
) -> None:
    if decision.matched or decision.notes:
        actor = ",".join(decision.matched) or "guard"
        _event(session, case, "decided", actor, now, **_decision_json(decision))
    if decision.ignored:
        return
    case.tags = sorted(set(case.tags) | set(decision.tags))
    if decision.escalation is not None:
        escalation = decision.escalation
        case.team, case.priority = escalation.team, escalation.priority.value
        _transition(
            session, case, CaseState.AWAITING_HUMAN, escalation.rule, now,
            team=escalation.team, sla_minutes=escalation.sla_minutes,
        )  # fmt: skip
    if decision.assignee is not None:
        case.assignee = decision.assignee
    if decision.priority is not None:
        case.priority = decision.priority.value
    reply = decision.reply
    if reply is None:
        return
    if reply.draft:
        _transition(session, case, CaseState.AWAITING_APPROVAL, reply.rule, now, draft=reply.text)
        return
    session.add(
        ActionRow(
            case_id=case.id,
            message_id=message.id,
            kind=ActionKind.REPLY.value,
            platform=message.platform,
            target_external_id=message.external_id,
            conversation_id=message.conversation_id,
            text=reply.text,
            rule=reply.rule,
            status=ActionStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            idempotency_key=f"reply:{case.id}:{reply.rule}:{message.external_id}",
            created_at=now,
            updated_at=now,
        )
    )
    # Counted when queued, not when sent, so the per-thread cap holds even while the
    # first reply is still in the outbox.
    case.bot_replies += 1
    case.last_bot_reply_at = now
    if decision.escalation is None:
        _transition(session, case, CaseState.AUTO_REPLIED, reply.rule, now)


def _transition(
    session: Session, case: Case, state: CaseState, actor: str, now: datetime, **detail: Any
) -> None:
    if case.state == state.value:
        return
    _event(session, case, "state", actor, now, old=case.state, new=state.value, **detail)
    case.state = state.value
    case.updated_at = now


def _event(
    session: Session, case: Case | None, kind: str, actor: str, now: datetime, **detail: Any
) -> None:
    session.add(
        Event(case_id=case.id if case else None, kind=kind, actor=actor, detail=detail, at=now)
    )


def _decision_json(decision: Decision) -> dict[str, Any]:
    out = asdict(decision)
    return {key: value for key, value in out.items() if value not in (None, (), [], False)}
