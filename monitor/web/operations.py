"""What a person can do to a case, once, for both the HTML forms and the JSON API.

Each operation names the least role it needs and its fields; the work itself is done by
monitor.casework and monitor.triage, never here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from monitor import casework, triage
from monitor.casework import CaseworkError
from monitor.domain import ActionKind, ActionStatus, CaseState
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, Event, Message, from_customer
from monitor.web.params import ascii_digits, require_storable
from monitor.web.users import User, login_name

Params = dict[str, Any]
# As the ids in the address (params.Id): no row id has over 19 digits, so 100 leave room
# for leading zeros; a longer number is refused before int(), which raises on one of over
# 4,300 digits (a 500 for a form field or a JSON string).
MAX_ID_DIGITS = 100


class CaseNotFound(CaseworkError):
    """No such case (or not a case reference at all)."""


class NothingChanged(CaseworkError):
    """The case is as asked already (a colleague got there first): told, not an error."""


class Forbidden(Exception):
    """The signed-in user may not do this (role or team); the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Field:
    kind: str = "string"  # "string" | "integer" (an id) | "count" (0 and up)
    required: bool = False
    max_length: int = 200
    choices: tuple[str, ...] = ()

    def schema(self) -> dict[str, Any]:
        if self.kind in ("integer", "count"):
            return {"type": "integer", "minimum": 1 if self.kind == "integer" else 0}
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.choices:
            out["enum"] = list(self.choices)
        return out


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    role: str
    summary: str
    # The page's "Done: ..." after the redirect, which carries no result: what happened,
    # where the summary names the form.
    done: str
    run: Callable[[Runtime, str, User, Params], str]
    fields: Mapping[str, Field] = field(default_factory=dict)

    def parse(self, raw: Mapping[str, Any]) -> Params:
        """Validate submitted values (form strings or JSON) against the fields."""
        params: Params = {}
        for name, spec in self.fields.items():
            value = raw.get(name)
            if value is None or value == "":
                if spec.required:
                    raise CaseworkError(f"{name} is required")
                continue
            params[name] = _coerce(name, spec, value)
        return params


def _coerce(name: str, spec: Field, value: Any) -> Any:
    if spec.kind in ("integer", "count"):
        return _whole_number(name, value)
    if not isinstance(value, str):
        raise CaseworkError(f"{name} must be text")
    if len(value) > spec.max_length:
        raise CaseworkError(f"{name} is longer than {spec.max_length} characters")
    if spec.choices and value not in spec.choices:
        raise CaseworkError(f"{name} must be one of {', '.join(spec.choices)}")
    return require_storable(name, value)


def _whole_number(name: str, value: Any) -> int:
    if isinstance(value, bool) or not ascii_digits(str(value)):
        raise CaseworkError(f"{name} must be a positive whole number")
    # A JSON number was parsed already; only a string can be too long for int().
    if isinstance(value, str) and len(value) > MAX_ID_DIGITS:
        raise CaseworkError(
            f"{name} must be a positive whole number of at most {MAX_ID_DIGITS} digits"
        )
    return int(value)


def _reply(rt: Runtime, ref: str, user: User, p: Params) -> str:
    if "replies" in p:
        unanswered_since_shown(rt, ref, p["replies"], p["text"], user.name)
    if "messages" in p:
        # casework.reply addresses the customer's newest message: one that came after
        # the page was shown got an answer written to the earlier ones, as if read.
        unread_since_shown(
            rt, ref, p["messages"], "your reply was not posted (read the message, then post again)"
        )
    answer = p.get("answer") or None  # the knowledge-base entry the person started from
    action = casework.reply(rt, ref, p["text"], user=user.name, answer_id=answer)
    return f"Reply queued for posting (action {action})."


# A reply that will be, or was, posted: not a draft, not turned down, not a backfill's
# record of what the bot would have done.
ANSWERS = tuple(
    s.value
    for s in (
        ActionStatus.PENDING,
        ActionStatus.SENDING,
        ActionStatus.SENT,
        ActionStatus.FAILED,
        ActionStatus.DEAD,
    )
)


def _answers(case_id: int) -> Select[ActionRow]:
    return (
        select(ActionRow)
        .where(ActionRow.case_id == case_id, ActionRow.kind == ActionKind.REPLY.value)
        .where(ActionRow.status.in_(ANSWERS))
        .order_by(ActionRow.id)
    )


def answers_of(session: Session, case_id: int) -> list[ActionRow]:
    """The case's replies to its customer, oldest first."""
    return list(session.scalars(_answers(case_id)))


def answer_count(session: Session, case_id: int) -> int:
    """How many replies the case has (queued, sent, failed or dead)."""
    return _count(session, _answers(case_id))


def replies_queued(session: Session, case_id: int) -> list[ActionRow]:
    """The case's replies in the order they were queued: each reply action where it was
    written, whatever its status now, and a draft once more where it was approved (it
    became an answer then). The list only ever grows at its end, so its length is a
    place that stays put: the case page's forms send it back as ``replies``. (A count of
    the live replies did not: one withdrawn by the spam mark or the thread cap left the
    count, and a colleague's answer after it brought the count back to what the page
    showed, so the check let a second answer through.) An action may appear twice."""
    actions = list(session.scalars(casework.reply_actions(case_id)))
    approvals = session.scalars(
        select(Event).where(Event.case_id == case_id, Event.kind == "approved").order_by(Event.id)
    )
    place = {a.id: n for n, a in enumerate(actions, start=1)}
    # after[k]: the drafts approved when the case had k reply actions.
    after: dict[int, list[ActionRow]] = {}
    for approval in approvals:
        detail = approval.detail or {}
        action = detail.get("action")
        if action not in place:
            continue
        # An approval recorded before replies_before was: right after its draft. The
        # place is fixed either way, which is all the marker needs.
        before = detail.get("replies_before")
        k = before if isinstance(before, int) and not isinstance(before, bool) else place[action]
        after.setdefault(min(max(k, place[action]), len(actions)), []).append(
            actions[place[action] - 1]
        )
    queued: list[ActionRow] = []
    for k, action in enumerate(actions):
        queued.extend(after.get(k, ()))
        queued.append(action)
    queued.extend(after.get(len(actions), ()))
    return queued


def replies_marker(session: Session, case_id: int) -> int:
    """The case page's ``replies``: its place in replies_queued."""
    return len(replies_queued(session, case_id))


def _answers_since(
    session: Session, case: Case, shown: int, statuses: tuple[str, ...]
) -> list[ActionRow]:
    """The replies queued after the ``shown`` first of replies_queued, still in one of
    ``statuses``, oldest first. A ``shown`` past the end is refused: no page showed it,
    and taken as it was it turned the check off."""
    queued = replies_queued(session, case.id)
    if shown > len(queued):
        raise CaseworkError(
            f"replies must be at most {len(queued)}, {case.ref}'s count now: no page "
            "showed more (read the case again for the count to send)"
        )
    since: dict[int, ActionRow] = {}
    for action in queued[shown:]:
        if action.status in statuses:
            since.pop(action.id, None)  # its later place: an approval after the draft
            since[action.id] = action
    return list(since.values())


def _count(session: Session, query: Select[Any]) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    return int(session.scalar(counted) or 0)


def _answered_by(action: ActionRow) -> str:
    if action.rule and action.actor == action.rule:
        return f"rule {action.rule}"
    return str(action.actor)


# How the checks below name what the person saw, and what to do after a refusal: the
# case page's words; `inchannel cases` passes its own (its counts are options it was given).
PAGE_SHOWED = "after your page showed it"
REPLY_AGAIN = "read the thread, then post again to send it as well"
SPAM_AGAIN = "read the thread, then mark it again"


def unanswered_since_shown(
    rt: Runtime,
    ref: str,
    shown: int,
    text: str,
    user: str,
    *,
    answer: str | None = None,
    seen: str = PAGE_SHOWED,
    again: str = REPLY_AGAIN,
) -> None:
    """Refuse a reply written on a page that showed fewer replies than the case has now:
    a colleague (or the bot, or an approved draft) answered meanwhile, and a second answer
    written without seeing the first went out beside it. As _assign's check, a reply
    racing this read still lands. The same words sent by the same person are left to
    casework.reply, whose "already queued" answers a double click (an empty ``text`` with
    ``answer``, the CLI's reply with a knowledge-base entry's own words, is that entry's)."""
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        since = _answers_since(session, case, shown, ANSWERS)
    # Only one's own: a colleague's same words (the same knowledge-base answer) are no
    # double click, and "already queued" lets them through 5 minutes after the send.
    if not since or any(_same_reply(a, text, user, answer) for a in since):
        return
    raise CaseworkError(
        f"{case.ref} was answered by {_answered_by(since[-1])} {seen}; "
        f"your reply was not posted ({again})"
    )


def _same_reply(action: ActionRow, text: str, user: str, answer: str | None) -> bool:
    if action.actor != user:
        return False
    if not text.strip() and answer:
        return action.answer_id == answer
    return action.text == text.strip()


def _approve(rt: Runtime, ref: str, user: User, p: Params) -> str:
    if "messages" in p:
        # The draft answers the message it was written for: approved after the customer
        # wrote again, it went out as if the follow-up had been read.
        refused = "the draft was not approved (read the message, then approve again)"
        unread_since_shown(rt, ref, p["messages"], refused)
    action = casework.approve(rt, ref, user=user.name, text=p.get("text"), draft_id=p.get("draft"))
    return f"Draft approved and queued for posting (action {action})."


def _reject(rt: Runtime, ref: str, user: User, p: Params) -> str:
    casework.reject(rt, ref, user=user.name, reason=p.get("reason", ""), draft_id=p.get("draft"))
    return "Draft rejected; the case waits for a person."


def _assign(rt: Runtime, ref: str, user: User, p: Params) -> str:
    # Checked apart from casework.assign: a colleague's assignment racing this read still
    # lands, the check only keeps a page loaded earlier from undoing one unknowingly.
    # As sign-in and the queue's assignee filter read a name: "Maria" is maria.
    assignee = login_name(p["assignee"])
    canonical, current, by = _assignment(rt, ref)
    if current == assignee:
        raise NothingChanged(f"{canonical} is assigned to {current} already; nothing was changed")
    was = p.get("was")
    if was is not None and (None if was == NOBODY else login_name(was)) != current:
        raise CaseworkError(
            f"{canonical} was assigned to {current or 'nobody'}{by} after your page showed "
            "it; nothing was changed (assign again to reassign it)"
        )
    casework.assign(rt, ref, assignee, user=user.name)
    return f"Assigned to {assignee}."


NOBODY = "-"  # the form's ``was`` for an unassigned case: no user name can be "-"


def _assignment(rt: Runtime, ref: str) -> tuple[str, str | None, str]:
    """The case's ref, its assignee, and " by NAME at TIME" of the last assignment."""
    return _current(rt, ref, "assignee", "assigned")


def _current(rt: Runtime, ref: str, attribute: str, kind: str) -> tuple[str, str | None, str]:
    """The case's ref, one of its attributes, and " by NAME at TIME" of the last event
    of ``kind`` (the change that set it)."""
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        last = session.scalars(
            select(Event)
            .where(Event.case_id == case.id, Event.kind == kind)
            .order_by(Event.id.desc())
            .limit(1)
        ).first()
        by = f" by {last.actor} at {last.at.strftime('%Y-%m-%d %H:%M UTC')}" if last else ""
        current: str | None = getattr(case, attribute)
        return case.ref, current, by


def _unchanged_since_shown(rt: Runtime, ref: str, attribute: str, p: Params) -> None:
    """Refuse a form whose page showed a value a colleague has changed since (``was``,
    ``-`` for none): sent as it was, it undid their change unknowingly. Like _assign's
    check, a change racing this read still lands."""
    canonical, current, by = _current(rt, ref, attribute, attribute)
    if current == p[attribute]:
        raise NothingChanged(f"{canonical}'s {attribute} is {current} already; nothing was changed")
    was = p.get("was")
    if was is not None and (None if was == NOBODY else was) != current:
        raise CaseworkError(
            f"{canonical}'s {attribute} was changed to {current or 'none'}{by} after your page "
            f"showed {was}; nothing was changed (set it again to change it)"
        )


def _priority(rt: Runtime, ref: str, user: User, p: Params) -> str:
    _unchanged_since_shown(rt, ref, "priority", p)
    triage.set_priority(rt, ref, p["priority"], user=user.name)
    return f"Priority set to {p['priority']}."


def _team(rt: Runtime, ref: str, user: User, p: Params) -> str:
    _unchanged_since_shown(rt, ref, "team", p)
    triage.set_team(rt, ref, p["team"], user=user.name)
    return f"Handed to team {p['team']}."


def _tag(rt: Runtime, ref: str, user: User, p: Params) -> str:
    tags = triage.tag(
        rt,
        ref,
        user=user.name,
        add=triage.split_tags(p.get("add")),
        remove=triage.split_tags(p.get("remove")),
    )
    return f"Tags: {', '.join(tags) or 'none'}."


def _note(rt: Runtime, ref: str, user: User, p: Params) -> str:
    casework.add_note(rt, ref, p["text"], user=user.name)
    return "Note added."


def _resolve(rt: Runtime, ref: str, user: User, p: Params) -> str:
    # Read before casework.resolve, to name who resolved it: a resolution racing this
    # read is refused under the case lock there, with less said.
    already = _resolved_by(rt, ref)
    if already is not None:
        raise NothingChanged(f"{already}; nothing was changed")
    if "messages" in p:
        unread_since_shown(
            rt, ref, p["messages"], "it was not resolved (read the message, then resolve again)"
        )
    casework.resolve(rt, ref, user=user.name)
    return "Case resolved."


def _customer_messages(case_id: int) -> Select[Message]:
    return (
        select(Message)
        .where(Message.case_id == case_id, from_customer())
        .order_by(Message.created_at, Message.id)
    )


def customer_message_count(session: Session, case_id: int) -> int:
    """How many of the customer's messages the case has: the case page's reply, approve
    and resolve forms send it back as ``messages``."""
    return _count(session, _customer_messages(case_id))


def unread_since_shown(
    rt: Runtime, ref: str, shown: int, refused: str, *, seen: str = PAGE_SHOWED
) -> None:
    """Refuse a form whose page showed fewer of the customer's messages than the case
    has now (``refused`` says what was not done): resolved, the follow-up nobody had read
    left the queue with the case; replied to, it got an answer written without it. As
    _assign's check, a message racing this read still lands.

    A ``shown`` past the case's count is refused too: no page showed it, and taken as it
    came it turned the check off. The count is a safe bound because a customer's message
    never leaves its case: it joins one when it is decided, and nothing moves it after
    (linking customers links accounts, not messages), so the count only ever grows."""
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        written = list(session.scalars(_customer_messages(case.id)))
    if shown > len(written):
        raise CaseworkError(
            f"messages must be at most {len(written)}, {case.ref}'s count now: no page "
            "showed more (read the case again for the count to send)"
        )
    if len(written) == shown:
        return
    last = written[-1]
    at = last.created_at.strftime("%Y-%m-%d %H:%M UTC")
    raise CaseworkError(
        f"{last.author_handle} wrote to {case.ref} again at {at} {seen}; " + refused
    )


def _resolved_by(rt: Runtime, ref: str) -> str | None:
    """Who resolved the case and when, if it is resolved; None while it is open."""
    resolved = CaseState.RESOLVED.value
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        if case.state != resolved:
            return None
        events = session.scalars(
            select(Event)
            .where(Event.case_id == case.id, Event.kind == "state")
            .order_by(Event.id.desc())
            .limit(20)
        )
        last = next((e for e in events if (e.detail or {}).get("new") == resolved), None)
        if last is None:
            return f"{case.ref} was resolved already"
        at = last.at.strftime("%Y-%m-%d %H:%M UTC")
        return f"{case.ref} was resolved already by {last.actor} at {at}"


def _spam(rt: Runtime, ref: str, user: User, p: Params) -> str:
    if "replies" in p:
        unwithdrawn_since_shown(rt, ref, p["replies"])
    triage.mark_spam(rt, ref, user=user.name)
    return "Marked as spam and closed."


# A reply not posted yet, which marking the case as spam withdraws.
NOT_POSTED = tuple(
    s.value for s in (ActionStatus.PENDING, ActionStatus.SENDING, ActionStatus.FAILED)
)


def unwithdrawn_since_shown(
    rt: Runtime, ref: str, shown: int, *, seen: str = PAGE_SHOWED, again: str = SPAM_AGAIN
) -> None:
    """Refuse to mark a case as spam from a page that showed fewer replies than it has
    now while one of those is still to be posted: a colleague (or the bot) answered the
    customer meanwhile, and the spam mark withdrew that answer without anyone knowing.
    One posted already is not withdrawn, so it does not stop the mark. As _assign's
    check, a reply racing this read still lands (and is withdrawn)."""
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        waiting = _answers_since(session, case, shown, NOT_POSTED)
    if not waiting:
        return
    count = f"{len(waiting)} repl{'y' if len(waiting) == 1 else 'ies'}"
    raise CaseworkError(
        f"{case.ref} was answered by {_answered_by(waiting[-1])} {seen}; "
        f"it was not marked as spam (that would withdraw {count} not posted yet: {again})"
    )


def _sentiment(rt: Runtime, ref: str, user: User, p: Params) -> str:
    triage.correct_sentiment(rt, ref, p["message_id"], p["label"], user=user.name)
    return f"Thank you: the message is recorded as {p['label']} for lexicon tuning."


TEXT = Field(required=True, max_length=10_000)
COUNT = Field(kind="count")  # a number of things the page showed: 0 and up
DRAFT = Field(kind="integer")  # the draft's action id, as the case's actions list it
OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "reply",
            "agent",
            "Reply publicly in the case's thread",
            "Reply queued for posting",
            _reply,
            # replies: how many replies the person's page showed, to refuse a second
            # answer written without seeing a colleague's; messages: how many of the
            # customer's messages it showed, to refuse an answer written without their
            # latest. Scripts may leave both out.
            {"text": TEXT, "answer": Field(max_length=64), "replies": COUNT, "messages": COUNT},
        ),
        Operation(
            "approve",
            "lead",
            "Approve the draft (optionally edited)",
            "Draft approved and queued for posting",
            _approve,
            # messages: how many of the customer's messages the page showed (as reply).
            {"text": Field(max_length=10_000), "draft": DRAFT, "messages": COUNT},
        ),
        Operation(
            "reject",
            "lead",
            "Reject the draft",
            "Draft rejected; the case waits for a person",
            _reject,
            {"reason": Field(max_length=casework.MAX_REASON), "draft": DRAFT},
        ),
        Operation(
            "assign",
            "lead",
            "Assign to a person",
            "Case assigned",
            _assign,
            # was: the assignee the person's page showed ("-": none), to refuse undoing a
            # colleague's assignment made since; scripts may leave it out.
            {"assignee": Field(required=True, max_length=64), "was": Field(max_length=64)},
        ),
        Operation(
            "priority",
            "agent",
            "Change the priority",
            "Priority changed",
            _priority,
            # was: the priority the person's page showed (as assign's): scripts may leave
            # it out.
            {
                "priority": Field(required=True, choices=triage.PRIORITIES),
                "was": Field(max_length=64),
            },
        ),
        Operation(
            "team",
            "lead",
            "Hand to another team",
            "Case handed to the team",
            _team,
            # was: the team the person's page showed ("-": none), as assign's.
            {"team": Field(required=True, max_length=64), "was": Field(max_length=64)},
        ),
        Operation(
            "tag",
            "agent",
            "Add and remove tags (space or comma separated)",
            "Tags changed",
            _tag,
            {"add": Field(max_length=500), "remove": Field(max_length=500)},
        ),
        Operation(
            "note",
            "agent",
            "Add an internal note",
            "Note added",
            _note,
            {"text": Field(required=True, max_length=5000)},
        ),
        Operation(
            "resolve",
            "agent",
            "Resolve the case",
            "Case resolved",
            _resolve,
            # messages: how many of the customer's messages the person's page showed, to
            # refuse closing a case on a follow-up nobody read; scripts may leave it out.
            {"messages": COUNT},
        ),
        Operation(
            "spam",
            "agent",
            "Mark as spam and close",
            "Marked as spam and closed",
            _spam,
            # replies: how many replies the person's page showed, to refuse withdrawing
            # one queued since unknowingly; scripts may leave it out.
            {"replies": COUNT},
        ),
        Operation(
            "sentiment",
            "agent",
            "Correct a message's sentiment label",
            "Correction recorded for lexicon tuning",
            _sentiment,
            {
                "message_id": Field(kind="integer", required=True),
                "label": Field(required=True, choices=triage.CORRECTABLE),
            },
        ),
    )
}


def case_team(rt: Runtime, ref: str) -> str | None:
    try:
        case_id = casework.parse_ref(ref)
    except CaseworkError as exc:
        raise CaseNotFound(str(exc)) from None
    with rt.sessions() as session:
        found = session.execute(select(Case.team).where(Case.id == case_id)).first()
    if found is None:
        raise CaseNotFound(f"no case {ref[:40]}")
    return found[0]


def check_access(rt: Runtime, user: User, ref: str, role: str = "agent") -> None:
    """Refuse before acting: the role, then the team. (A team change racing this check
    is harmless: the person could see the case a moment ago.)"""
    if not user.at_least(role):
        raise Forbidden(f"this needs the {role} role; you are {user.role}")
    team = case_team(rt, ref)
    if not user.sees_team(team):
        raise Forbidden(f"{ref} belongs to team {team}, which is not one of yours")


def perform(rt: Runtime, user: User, name: str, ref: str, raw: Mapping[str, Any]) -> str:
    """Run one operation for a user; returns the message to show."""
    operation = OPERATIONS.get(name)
    if operation is None:
        raise CaseworkError(f"unknown operation {name[:40]!r}")
    check_access(rt, user, ref, operation.role)
    return operation.run(rt, ref, user, operation.parse(raw))
