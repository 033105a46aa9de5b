"""Who may act on a case: the role an operation needs, then the case's team.

Checked before any operation runs (monitor.web.operations.perform) and before a page
shows a case, so a refusal says why without touching the case.
"""

from __future__ import annotations

from sqlalchemy import select

from monitor import casework
from monitor.casework import CaseworkError
from monitor.runtime import Runtime
from monitor.store.models import Case
from monitor.web.users import User


class CaseNotFound(CaseworkError):
    """No such case (or not a case reference at all)."""


class Forbidden(Exception):
    """The signed-in user may not do this (role or team); the message is safe to show."""


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
