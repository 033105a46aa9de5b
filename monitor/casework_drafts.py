"""A rule's draft reply in front of a person: approved (maybe edited) or rejected, one
draft at a time, and set aside when a person answers or resolves the case instead."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from monitor import cases
from monitor.casework import (
    AlreadyApproved,
    CaseworkError,
    customer_handle,
    lock_case,
    refuse_problems,
    require_storable,
)
from monitor.domain import ActionKind, ActionStatus, CaseState
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import MAX_ID, ActionRow, Case, Event, stored_id


def approve(
    rt: Runtime, ref: str, *, user: str, text: str | None = None, draft_id: int | None = None
) -> int:
    """Send the case's draft (optionally edited) through the outbox: the one with the
    action id ``draft_id``, or else the only one waiting. A draft approved already
    raises AlreadyApproved."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        try:
            draft = _draft(session, case, draft_id)
        except CaseworkError:
            if draft_id is not None:
                _refuse_approved_already(session, case, draft_id)
            raise
        values: dict[str, Any] = {"actor": user, "next_attempt_at": now}
        # The case page sends the draft's box even unedited: that text is the rule's,
        # which its rule may allow to redirect (allow_redirect), not a person's words.
        edited = text is not None and text.strip() != draft.text
        if text is not None and edited:
            values["text"] = _checked_edit(session, case, draft, text)
        _settle_draft(session, case, draft, ActionStatus.PENDING, now, **values)
        # Where the approval falls among the case's replies, for the case page's
        # "replies" marker (web.shown_counts.replies_queued): the draft became an answer
        # now, after every reply queued so far.
        before = _reply_actions_count(session, case)
        cases.record(
            session,
            case,
            "approved",
            user,
            now,
            action=draft.id,
            edited=edited,
            replies_before=before,
        )
        _after_draft(session, case, CaseState.REPLIED, user, now)
        return draft.id


def reply_actions(case_id: int) -> Select[ActionRow]:
    """The case's reply actions of any status (drafts and withdrawn ones included), in
    the order they were queued: the case page's ``replies`` marker counts these
    (web.shown_counts.replies_queued), and an approval records its place among them."""
    return (
        select(ActionRow)
        .where(ActionRow.case_id == case_id, ActionRow.kind == ActionKind.REPLY.value)
        .order_by(ActionRow.id)
    )


def _reply_actions_count(session: Session, case: Case) -> int:
    counted = select(func.count()).select_from(reply_actions(case.id).order_by(None).subquery())
    return int(session.scalar(counted) or 0)


MAX_REASON = 500  # a rejection's reason, as the dashboard's form takes it


def _checked_edit(session: Session, case: Case, draft: ActionRow, text: str) -> str:
    """A person's edit of a draft, checked as their own reply."""
    # An emptied text (the dashboard's box cleared) is no "post as drafted": the person
    # took the words out, so nothing is posted in their name.
    if not text.strip():
        raise CaseworkError("the edited reply is empty")
    customer = customer_handle(session, case)
    refuse_problems(case.platform, text.strip(), customer=customer, markdown=draft.markdown)
    return text.strip()


def reject(
    rt: Runtime, ref: str, *, user: str, reason: str = "", draft_id: int | None = None
) -> int:
    """Reject the case's draft ``draft_id``, or else the only one waiting."""
    require_storable("reason", reason)
    if len(reason) > MAX_REASON:
        raise CaseworkError(f"the reason is {len(reason)} characters; at most {MAX_REASON}")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        try:
            draft = _draft(session, case, draft_id)
        except CaseworkError:
            if draft_id is not None:
                _refuse_rejecting_approved(session, case, draft_id)
            raise
        _settle_draft(session, case, draft, ActionStatus.REJECTED, now)
        cases.record(session, case, "rejected", user, now, action=draft.id, reason=reason)
        _after_draft(session, case, CaseState.AWAITING_HUMAN, user, now)
        return draft.id


def _refuse_approved_already(session: Session, case: Case, draft_id: int) -> None:
    """Raise AlreadyApproved if ``draft_id`` is a draft of ``case`` that was approved."""
    approval = _approval(session, case, draft_id)
    if approval is not None:
        raise AlreadyApproved(case.ref, draft_id, approval.actor, approval.at)


def _refuse_rejecting_approved(session: Session, case: Case, draft_id: int) -> None:
    """A lead rejecting, from a page loaded earlier, a draft a colleague approved since
    was told only "no draft waiting": not that the reply had gone out, nor by whom. Not
    AlreadyApproved: the case is not as this lead asked, so it stays a refusal."""
    approval = _approval(session, case, draft_id)
    if approval is not None:
        at = approval.at.strftime("%Y-%m-%d %H:%M UTC")
        raise CaseworkError(
            f"draft {draft_id} of {case.ref} was approved already by {approval.actor} at "
            f"{at}; it was not rejected"
        )


def _approval(session: Session, case: Case, draft_id: int) -> Event | None:
    """The approval of ``case``'s draft ``draft_id``, if it was approved."""
    row = session.get(ActionRow, draft_id) if draft_id <= MAX_ID else None
    if row is None or row.case_id != case.id or row.kind != ActionKind.REPLY.value:
        return None
    if row.status in (ActionStatus.DRAFT.value, ActionStatus.REJECTED.value):
        return None
    # Only a draft has an "approved" event: a bot's or a person's own reply is no draft.
    approvals = session.scalars(
        select(Event)
        .where(Event.case_id == case.id, Event.kind == "approved")
        .order_by(Event.id.desc())
    )
    return next((e for e in approvals if (e.detail or {}).get("action") == row.id), None)


MAX_LISTED_DRAFTS = 10


def _drafts(case: Case) -> Select[ActionRow]:
    return (
        select(ActionRow)
        .where(ActionRow.case_id == case.id, ActionRow.status == ActionStatus.DRAFT.value)
        .where(ActionRow.kind == ActionKind.REPLY.value)
    )


def _draft(session: Session, case: Case, draft_id: int | None) -> ActionRow:
    # A customer who writes again while a draft waits can get a second one: the page
    # shows a form for each, and each must settle its own draft, not the newest.
    query = _drafts(case)
    if draft_id is None:
        # "The newest" of several was a guess: a script resending an approval after a
        # timeout approved the newer draft, then the older one, and both were posted.
        waiting = list(session.scalars(query.order_by(ActionRow.id).limit(MAX_LISTED_DRAFTS + 1)))
        if len(waiting) > 1:
            ids = ", ".join(str(d.id) for d in waiting[:MAX_LISTED_DRAFTS])
            # Counted apart when more wait than are listed: the listed ones' number,
            # given as the total, hid the rest from the person choosing.
            count = len(waiting)
            if count > MAX_LISTED_DRAFTS:
                ids += ", ..."
                count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            raise CaseworkError(
                f"{case.ref} has {count} drafts waiting (actions {ids}): "
                "name one with draft (--draft)"
            )
    query = query.where(ActionRow.id == draft_id) if draft_id is not None else query
    # An id past BIGINT is no draft: sent to the driver it raised OverflowError, a
    # traceback in the CLI (`--draft 99999999999999999999`) and a 500 on the dashboard.
    fits = draft_id is None or draft_id <= MAX_ID
    draft = session.scalars(query.order_by(ActionRow.id.desc()).limit(1)).first() if fits else None
    if draft is None:
        which = "no draft" if draft_id is None else f"no draft {draft_id}"
        raise CaseworkError(f"{case.ref} has {which} waiting for approval")
    return draft


def _after_draft(session: Session, case: Case, state: CaseState, user: str, now: datetime) -> None:
    """The case moves on once no other draft waits; until then it stays in front of a
    lead (the queue's "awaiting approval")."""
    if session.scalars(_drafts(case).limit(1)).first() is None:
        cases.transition(session, case, state, user, now)


def _settle_draft(
    session: Session,
    case: Case,
    draft: ActionRow,
    status: ActionStatus,
    now: datetime,
    **values: Any,
) -> None:
    """Approve or reject the draft, unless someone did already since we read it.

    Read and write are apart (a person's edit is checked in between), and the dashboard
    and the CLI may act on one draft at once: a plain write would undo a colleague's
    rejection, or queue a draft already approved and sent once more. The UPDATE only
    changes a row still in ``draft``, which the database decides one writer at a time."""
    moved = session.execute(
        update(ActionRow)
        .where(ActionRow.id == draft.id, ActionRow.status == ActionStatus.DRAFT.value)
        .values(status=status.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(moved, "rowcount", 0)) == 1:
        return
    current = session.scalar(select(ActionRow.status).where(ActionRow.id == draft.id))
    done = "rejected" if current == ActionStatus.REJECTED.value else "approved"
    raise CaseworkError(
        f"the draft of {case.ref} was {done} meanwhile (by someone else); nothing was changed"
    )


def superseded_drafts(
    session: Session,
    case: Case,
    user: str,
    now: datetime,
    reason: str,
    *,
    answer_id: str | None = None,
) -> None:
    """Reject the drafts waiting in ``case``: the person saw them on the case page and
    wrote their own answer, or resolved the case. Left waiting, a draft dropped out of
    the queue with the case and could still be approved, a second answer to the same
    question (or one to a case closed), reopening the case. A draft of the entry the
    reply started from (``answer_id``) was used, not turned down: its event says so
    (``entry_used``), and answer stats do not count it as rejected."""
    for draft in session.scalars(_drafts(case).order_by(ActionRow.id)):
        _settle_draft(session, case, draft, ActionStatus.REJECTED, now)
        used = {"entry_used": True} if answer_id and draft.answer_id == answer_id else {}
        cases.record(session, case, "rejected", user, now, action=draft.id, reason=reason, **used)


def waiting_draft_text(session: Session, case: Case, draft_id: str) -> str | None:
    """The text of ``case``'s waiting draft ``draft_id`` (a form's value), or None."""
    draft = waiting_draft(session, case, draft_id)
    return draft.text if draft is not None else None


def waiting_draft(session: Session, case: Case, draft_id: str) -> ActionRow | None:
    """``case``'s waiting draft that a form's ``draft_id`` names, or None."""
    number = stored_id(draft_id)
    try:
        return _draft(session, case, number) if number is not None else None
    except CaseworkError:
        return None
