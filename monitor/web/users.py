"""People who use the dashboard: roles, argon2 passwords, lockout, API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from monitor.cases import record
from monitor.casework import may_open
from monitor.runtime import Runtime
from monitor.store.db import hold_lock, transaction
from monitor.store.queries import insert_new_ids
from monitor.store.web_models import WebSession, WebUser
from monitor.web import lockout

ROLES = ("agent", "lead", "admin")
# Matched with fullmatch: "$" would also accept a name ending in a newline.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RULE = "1 to 64 lower-case letters, digits, . _ -, starting with a letter or digit"
MIN_PASSWORD = 10
# PostgreSQL advisory lock key (store.db.hold_lock) taken by every change that could leave
# no active admin.
ADMINS_LOCK = 7_264_021_007
HASHER = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as long as a wrong password
# and response times do not reveal which names exist.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))
# The one answer to every refused sign-in. A separate "account locked" answer would tell
# a stranger which names exist (unknown names never lock), so it covers both cases.
REFUSED = (
    f"wrong name or password (after {lockout.MAX_FAILURES} wrong passwords in a row, the account "
    f"waits {int(lockout.LOCKOUT.total_seconds()) // 60} minutes before it can sign in from there)"
)


class UserError(Exception):
    """A user operation that cannot be done, with the reason to show."""


class UserExists(UserError):
    """The name is taken, perhaps by a user added at the same moment elsewhere."""


class LoginRefused(Exception):
    """Wrong name or password, or the account is locked; the message is safe to show."""


class PasswordWorkBusy(UserError):
    """Every password-hashing slot stayed taken for the whole wait: nothing was checked,
    so nothing counts toward a lockout, and the same answer goes to every name."""


BUSY = "too many sign-ins at once: please try again in a moment"


class PasswordWork:
    """How many argon2 hashes or verifications run at once in this process. Each takes
    64 MiB (argon2-cffi's default memory cost): unbounded, every server thread (40) ran
    one for a posted sign-in form, so strangers made the dashboard take about 2.5 GB.
    A check waits up to ``wait_seconds`` for a slot, then is refused with ``BUSY``
    rather than queueing for as long as the requests keep coming."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        self.slots, self.wait_seconds = slots, wait_seconds
        self._free = threading.BoundedSemaphore(slots)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._free.acquire(timeout=self.wait_seconds):
            raise PasswordWorkBusy(BUSY)
        try:
            yield
        finally:
            self._free.release()


# One for the process: 4 checks at once are at most 256 MiB, and at a few tenths of a
# second each still let through every sign-in of a team arriving at the same minute.
PASSWORD_WORK = PasswordWork(slots=4, wait_seconds=5)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    role: str
    teams: tuple[str, ...]

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def sees_team(self, team: str | None) -> bool:
        return may_open(self.role, self.teams, team)


def _user(row: WebUser) -> User:
    return User(row.id, row.name, row.role, tuple(row.teams))


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _validate(
    rt: Runtime, name: str, role: str, teams: tuple[str, ...], password: str | None
) -> None:
    if not NAME.fullmatch(name):
        raise UserError(f"bad user name {name[:40]!r}: {NAME_RULE}")
    if role not in ROLES:
        raise UserError(f"unknown role {role[:20]!r} (agent, lead, admin)")
    known = {t.name for t in rt.settings.teams}
    unknown = [t for t in teams if t not in known]
    if unknown:
        raise UserError(f"unknown team {unknown[0][:40]!r} (teams: {', '.join(sorted(known))})")
    if password is not None:
        _check_password(password)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"the password needs at least {MIN_PASSWORD} characters")
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        # A byte a terminal sent that is no UTF-8 (a Latin-1 "é") arrives as an unpaired
        # surrogate, which argon2 cannot hash; and a browser, sending UTF-8, could never
        # type that password at sign-in.
        raise UserError(
            "the password holds a character that is no UTF-8 (is the terminal set to UTF-8?)"
        ) from None


def check_new_user(rt: Runtime, name: str, role: str, teams: tuple[str, ...]) -> None:
    """What create_user would refuse but the password, for a command to ask before it
    prompts: nobody should type a password twice for a name that cannot be added."""
    _validate(rt, name, role, teams, None)
    with rt.sessions() as session:
        if session.scalar(select(WebUser.id).where(WebUser.name == name)) is not None:
            raise UserError(f"user {name} exists already")


def require_user(rt: Runtime, name: str) -> None:
    """Refuse a name no user has, before a password is asked for it."""
    with rt.sessions() as session:
        _by_name(session, name)


def create_user(
    rt: Runtime,
    name: str,
    role: str,
    password: str,
    teams: tuple[str, ...] = (),
    *,
    actor: str = "cli",
    work: PasswordWork = PASSWORD_WORK,
) -> User:
    """Add a user. The name is looked up first so a taken one costs no password hashing;
    the INSERT still ignores a user of that name added meanwhile (the CLI and the
    dashboard adding the same person at once), which failed on the unique name.

    Hashed before the transaction: on SQLite it holds the database's write lock from its
    start, and the hash (a few tenths of a second, after waiting up to 5 s for a
    hashing slot that sign-ins hold while they wait for that lock) held up every writer:
    the daemon's jobs and sign-ins failed with "database is locked"."""
    teams = tuple(dict.fromkeys(teams))  # a team given twice is stored once, in order
    _validate(rt, name, role, teams, password)
    exists = UserExists(f"user {name} exists already")
    with rt.sessions() as session:
        if session.scalar(select(WebUser.id).where(WebUser.name == name)) is not None:
            raise exists
    password_hash = _hash(password, work)
    with transaction(rt.sessions) as session:
        row = {
            "name": name,
            "role": role,
            "teams": list(teams),
            "password_hash": password_hash,
            "active": True,
            "failed_logins": 0,
            "created_at": rt.clock.now(),
        }
        new_ids = insert_new_ids(session, WebUser, [row])
        if not new_ids:
            raise exists
        _audit(session, rt, "user_added", actor, name=name, role=role, teams=list(teams))
        return User(new_ids[0], name, role, teams)


def _audit(session: Session, rt: Runtime, kind: str, actor: str, **detail: object) -> None:
    """User management lands in the same audit trail as casework, without a case."""
    record(session, None, kind, actor, rt.clock.now(), **detail)


def _named(session: Session, name: str) -> WebUser | None:
    """The user of that name; a name no user can have (a NUL in it, which PostgreSQL
    would refuse as a parameter) is not looked up."""
    if not NAME.fullmatch(name):
        return None
    return session.scalars(select(WebUser).where(WebUser.name == name)).first()


def _by_name(session: Session, name: str) -> WebUser:
    row = _named(session, name)
    if row is None:
        raise UserError(f"no user {name[:64]}")
    return row


def set_password(
    rt: Runtime, name: str, password: str, *, actor: str = "cli", work: PasswordWork = PASSWORD_WORK
) -> None:
    """Set a new password and lift a lockout. A new password is often set because the old
    one leaked, so whoever used it loses access too: every browser session ends and the
    API token is revoked (``inchannel users token`` issues a new one)."""
    _check_password(password)
    require_user(rt, name)  # an unknown name costs no hashing
    # Hashed before the write lock is taken (SQLite), as in create_user.
    password_hash = _hash(password, work)
    with transaction(rt.sessions) as session:
        row = _by_name(session, name)
        row.password_hash = password_hash
        lockout.forget(session, row.id)
        _sign_out_everywhere(session, row)
        _audit(session, rt, "password_set", actor, name=name, sessions_ended=True)


def disable(rt: Runtime, name: str, *, actor: str = "cli") -> None:
    """Take away someone's access, e.g. when they leave the team: sign-in is refused as a
    wrong password is, every browser session ends and the API token is revoked at once.
    The user stays, so the audit trail and their cases still name them. The last active
    admin is refused: with none left, nobody could manage users in the dashboard."""
    with transaction(rt.sessions) as session:
        # Without it, two admins disabled at once on PostgreSQL would each count the other
        # as still active and both go; the lock makes the second count after the first's
        # commit. On SQLite the flush below makes this the one writer before it counts.
        hold_lock(session.connection(), ADMINS_LOCK)
        row = _by_name(session, name)
        if not row.active:
            raise UserError(f"user {name} is disabled already")
        row.active = False
        session.flush()
        if row.role == "admin" and not _active_admins(session):
            raise UserError(
                f"{name} is the last active admin: add or enable another admin first, "
                "or nobody can manage users in the dashboard"
            )
        _sign_out_everywhere(session, row)
        _audit(session, rt, "user_disabled", actor, name=name, sessions_ended=True)


def _active_admins(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(WebUser).where(WebUser.role == "admin", WebUser.active)
        )
        or 0
    )


def _sign_out_everywhere(session: Session, row: WebUser) -> None:
    """End every browser session of ``row`` and revoke its API token."""
    row.api_token_hash = None
    session.execute(delete(WebSession).where(WebSession.user_id == row.id))


def enable(rt: Runtime, name: str, *, actor: str = "cli") -> None:
    """Let a disabled user sign in again (with their password; a new API token is needed)."""
    with transaction(rt.sessions) as session:
        row = _by_name(session, name)
        if row.active:
            raise UserError(f"user {name} is not disabled")
        row.active = True
        _audit(session, rt, "user_enabled", actor, name=name)


def unlock(rt: Runtime, name: str, *, actor: str = "cli") -> None:
    """Lift a lockout in force; refused, with nothing recorded, when there is none."""
    with transaction(rt.sessions) as session:
        row = _by_name(session, name)
        if row.id not in lockout.locks(session, rt.clock.now()):
            raise UserError(f"user {name} is not locked")
        lockout.forget(session, row.id)
        _audit(session, rt, "user_unlocked", actor, name=name)


def new_api_token(rt: Runtime, name: str, *, actor: str = "cli") -> str:
    """A fresh API token for the user (the previous one stops working). Shown once."""
    token = "inch_" + secrets.token_urlsafe(32)
    with transaction(rt.sessions) as session:
        _by_name(session, name).api_token_hash = token_digest(token)
        _audit(session, rt, "api_token_issued", actor, name=name)
    return token


def list_users(rt: Runtime) -> list[tuple[User, bool, datetime | None]]:
    """Every user with whether they can sign in now (from an address not locked out)
    and, for an active user with a lockout in force, until when (else None: a disabled
    user is kept out by that, which unlocking does not change). A user who can sign in
    and has an end is locked out only from the addresses the wrong passwords came from."""
    now = rt.clock.now()
    with rt.sessions() as session:
        rows = session.scalars(select(WebUser).order_by(WebUser.name)).all()
        locks = lockout.locks(session, now)
    listed = []
    for row in rows:
        until, everywhere = locks.get(row.id, (None, False)) if row.active else (None, False)
        listed.append((_user(row), row.active and not everywhere, until))
    return listed


def authenticate(
    rt: Runtime,
    name: str,
    password: str,
    *,
    address: str = "",
    work: PasswordWork = PASSWORD_WORK,
) -> User:
    """The user, else LoginRefused; PasswordWorkBusy when no password check could start.
    ``address`` is the client's (request.client.host; "" when unknown): wrong passwords
    are counted per account and address (monitor.web.lockout).
    The slot is taken before the transaction, so sign-ins waiting for one hold no
    database connection, and for every name alike, so a busy answer tells none apart."""
    # The refusal is raised after the commit: raising inside the transaction would roll
    # back the failure count and the lockout would never engage.
    # Not locked first (SQLite): the hash runs before any write, and every write below
    # checks the row it read is still as it was (_count_failure, _clear_failures).
    with work.slot(), transaction(rt.sessions, lock_first=False) as session:
        place = lockout.client_key(address)
        outcome = _check_login(session, login_name(name), password, place, rt.clock.now())
    if isinstance(outcome, str):
        raise LoginRefused(outcome)
    return outcome


def login_name(typed: str) -> str:
    """The account a name typed at sign-in means. Phones capitalise a text field's first
    letter and pasted names carry spaces; names are lower-case ASCII, so "Alice " is
    alice. Only ASCII is folded: str.lower() maps the Kelvin sign to "k", and a look-alike
    should stay an unknown name rather than become a second spelling of one. A name too
    long to be one is not cut to length: cut, it meant the account named by its start."""
    name = typed.strip()
    return name.lower() if name.isascii() else name


def _check_login(
    session: Session, name: str, password: str, address: str, now: datetime
) -> User | str:
    row = _named(session, name)
    user_id = None if row is None else row.id
    locked = lockout.refused(session, user_id, address, now)
    if locked or row is None or not row.active:
        # The same hashing work and the same answer as a wrong password: neither the
        # message nor the time tells an unknown name from a locked or disabled account.
        _verify(_DUMMY_HASH, password)
        if row is None and not locked:
            lockout.record_failure(session, None, address, now)  # toward the address's limit
        return REFUSED
    if not _verify(row.password_hash, password):
        lockout.record_failure(session, row.id, address, now)
        return REFUSED
    if lockout.refused(session, row.id, address, now) or not _clear_failures(
        session, row, address, now
    ):
        # While this one hashed: parallel wrong guesses locked this address out, or a new
        # password was set or the user disabled, which the old password must not outlast.
        return REFUSED
    if HASHER.check_needs_rehash(row.password_hash):
        # Not _hash: authenticate holds this check's slot already; a second one could wait
        # on itself.
        row.password_hash = HASHER.hash(password)
    return _user(row)


def _clear_failures(session: Session, row: WebUser, address: str, now: datetime) -> bool:
    """Record a sign-in and forget this address's wrong passwords for the account,
    unless by now the account is disabled or has another password than the one just
    verified; False if so. The row read before hashing may be stale: a sign-in with a
    password replaced meanwhile got a session after the change had ended every other,
    and its rehash wrote the old password back over the new one. Once this UPDATE
    matched, it holds the row: a change made later waits for the commit and so cannot
    be overwritten by the rehash."""
    cleared = session.execute(
        update(WebUser)
        .where(
            WebUser.id == row.id,
            WebUser.active.is_(True),
            WebUser.password_hash == row.password_hash,
        )
        .values(last_login_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(cleared, "rowcount", 0):
        return False
    lockout.forget(session, row.id, address)
    return True


def _hash(password: str, work: PasswordWork) -> str:
    with work.slot():
        return HASHER.hash(password)


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def user_by_token(rt: Runtime, token: str) -> User | None:
    with rt.sessions() as session:
        row = session.scalars(
            select(WebUser).where(WebUser.api_token_hash == token_digest(token))
        ).first()
        return _user(row) if row is not None and row.active else None


def ensure_demo_user(rt: Runtime) -> str | None:
    """On a demo database without users, create admin ``demo``; returns its password once.

    `inchannel serve` and `inchannel run` started together both find no users: the one
    that comes second finds ``demo`` taken (create_user's UserExists, also when the
    other added it after the look-up) and prints no password, the other's being it.
    """
    with rt.sessions() as session:
        if session.scalar(select(func.count()).select_from(WebUser)):
            return None
    password = secrets.token_urlsafe(12)
    teams = tuple(t.name for t in rt.settings.teams)
    try:
        create_user(rt, "demo", "admin", password, teams, actor="system")
    except UserExists:
        return None  # the other process's demo, and its password
    return password
