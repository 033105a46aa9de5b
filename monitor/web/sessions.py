"""Browser sessions kept server-side: the cookie is a random token, the row holds its hash.

Server-side rows (rather than a signed cookie) make logout and lockout final: a deleted
row cannot be replayed, whatever copy of the cookie an attacker kept.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, select

from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.web_models import WebSession, WebUser
from monitor.web.users import User, token_digest

SESSION_LIFETIME = timedelta(hours=12)


def open_session(rt: Runtime, user: User) -> str:
    """Start a session for a user who just signed in; returns the cookie value."""
    token = secrets.token_urlsafe(32)
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        session.execute(delete(WebSession).where(WebSession.expires_at <= now))
        session.add(
            WebSession(
                token_hash=token_digest(token),
                user_id=user.id,
                csrf_token=secrets.token_urlsafe(32),
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
        )
    return token


def session_user(rt: Runtime, token: str) -> tuple[User, str] | None:
    """The signed-in user and the session's CSRF token, or None if the cookie is stale."""
    with rt.sessions() as session:
        found = session.execute(
            select(WebSession, WebUser)
            .join(WebUser, WebUser.id == WebSession.user_id)
            .where(WebSession.token_hash == token_digest(token))
        ).first()
        if found is None:
            return None
        row, user = found
        if row.expires_at <= rt.clock.now() or not user.active:
            return None
        return User(user.id, user.name, user.role, tuple(user.teams)), row.csrf_token


def close_session(rt: Runtime, token: str) -> None:
    with transaction(rt.sessions) as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == token_digest(token)))
