"""Refusing a form whose page no longer shows the case as it is: a colleague (or the bot,
or the customer) changed it since, and the form sent as it was would undo or overlook
that change unknowingly. Used by the dashboard's and the API's operations and, with its
own words, by ``inchannel cases`` (monitor.commands.since_shown).

Each check reads the case once; a change racing that read still lands.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor import casework
from monitor.casework import CaseworkError
from monitor.domain import ActionStatus, CaseState
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, Event
from monitor.web.shown_counts import ANSWERS, customer_messages, replies_queued
from monitor.web.users import login_name


class NothingChanged(CaseworkError):
    """The case is as asked already (a colleague got there first): told, not an error."""


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
    written without seeing the first went out beside it. As reassigned_since_shown, a reply
    racing this read still lands. The same words sent by the same person are left to
    casework_replies.reply, whose "already queued" answers a double click (an empty
    ``text`` with ``answer``, the CLI's reply with a knowledge-base entry's own words, is
    that entry's)."""
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


def _answered_by(action: ActionRow) -> str:
    if action.rule and action.actor == action.rule:
        return f"rule {action.rule}"
    return str(action.actor)


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
    One posted already is not withdrawn, so it does not stop the mark. As
    reassigned_since_shown, a reply racing this read still lands (and is withdrawn)."""
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


def unread_since_shown(
    rt: Runtime, ref: str, shown: int, refused: str, *, seen: str = PAGE_SHOWED
) -> None:
    """Refuse a form whose page showed fewer of the customer's messages than the case
    has now (``refused`` says what was not done): resolved, the follow-up nobody had read
    left the queue with the case; replied to, it got an answer written without it. As
    reassigned_since_shown, a message racing this read still lands.

    A ``shown`` past the case's count is refused too: no page showed it, and taken as it
    came it turned the check off. The count is a safe bound because a customer's message
    never leaves its case: it joins one when it is decided, and nothing moves it after
    (linking customers links accounts, not messages), so the count only ever grows."""
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        written = list(session.scalars(customer_messages(case.id)))
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


NOBODY = "-"  # the form's ``was`` for an unassigned case: no user name can be "-"


def reassigned_since_shown(rt: Runtime, ref: str, assignee: str, was: str | None) -> None:
    """Refuse assigning a case to whom it is assigned already, or from a page that showed
    another assignee (``was``, NOBODY for none) than it has now: sent as it was, it
    undid a colleague's assignment unknowingly."""
    canonical, current, by = _current(rt, ref, "assignee", "assigned")
    if current == assignee:
        raise NothingChanged(f"{canonical} is assigned to {current} already; nothing was changed")
    if was is not None and (None if was == NOBODY else login_name(was)) != current:
        raise CaseworkError(
            f"{canonical} was assigned to {current or 'nobody'}{by} after your page showed "
            "it; nothing was changed (assign again to reassign it)"
        )


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


def unchanged_since_shown(
    rt: Runtime, ref: str, attribute: str, wanted: str, was: str | None
) -> None:
    """Refuse a form whose page showed a value a colleague has changed since (``was``,
    ``-`` for none): sent as it was, it undid their change unknowingly. Like
    reassigned_since_shown, a change racing this read still lands."""
    canonical, current, by = _current(rt, ref, attribute, attribute)
    if current == wanted:
        raise NothingChanged(f"{canonical}'s {attribute} is {current} already; nothing was changed")
    if was is not None and (None if was == NOBODY else was) != current:
        shown = f"no {attribute}" if was == NOBODY else was  # NOBODY is the form's, not a word
        raise CaseworkError(
            f"{canonical}'s {attribute} was changed to {current or 'none'}{by} after your page "
            f"showed {shown}; nothing was changed (set it again to change it)"
        )


def resolved_by(rt: Runtime, ref: str) -> str | None:
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
