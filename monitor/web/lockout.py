"""Wrong passwords counted per account and client address (table web_sign_in_failures).

One count per account let anyone who knew a name (admin included) keep its owner out
with 5 requests every 15 minutes. Now a sign-in is refused, unchecked, when within the
last ``LOCKOUT``:

- ``MAX_FAILURES`` wrong passwords for that account came from that address (the owner,
  elsewhere, still signs in);
- ``ADDRESS_FAILURES`` wrong passwords or unknown names came from that address, whatever
  the names (one address guessing across accounts);
- ``ACCOUNT_FAILURES`` wrong passwords for that account came from anywhere (guessing
  from many addresses: the old protection, at a threshold that takes several addresses
  to reach).

Refused sign-ins are not counted, so a lockout ends ``LOCKOUT`` after the wrong
passwords that caused it however often the address keeps trying.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, insert, select
from sqlalchemy.orm import Session

from monitor.store.web_models import WebSignInFailure

MAX_FAILURES = 5
ADDRESS_FAILURES = 20
ACCOUNT_FAILURES = 25
LOCKOUT = timedelta(minutes=15)
ADDRESS_CHARS = 64
IPV6_NETWORK = 64  # whoever has one IPv6 address usually has its whole /64


def client_key(host: str) -> str:
    """The address a sign-in is counted under: an IPv6 address's /64 network, an
    IPv4-mapped address as IPv4, anything else (a test client's name) as given."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:ADDRESS_CHARS]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, IPV6_NETWORK), strict=False))
    return str(address)


def _count(session: Session, now: datetime, *where: ColumnElement[bool]) -> int:
    recent = WebSignInFailure.at > now - LOCKOUT
    query = select(func.count()).select_from(WebSignInFailure).where(recent, *where)
    return session.scalar(query) or 0


def refused(session: Session, user_id: int | None, address: str, now: datetime) -> bool:
    """Whether this sign-in is refused without looking at its password."""
    if _count(session, now, WebSignInFailure.address == address) >= ADDRESS_FAILURES:
        return True
    if user_id is None:
        return False
    mine = WebSignInFailure.user_id == user_id
    from_here = and_(mine, WebSignInFailure.address == address)
    return (
        _count(session, now, from_here) >= MAX_FAILURES
        or _count(session, now, mine) >= ACCOUNT_FAILURES
    )


def record_failure(session: Session, user_id: int | None, address: str, now: datetime) -> None:
    """One more wrong password (or unknown name). A row each, not a count read and
    written back: guesses sent in parallel all count. Rows past the window go."""
    session.execute(delete(WebSignInFailure).where(WebSignInFailure.at <= now - LOCKOUT))
    row = {"user_id": user_id, "address": address, "at": now}
    session.execute(insert(WebSignInFailure).values(row))


def forget(session: Session, user_id: int, address: str | None = None) -> None:
    """Drop the user's wrong passwords: from ``address`` after a right one there (5 "in
    a row"), from everywhere when an admin unlocks or a new password is set."""
    where = [WebSignInFailure.user_id == user_id]
    if address is not None:
        where.append(WebSignInFailure.address == address)
    session.execute(delete(WebSignInFailure).where(*where))


def locks(session: Session, now: datetime) -> dict[int, tuple[datetime, bool]]:
    """Per user with a lockout in force: until when the last of them lasts, and whether
    it keeps the account out from everywhere (else only from some addresses)."""
    rows = session.execute(
        select(WebSignInFailure.user_id, WebSignInFailure.address, WebSignInFailure.at)
        .where(WebSignInFailure.user_id.is_not(None), WebSignInFailure.at > now - LOCKOUT)
        .order_by(WebSignInFailure.at.desc())
    ).all()
    by_user: dict[int, list[tuple[str, datetime]]] = {}
    for user_id, address, at in rows:
        if user_id is not None:  # filtered out above; for the type checker
            by_user.setdefault(user_id, []).append((address, at))
    found = {user_id: _lock(failures) for user_id, failures in by_user.items()}
    return {user_id: lock for user_id, lock in found.items() if lock is not None}


def _lock(failures: Sequence[tuple[str, datetime]]) -> tuple[datetime, bool] | None:
    """The lockout the failures (newest first) put in force, if any: a count stays
    at its limit until the limit-th newest failure leaves the window."""
    everywhere = _until([at for _, at in failures], ACCOUNT_FAILURES)
    per_address: dict[str, list[datetime]] = {}
    for address, at in failures:
        per_address.setdefault(address, []).append(at)
    ends = [_until(times, MAX_FAILURES) for times in per_address.values()]
    latest = max([end for end in [everywhere, *ends] if end is not None], default=None)
    return None if latest is None else (latest, everywhere is not None)


def _until(newest_first: Sequence[datetime], limit: int) -> datetime | None:
    return newest_first[limit - 1] + LOCKOUT if len(newest_first) >= limit else None
