"""What a person on the social team does to a case. Shared by the CLI and the dashboard.

Every operation is one transaction and leaves an audit event with the person's name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Select, func, not_, select, update
from sqlalchemy import case as sql_case
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor import cases
from monitor.domain import (
    ActionKind,
    ActionStatus,
    CaseState,
    Platform,
    ascii_digits,
    unmentioned_reason,
    x_refuses_unmentioned,
)
from monitor.rules.deflection import find_redirect
from monitor.runtime import Runtime
from monitor.store.db import begin_write, hold_lock, transaction
from monitor.store.models import (
    MAX_ID,
    ActionRow,
    Case,
    Customer,
    Event,
    Message,
    from_customer,
    stored_id,
)
from monitor.store.queries import locked
from monitor.store.web_models import WebUser
from monitor.textlength import reply_length_problem

# Public reply limits: X counts 280 characters; Reddit comments take 10,000.
# An identical reply sent this recently is taken for a double submit, not a new reply.
DUPLICATE_WINDOW = timedelta(minutes=5)
# A reply in these states will still be posted (failed ones are retried by dispatch).
QUEUED = (ActionStatus.PENDING.value, ActionStatus.SENDING.value, ActionStatus.FAILED.value)


class CaseworkError(Exception):
    """A request a person made that cannot be done, with the reason to show them."""


class AlreadyQueued(CaseworkError):
    """The same reply is queued or was just sent: posting it again would repeat it publicly."""

    def __init__(self, action_id: int) -> None:
        super().__init__(
            f"this reply is already queued (action {action_id}); it was not queued again"
        )
        self.action_id = action_id


class AlreadyApproved(AlreadyQueued):
    """The draft named was approved already: approving it again must not post it twice,
    and a script resending after a timeout must not read the approval as refused."""

    def __init__(self, ref: str, action_id: int, actor: str, at: datetime) -> None:
        CaseworkError.__init__(
            self,
            f"draft {action_id} of {ref} was approved already by {actor} at "
            f"{at.strftime('%Y-%m-%d %H:%M UTC')}; nothing was changed",
        )
        self.action_id = action_id


class AlreadyNoted(CaseworkError):
    """The same note by the same person was just added: a resent form is no second note."""

    def __init__(self, actor: str, at: datetime) -> None:
        super().__init__(
            f"this note was added already by {actor} at {at.strftime('%Y-%m-%d %H:%M UTC')}; "
            "it was not added again"
        )


class Viewer(Protocol):
    """Whoever reads a case: which teams' cases they may see (monitor.web.users.User)."""

    def sees_team(self, team: str | None) -> bool: ...


@dataclass(frozen=True, slots=True)
class CaseRow:
    ref: str
    platform: str
    handle: str
    state: str
    priority: str
    team: str | None
    assignee: str | None
    tags: tuple[str, ...]
    latest_label: str | None
    opened_at: datetime
    sla_due_at: datetime | None
    first_line: str


def check_reply(
    platform: str,
    text: str,
    *,
    allow_redirect: bool = False,
    customer: str = "",
    markdown: bool = False,
) -> list[str]:
    """Everything wrong with a reply text, checked as the person types and again on submit.

    The one place reply checks live: the platform's length limit and the deflection
    guard, which holds for people too (help the customer where they wrote). ``customer``
    is the handle replied to: naming them is no redirect to another account.
    ``markdown``: the text is the brand's markdown (ActionRow.markdown), posted to
    Reddit as written.
    """
    # Counted as the platform counts (X: weighted, links 23; Reddit: the body posted,
    # escaped for a person's own words): measured escaped, an answer check-config
    # accepted was refused when a person started from it.
    too_long = reply_length_problem(_platform_or_x(platform), text, markdown=markdown)
    problems = [too_long] if too_long else []
    redirect = find_redirect(text, customer=customer)
    if redirect is not None and not allow_redirect:
        kind, phrase = redirect
        problems.append(
            f"the reply sends the customer elsewhere ({kind}: {phrase!r}); answer in the "
            "thread, or allow the redirect explicitly"
        )
    return problems


def _platform_or_x(platform: str) -> Platform:
    try:
        return Platform(platform)
    except ValueError:
        return Platform.X  # the stricter limit


def require_storable(name: str, value: str) -> str:
    """``value``, if the database can take it. PostgreSQL refuses a NUL in any text
    parameter and neither driver encodes an unpaired surrogate (JSON's "\\ud800", or a
    byte that is no UTF-8 in a command-line argument): an error either way, and a
    surrogate stored in a JSON column (a note, a rejection's reason) broke every later
    rendering of the case, on the dashboard and in `cases show`. Mentions lose them on
    the way in (domain.bound_text); a person's input is refused instead, so what they
    typed is never silently changed."""
    if not storable(value):
        raise CaseworkError(f"{name} {UNSTORABLE}")
    return value


UNSTORABLE = "contains a NUL character or an unpaired surrogate"


def storable(text: str) -> bool:
    """Whether both databases can take ``text`` as a parameter (see require_storable)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_problems(
    platform: str,
    text: str,
    *,
    allow_redirect: bool = False,
    customer: str = "",
    markdown: bool = False,
) -> None:
    require_storable("text", text)
    problems = check_reply(
        platform, text, allow_redirect=allow_redirect, customer=customer, markdown=markdown
    )
    if problems:
        raise CaseworkError("; ".join(problems))


def parse_ref(ref: str) -> int:
    text = ref.strip().upper()
    # Twelve digits at most: a longer number is no case and overflows a BIGINT.
    digits = text[2:]
    numeric = ascii_digits(digits)
    if not text.startswith("C-") or not numeric or len(digits) > 12 or int(digits) <= 1000:
        raise CaseworkError(f"not a case reference: {ref[:40]!r} (expected C-1042)")
    return int(text[2:]) - 1000


def find_case(session: Session, ref: str) -> Case:
    """The case a reference names, or CaseworkError."""
    case = session.get(Case, parse_ref(ref))
    if case is None:
        raise CaseworkError(f"no case {ref}")
    return case


def customer_handle(session: Session, case: Case) -> str:
    """The handle of the case's customer, "" when unknown."""
    customer = session.get(Customer, case.customer_id)
    return customer.handle if customer else ""


def lock_case(session: Session, ref: str) -> Case:
    """The case a reference names, read now and locked until the transaction ends
    (PostgreSQL: its row; SQLite: the database's write lock). Every change a person
    makes starts here: two people acting at once each read the case before the other
    wrote, and both acted on what they read (two "resolved" events, an assignment
    recorded as replacing nobody). Locked, the second waits and then reads the first
    one's work. Read before anything else in the session, so the row comes from the
    database, not a stale copy in the session."""
    case_id = parse_ref(ref)
    # transaction() has begun with it; a session of the caller's own may not have.
    begin_write(session)
    query = locked(session, select(Case).where(Case.id == case_id))
    case = session.scalars(query.execution_options(populate_existing=True)).one_or_none()
    if case is None:
        raise CaseworkError(f"no case {ref}")
    return case


def list_cases(
    rt: Runtime, *, states: tuple[str, ...] = (), team: str | None = None, limit: int = 100
) -> list[CaseRow]:
    if team:
        require_storable("team", team)  # a filter is a query parameter too
    with rt.sessions() as session:
        if team:
            require_known_team(rt, session, team)
        # Read with its case, in the same statement: a query per row was 10,001 round
        # trips for `cases list --limit 10000`.
        first = (
            select(Message.text)
            .where(Message.case_id == Case.id)
            .order_by(Message.id)
            .limit(1)
            .correlate(Case)
            .scalar_subquery()
        )
        query = select(Case, Customer, first).join(Customer, Customer.id == Case.customer_id)
        if states:
            query = query.where(Case.state.in_(states))
        if team:
            query = query.where(Case.team == team)
        # Open cases first: a resolved case keeps its old deadline, which would put it
        # above every open one.
        resolved = Case.state == CaseState.RESOLVED.value
        # Then as the dashboard's queue: the answers owed by their deadline (an answered
        # case's met one does not count), then priority, the oldest first.
        owed = cases.DEADLINE_OWED
        order = (
            resolved,
            not_(owed),
            sql_case((owed, Case.sla_due_at)),
            cases.PRIORITY_RANK,
            Case.id,
        )
        query = query.order_by(*order).limit(limit)
        return [_row(case, customer, text) for case, customer, text in session.execute(query).all()]


def require_known_team(rt: Runtime, session: Session, team: str) -> None:
    """A misspelt team listed nothing, which read as "no work". A team no longer in the
    config still filters while cases carry it."""
    if rt.settings.team(team) is not None:
        return
    if session.scalars(select(Case.id).where(Case.team == team).limit(1)).first() is None:
        known = ", ".join(t.name for t in rt.settings.teams)
        raise CaseworkError(f"unknown team {team[:40]!r} (teams: {known})")


def _first_text(session: Session, case: Case) -> str | None:
    return session.scalars(
        select(Message.text).where(Message.case_id == case.id).order_by(Message.id).limit(1)
    ).first()


def _row(case: Case, customer: Customer, first: str | None) -> CaseRow:
    return CaseRow(
        case.ref,
        case.platform,
        customer.handle,
        case.state,
        case.priority,
        case.team,
        case.assignee,
        tuple(case.tags),
        case.latest_label,
        case.opened_at,
        # The deadline of the answer owed now, as the dashboard shows it: an answered
        # case's met one read as still running, and once past, as overdue.
        cases.deadline_owed(case),
        first_words(first or "", limit=120),
    )


def first_words(text: str, *, limit: int = 140) -> str:
    """The first line with words in it: a post may start with a line break."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:limit]


def case_detail(rt: Runtime, ref: str, viewer: Viewer | None = None) -> dict[str, Any]:
    """The thread, the outbox, the audit trail and the customer's history of a case.

    ``viewer`` limits the history to the cases they may see; None (the CLI, run by an
    operator with the configuration) shows every case."""
    with rt.sessions() as session:
        case = find_case(session, ref)
        customer = session.get(Customer, case.customer_id)
        assert customer is not None
        messages = session.scalars(
            select(Message)
            .where(Message.case_id == case.id)
            .order_by(Message.created_at, Message.id)
        ).all()
        outbox = session.scalars(
            select(ActionRow).where(ActionRow.case_id == case.id).order_by(ActionRow.id)
        ).all()
        events = session.scalars(
            select(Event).where(Event.case_id == case.id).order_by(Event.id)
        ).all()
        return {
            "case": _row(case, customer, _first_text(session, case)),
            "customer": customer,
            "messages": list(messages),
            "actions": list(outbox),
            "events": list(events),
            "history": customer_history(session, customer, viewer),
        }


def customer_history(
    session: Session, customer: Customer, viewer: Viewer | None = None
) -> dict[str, Any]:
    """Every case of this account (and of accounts linked to it as the same person).

    Cases of teams the viewer may not open are only counted: their refs, states and
    internal notes stay with their team, as the case pages themselves do."""
    ids = [customer.id]
    if customer.person_id is not None:
        ids = list(
            session.scalars(select(Customer.id).where(Customer.person_id == customer.person_id))
        )
    case_rows = session.scalars(
        select(Case).where(Case.customer_id.in_(ids)).order_by(Case.id)
    ).all()
    shown = [c for c in case_rows if viewer is None or viewer.sees_team(c.team)]
    notes = session.scalars(
        select(Event)
        .where(Event.case_id.in_([c.id for c in shown]), Event.kind == "note")
        .order_by(Event.id)
    ).all()
    return {
        "cases": [(c.ref, c.platform, c.state, c.opened_at) for c in shown],
        "other_team_cases": len(case_rows) - len(shown),
        "escalations": _escalations(session, [c.id for c in shown]),
        "notes": [(n.actor, n.at, n.detail.get("text", "")) for n in notes],
        "linked_accounts": len(ids) - 1,
    }


def _escalations(session: Session, case_ids: list[int]) -> int:
    found = session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.case_id.in_(case_ids),
            Event.kind == "state",
            Event.detail["new"].as_string() == CaseState.AWAITING_HUMAN.value,
        )
    )
    return int(found or 0)


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
        if cases.closed_as_spam(case):
            # It stays closed, and nothing more goes to the spammer, until a person takes
            # the tag off (as for a retry of its dead replies): a page open from before
            # the spam mark posted to them and reopened the case.
            raise CaseworkError(f"{case.ref} was closed as spam: remove its spam tag to reply")
        if answer_id:
            entry_text = answer_text(rt, session, case, answer_id)  # refuses unknown ids
            text = text if text.strip() else entry_text
        text = text.strip()
        if not text:
            raise CaseworkError("the reply is empty")
        customer = customer_handle(session, case)
        _refuse_problems(
            case.platform,
            text,
            allow_redirect=allow_redirect,
            customer=customer,
            markdown=bool(answer_id),  # dispatch posts it as ActionRow.markdown says
        )
        redirect = find_redirect(text, customer=customer)
        target = _latest_inbound(session, case)
        _refuse_unanswerable(rt, target)
        earlier = _identical_replies(session, case, text)
        _refuse_repeat(earlier, now)
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
            key=f"human:{case.id}:{target.external_id}:{digest}:{len(earlier)}",
            answer_id=answer_id or None,
        )
        action_id = session.scalars(
            select(ActionRow.id).where(ActionRow.idempotency_key == key)
        ).one()
        if redirect is not None:
            detail = {"action": action_id, "redirect": redirect[0], "phrase": redirect[1]}
            cases.record(session, case, "redirect_allowed", user, now, **detail)
        reason = "answered by a person's reply instead"
        _superseded_drafts(session, case, user, now, reason, answer_id=answer_id)
        cases.transition(session, case, CaseState.REPLIED, user, now)
        return action_id


def _superseded_drafts(
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
            draft = _waiting_draft(session, case, draft_id)
            return draft is not None and draft.markdown
        if answer_id:
            answer_text(rt, session, case, answer_id)  # refuses an unknown entry
            return True
    except CaseworkError:
        pass
    return False


def waiting_draft_text(session: Session, case: Case, draft_id: str) -> str | None:
    """The text of ``case``'s waiting draft ``draft_id`` (a form's value), or None."""
    draft = _waiting_draft(session, case, draft_id)
    return draft.text if draft is not None else None


def _waiting_draft(session: Session, case: Case, draft_id: str) -> ActionRow | None:
    """``case``'s waiting draft that a form's ``draft_id`` names, or None."""
    number = stored_id(draft_id)
    try:
        return _draft(session, case, number) if number is not None else None
    except CaseworkError:
        return None


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
    _refuse_problems(case.platform, text.strip(), customer=customer, markdown=draft.markdown)
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
        draft = _draft(session, case, draft_id)
        _settle_draft(session, case, draft, ActionStatus.REJECTED, now)
        cases.record(session, case, "rejected", user, now, action=draft.id, reason=reason)
        _after_draft(session, case, CaseState.AWAITING_HUMAN, user, now)
        return draft.id


def _refuse_approved_already(session: Session, case: Case, draft_id: int) -> None:
    """Raise AlreadyApproved if ``draft_id`` is a draft of ``case`` that was approved."""
    row = session.get(ActionRow, draft_id) if draft_id <= MAX_ID else None
    if row is None or row.case_id != case.id or row.kind != ActionKind.REPLY.value:
        return
    if row.status in (ActionStatus.DRAFT.value, ActionStatus.REJECTED.value):
        return
    # Only a draft has an "approved" event: a bot's or a person's own reply is no draft.
    approvals = session.scalars(
        select(Event)
        .where(Event.case_id == case.id, Event.kind == "approved")
        .order_by(Event.id.desc())
    )
    approval = next((e for e in approvals if (e.detail or {}).get("action") == row.id), None)
    if approval is not None:
        raise AlreadyApproved(case.ref, row.id, approval.actor, approval.at)


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


def assign(rt: Runtime, ref: str, assignee: str, *, user: str) -> None:
    """Give the case to a dashboard user who may open it: a typo or a colleague of
    another team would leave the case with nobody who can work it."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        _check_assignee(session, assignee, case.team)
        if case.assignee == assignee:
            # A second "assign" of the same person (a double submit, two leads at
            # once) changes nothing: no event claiming it did.
            raise CaseworkError(
                f"{case.ref} is assigned to {assignee} already; nothing was changed"
            )
        old = {"assignee": case.assignee}
        case.assignee, case.updated_at = assignee, now
        cases.record(session, case, "assigned", user, now, old=old, new={"assignee": assignee})


def may_open(role: str, teams: Sequence[str], team: str | None) -> bool:
    """Agents open their teams' cases and untriaged ones; leads and admins every case."""
    return role != "agent" or team is None or team in teams


def assignees(session: Session, team: str | None) -> list[str]:
    """The active dashboard users who may open a case of ``team``, by name."""
    users = session.scalars(select(WebUser).where(WebUser.active.is_(True)).order_by(WebUser.name))
    return [u.name for u in users if may_open(u.role, u.teams, team)]


def can_open(session: Session, name: str, team: str | None) -> bool:
    """Whether the active dashboard user ``name`` may open a case of ``team``."""
    found = session.scalars(select(WebUser).where(WebUser.name == name)).first()
    return found is not None and found.active and may_open(found.role, found.teams, team)


def _check_assignee(session: Session, name: str, team: str | None) -> None:
    problem = assignee_problem(session, name, team)
    if problem is not None:
        raise CaseworkError(problem)


def assignee_problem(session: Session, name: str, team: str | None) -> str | None:
    """Why ``name`` cannot be given a case of ``team``, or None: for a person assigning
    and for a rule's ``assign`` alike."""
    # A name the driver cannot send is nobody's: not looked up, so no encoding error.
    # On the connection, not through the ORM: an ORM statement writes the audit rows
    # added so far first (monitor.store.pending), and a rule's assign is checked once
    # per batch, mid-batch.
    query = select(WebUser.active, WebUser.role, WebUser.teams).where(WebUser.name == name)
    found = session.connection().execute(query).first() if storable(name) else None
    if found is None or not found.active:
        return f"no active dashboard user {name[:64]!r} (`inchannel users list` shows them)"
    if not may_open(found.role, found.teams, team):
        teams = ", ".join(found.teams) or "no team"
        return f"{name} is an agent of {teams} and cannot open the cases of team {team}"
    return None


def resolve(rt: Runtime, ref: str, *, user: str) -> None:
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        if case.state == CaseState.RESOLVED.value:
            raise CaseworkError(f"{case.ref} is resolved already; nothing was changed")
        _superseded_drafts(session, case, user, now, "the case was resolved")
        cases.transition(session, case, CaseState.RESOLVED, user, now)


MAX_NOTE = 5000


def add_note(rt: Runtime, ref: str, text: str, *, user: str) -> None:
    text = require_storable("text", text).strip()
    if not text:
        raise CaseworkError("the note is empty")
    if len(text) > MAX_NOTE:
        # Cut silently, `cases note` said "note added" and the end of it was lost; the
        # dashboard refuses such a note too.
        raise CaseworkError(f"the note is {len(text)} characters; at most {MAX_NOTE}")
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        case = lock_case(session, ref)
        # Under the case lock, as replies are: a browser retrying the form (or a script
        # resending after a timeout) while the first request was still running stored the
        # note twice. The same words later are a new note.
        recent = session.scalars(
            select(Event).where(
                Event.case_id == case.id,
                Event.kind == "note",
                Event.actor == user,
                Event.at >= now - DUPLICATE_WINDOW,
            )
        )
        earlier = next((e for e in recent if (e.detail or {}).get("text") == text), None)
        if earlier is not None:
            raise AlreadyNoted(earlier.actor, earlier.at)
        cases.record(session, case, "note", user, now, text=text)


def _lock_both(session: Session, first_ref: str, second_ref: str) -> tuple[Case, Case]:
    # In id order: two links of one pair, given either way round, wait for each other
    # instead of deadlocking.
    found = {
        parse_ref(r): lock_case(session, r) for r in sorted((first_ref, second_ref), key=parse_ref)
    }
    return found[parse_ref(first_ref)], found[parse_ref(second_ref)]


# Any fixed number: PostgreSQL advisory locks are named by a bigint.
LINK_LOCK = 7_264_021_107


def link_customers(rt: Runtime, first_ref: str, second_ref: str, *, user: str) -> int:
    """Record that the customers of two cases are one person (e.g. their X and Reddit)."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        # The case locks do not cover the customers: two links through one customer's
        # two cases (or through two members of one person) locked different cases, each
        # read that customer before the other wrote, and the second write undid the
        # first link. Links are rare, so PostgreSQL takes them one at a time, this lock
        # before the cases' (the same order everywhere: no deadlock); SQLite's write
        # lock (lock_case) does the same.
        hold_lock(session.connection(), LINK_LOCK)
        one, two = _lock_both(session, first_ref, second_ref)
        a = session.get(Customer, one.customer_id)
        b = session.get(Customer, two.customer_id)
        assert a is not None
        assert b is not None
        if a.id == b.id:
            raise CaseworkError("both cases belong to the same account already")
        if a.person_id is not None and a.person_id == b.person_id:
            # Linked before (maybe through a third account): relinking would only
            # add "linked" events for a change that did not happen.
            raise CaseworkError(
                f"the customers of {one.ref} and {two.ref} are linked already "
                f"(person {a.person_id}); nothing was changed"
            )
        person = min(x for x in (a.person_id, b.person_id, a.id, b.id) if x is not None)
        for member in session.scalars(
            select(Customer).where(
                Customer.person_id.in_([p for p in (a.person_id, b.person_id) if p])
            )
        ):
            member.person_id = person
        a.person_id = b.person_id = person
        for case in (one, two):
            cases.record(
                session, case, "linked", user, now, person=person, accounts=[a.handle, b.handle]
            )
        return person
