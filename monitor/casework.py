"""What a person on the social team does to a case: the ground every action stands on.

Shared by the CLI and the dashboard. Every operation is one transaction and leaves an
audit event with the person's name. This module holds what all of them need: the
errors a person is shown, finding and locking a case by its reference, the checks on
what they typed, and who may open a case. The actions themselves live beside it:
casework_replies (a person's reply), casework_drafts (approving and rejecting drafts),
casework_actions (assign, resolve, note), casework_links (linking customers) and
casework_listing (what `cases list`/`cases show` and the case page read).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain import Platform, ascii_digits
from monitor.rules.deflection import find_redirect
from monitor.store.db import begin_write
from monitor.store.models import Case, Customer
from monitor.store.queries import locked
from monitor.store.web_models import WebUser
from monitor.textlength import reply_length_problem

# An identical reply (or note) sent this recently is taken for a double submit, not a
# new one.
DUPLICATE_WINDOW = timedelta(minutes=5)


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


def check_reply(
    platform: str,
    text: str,
    *,
    allow_redirect: bool = False,
    customer: str = "",
    markdown: bool = False,
) -> list[str]:
    """Everything wrong with a reply text, checked as the person types and again on submit.

    The reply checks: the platform's length limit and the deflection guard, which holds
    for people too (help the customer where they wrote); refuse_problems runs the same
    two on submit, stopping at the first. ``customer``
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
        problems.append(_sends_elsewhere(redirect))
    return problems


def _sends_elsewhere(redirect: tuple[str, str]) -> str:
    kind, phrase = redirect
    return (
        f"the reply sends the customer elsewhere ({kind}: {phrase!r}); answer in the "
        "thread, or allow the redirect explicitly"
    )


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


def refuse_problems(
    platform: str,
    text: str,
    *,
    allow_redirect: bool = False,
    customer: str = "",
    markdown: bool = False,
) -> tuple[str, str] | None:
    """Refuse a reply with a problem check_reply would list; else the redirect
    ``allow_redirect`` lets through (kind, phrase), or None.

    Run with the case locked, so the cheap length check comes first: an over-long
    reply is refused for that alone, unread by the guard. The guard's scan runs once;
    the caller records the redirect from its answer rather than scanning again."""
    require_storable("text", text)
    too_long = reply_length_problem(_platform_or_x(platform), text, markdown=markdown)
    if too_long:
        raise CaseworkError(too_long)
    redirect = find_redirect(text, customer=customer)
    if redirect is not None and not allow_redirect:
        raise CaseworkError(_sends_elsewhere(redirect))
    return redirect


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
