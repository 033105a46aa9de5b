"""A person's reply in a case's thread: checked, queued through the outbox once, and
the knowledge-base entries it may start from."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import cases
from monitor.casework import (
    DUPLICATE_WINDOW,
    AlreadyQueued,
    CaseworkError,
    customer_handle,
    find_case,
    lock_case,
    refuse_problems,
)
from monitor.casework_drafts import superseded_drafts, waiting_draft
from monitor.domain import (
    ActionKind,
    ActionStatus,
    CaseState,
    Platform,
    unmentioned_reason,
    x_refuses_unmentioned,
)
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Case, Customer, Message, from_customer

# A reply in these states will still be posted (failed ones are retried by dispatch).
QUEUED = (ActionStatus.PENDING.value, ActionStatus.SENDING.value, ActionStatus.FAILED.value)


def reply(
    rt: Runtime,
    ref: str,
    text: str,
    *,
    user: str,
    allow_redirect: bool = False,
    answer_id: str | None = None,
) -> int:
    """Queue a human reply in the case's thread, through the outbox. Returns the action id.

    With ``answer_id`` the reply starts from that knowledge-base entry: an empty
    ``text`` means the entry's text as it is, and the action records the entry.
    The same text in the same case while an earlier one is still queued or was just
    sent raises AlreadyQueued, whichever message each answers: a double submit must not
    post twice in public."""
    try:
        return _reply(rt, ref, text, user, allow_redirect, answer_id)
    except IntegrityError:
        # An identical submit committed between our look for it and our insert; its key
        # (derived from the text) let only one in. A second look finds it and says so.
        # (lock_case serializes the two on both engines now; the key stays the guard.)
        return _reply(rt, ref, text, user, allow_redirect, answer_id)


def _reply(
    rt: Runtime, ref: str, text: str, user: str, allow_redirect: bool, answer_id: str | None
) -> int:
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        _refuse_closed_as_spam(case)
        text = _reply_text(rt, session, case, text, answer_id)
        customer = customer_handle(session, case)
        redirect = refuse_problems(
            case.platform,
            text,
            allow_redirect=allow_redirect,
            customer=customer,
            markdown=bool(answer_id),  # dispatch posts it as ActionRow.markdown says
        )
        target = _latest_inbound(session, case)
        _refuse_unanswerable(rt, target)
        earlier = _identical_replies(session, case, text)
        _refuse_repeat(earlier, now)
        action_id = _queue_human_reply(
            session, case, target, text, len(earlier), user=user, now=now, answer_id=answer_id
        )
        if redirect is not None:
            detail = {"action": action_id, "redirect": redirect[0], "phrase": redirect[1]}
            cases.record(session, case, "redirect_allowed", user, now, **detail)
        reason = "answered by a person's reply instead"
        superseded_drafts(session, case, user, now, reason, answer_id=answer_id)
        cases.restart_closed_clock(rt.settings, case, now)  # before it leaves resolved
        cases.transition(session, case, CaseState.REPLIED, user, now)
        return action_id


def _refuse_closed_as_spam(case: Case) -> None:
    if cases.closed_as_spam(case):
        # It stays closed, and nothing more goes to the spammer, until a person takes
        # the tag off (as for a retry of its dead replies): a page open from before
        # the spam mark posted to them and reopened the case.
        raise CaseworkError(f"{case.ref} was closed as spam: remove its spam tag to reply")


def _reply_text(rt: Runtime, session: Session, case: Case, text: str, answer_id: str | None) -> str:
    """The text to post: the person's words, or the entry's when they left the box empty."""
    if answer_id:
        entry_text = answer_text(rt, session, case, answer_id)  # refuses unknown ids
        text = text if text.strip() else entry_text
    text = text.strip()
    if not text:
        raise CaseworkError("the reply is empty")
    return text


def _queue_human_reply(
    session: Session,
    case: Case,
    target: Message,
    text: str,
    identical: int,
    *,
    user: str,
    now: datetime,
    answer_id: str | None,
) -> int:
    """Queue the reply to ``target`` in the outbox; its action id. ``identical``: how many
    replies with this text the case had already (_identical_replies)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    key = cases.queue_reply(
        session,
        case,
        target,
        text,
        actor=user,
        rule=None,
        now=now,
        # Two identical submits get the same key, so even racing ones insert once.
        # The count is of the case's identical replies, so no earlier key repeats.
        key=f"human:{case.id}:{target.external_id}:{digest}:{identical}",
        answer_id=answer_id or None,
    )
    return session.scalars(select(ActionRow.id).where(ActionRow.idempotency_key == key)).one()


def _identical_replies(session: Session, case: Case, text: str) -> list[ActionRow]:
    """Earlier human replies with this text in this case, whatever became of them and
    whichever message they answered: a reply goes to the customer's newest message, so a
    resend after a follow-up arrived (a script sends no ``messages``) targets another
    one, and the same words were posted twice in the thread."""
    return list(
        session.scalars(
            select(ActionRow)
            .where(
                ActionRow.case_id == case.id,
                ActionRow.kind == ActionKind.REPLY.value,
                ActionRow.rule.is_(None),
                ActionRow.text == text,
            )
            .order_by(ActionRow.id)
        )
    )


def _refuse_repeat(earlier: list[ActionRow], now: datetime) -> None:
    for row in earlier:
        recent = row.status == ActionStatus.SENT.value and row.updated_at >= now - DUPLICATE_WINDOW
        if row.status in QUEUED or recent:
            raise AlreadyQueued(row.id)


def answer_prefill(rt: Runtime, ref: str, answer_id: str) -> str:
    """The text a person's reply starts from when they pick a knowledge-base entry."""
    with rt.sessions() as session:
        return answer_text(rt, session, find_case(session, ref), answer_id)


def answer_text(rt: Runtime, session: Session, case: Case, answer_id: str) -> str:
    """A knowledge-base entry's text filled in for this case (for a person's reply)."""
    from monitor.answers.manual import UnknownAnswer, entry_text

    customer = session.get(Customer, case.customer_id)
    assert customer is not None
    if rt.rules is None:  # the knowledge base is loaded, and broken, with the rules
        raise CaseworkError(f"knowledge-base answers are unavailable: {rt.rules_problem()}")
    kb = rt.rules.answers.kb if rt.rules.answers else None
    if kb is None:
        raise CaseworkError("there is no knowledge base")
    try:
        return entry_text(
            kb,
            answer_id,
            case=case,
            customer=customer,
            brand=rt.settings.brand.name,
            now=rt.clock.now(),
        )
    except UnknownAnswer as exc:
        raise CaseworkError(str(exc)) from None


def posted_as_markdown(
    rt: Runtime, session: Session, case: Case, *, draft_id: str = "", answer_id: str = ""
) -> bool:
    """Whether a text for ``case`` will be posted as the brand's markdown, as approve and
    reply decide it: an edit of its draft ``draft_id`` (ActionRow.markdown), or a reply
    started from the knowledge-base entry ``answer_id``. Both are looked up, not taken on
    the caller's word: an unknown one is a person's own words, which the submit refuses
    or posts escaped."""
    try:
        if draft_id:
            draft = waiting_draft(session, case, draft_id)
            return draft is not None and draft.markdown
        if answer_id:
            answer_text(rt, session, case, answer_id)  # refuses an unknown entry
            return True
    except CaseworkError:
        pass
    return False


def _refuse_unanswerable(rt: Runtime, target: Message) -> None:
    """A reply X's API is known to refuse is never queued: queued, it moved the case out
    of the team's queue until the send failed, and the person learnt nothing meanwhile."""
    reason = _unanswerable_reason(rt, target)
    if reason is not None:
        raise CaseworkError(reason)


def reply_refusal(rt: Runtime, session: Session, case: Case) -> str | None:
    """Why a person's reply to ``case`` would be refused by its platform, or None: the
    case page says it in place of the reply box, before anything is typed. Only the
    newest customer message counts, as the reply is addressed to it."""
    try:
        target = _latest_inbound(session, case)
    except CaseworkError:
        return None  # nothing to answer; the submit says so
    return _unanswerable_reason(rt, target)


def _unanswerable_reason(rt: Runtime, target: Message) -> str | None:
    if target.platform == Platform.X.value and x_refuses_unmentioned(
        target.kind, target.reply_allowed
    ):
        return unmentioned_reason(rt.own_handles(Platform.X), target.kind)
    return None


def _latest_inbound(session: Session, case: Case) -> Message:
    message = session.scalars(
        select(Message)
        .where(Message.case_id == case.id, from_customer())
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    ).first()
    if message is None:
        raise CaseworkError(f"{case.ref} has no customer message to reply to")
    return message
