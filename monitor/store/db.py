"""Engines, sessions and schema version checks."""

from __future__ import annotations

import functools
import json
import logging
import os
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from monitor.database_settings import Database
from monitor.store.models import Base
from monitor.store.textsearch import note_postgres_icu, register_sqlite
from monitor.store.write_queue import add_queue, queue_of

T = TypeVar("T")
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 5000
# Connections a pool keeps open while idle (SQLAlchemy's default); more are opened while
# more threads want one, up to ``connections``, and closed once given back.
POOL_KEPT = 5
# `database.echo`: the statements are logged to this logger at INFO, through the handler
# setup_logging installs. SQLAlchemy's own echo=True added a handler of its own on
# stdout, so every statement printed twice, raw (outside logging.json_lines and
# logging.level, its line breaks starting lines of their own) and in the middle of what
# `status --json` prints.
ECHO_LOGGER = "sqlalchemy.engine.Engine.echo"


class NotMigratedError(RuntimeError):
    """The database schema is missing or older than this version of inchannel."""


class NeedsUpgrade(NotMigratedError):
    """No schema, or an older one: `inchannel db upgrade` is the cure."""

    def __init__(self, where: str, state: str) -> None:
        self.where = where
        self.state = state
        super().__init__(self.advice())

    def advice(self, config_option: str = "") -> str:
        """The message, its command given ``config_option`` (`` --config FILE``): the
        advice is run as written, and without the refused command's --config it
        migrates ./config/inchannel.yaml's database, not this one."""
        command = f"inchannel db upgrade{config_option}"
        return f"the database {self.where} {self.state}; run `{command}` first"


class NotUtf8(NotMigratedError):
    """A PostgreSQL database in an encoding other than UTF8: no `db upgrade` cures it."""


# The advice for a database that already holds inchannel's data.
MOVE_DATA = " under a new name and copy this one into it with `inchannel db copy --to URL`"


def require_utf8(conn: Connection, whose: str, then: str = "") -> None:
    """NotUtf8 unless ``conn``'s database is SQLite or in UTF8. PostgreSQL converts text
    to the database's encoding, and in any other (LATIN1, SQL_ASCII) emoji and most
    scripts have none: the daemon ran until the first such mention failed with a
    UnicodeEncodeError. ``whose``: the refusal's subject ("the target database's");
    ``then``: added to its advice."""
    if conn.dialect.name != "postgresql":
        return
    encoding = conn.exec_driver_sql("SHOW server_encoding").scalar()
    if encoding != "UTF8":
        raise NotUtf8(
            f"{whose} encoding is {encoding}, which cannot store every customer's text "
            "(emoji, most scripts): create it with `createdb --encoding UTF8 --template "
            f"template0`{then}"
        )


class CannotDowngrade(RuntimeError):
    """A revision `db downgrade` cannot take the database back to."""


class CannotCreateFolder(RuntimeError):
    """The SQLite database's folder does not exist and cannot be created (the user
    running inchannel may not write in its parent): a setup error no restart fixes."""

    def __init__(self, folder: Path, exc: OSError) -> None:
        reason = exc.strerror or type(exc).__name__
        super().__init__(
            f"cannot create the database folder {folder}: {reason}; the user running "
            "inchannel must be able to create it, or create it for that user"
        )


def json_text(value: Any) -> str:
    """A JSON column's text: json.dumps, unless a string in ``value`` holds an unpaired
    surrogate (a platform's error quoted in an event's detail). Escaped, the database
    takes it, but it comes back as it went in, and every later rendering of the row
    (the case page, the API, `cases show`) failed to encode it. It is replaced (``?``),
    as in mention text."""
    text = json.dumps(value)
    if "\\ud" not in text:  # any surrogate, paired or not, is escaped as \udXXX
        return text
    readable = json.dumps(value, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
    return json.dumps(json.loads(readable))


# libpq waits for ever by default: a server that takes the connection and never
# answers (a network partition, a stuck server) held every poll, page and metrics scrape
# that needed a connection, and the metrics never said the database was down. Keepalives
# find a peer gone mid-query. A URL's own ?connect_timeout= etc. is kept, and so is
# libpq's PGCONNECT_TIMEOUT: a value passed to psycopg overrides the environment's.
PG_TIMEOUTS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


# The PG_TIMEOUTS libpq also reads from the environment (the keepalives it does not).
PG_ENVIRONMENT = {"connect_timeout": "PGCONNECT_TIMEOUT"}


def _unless_given(url: URL, defaults: dict[str, int]) -> dict[str, int]:
    return {
        k: v
        for k, v in defaults.items()
        if k not in url.query and not os.environ.get(PG_ENVIRONMENT.get(k, ""))
    }


def make_engine(
    url: str,
    *,
    echo: bool = False,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    connections: int | None = None,
) -> Engine:
    """``hide_parameters``: a failed statement's error (logged with its traceback) would
    otherwise carry its parameters, which are mention text, handles and reply text.

    ``connections``: how many the pool may have open at once, one for every thread that
    may hold one at the same time (``runtime.connection_users``). SQLAlchemy's default
    of 15 left the 16th thread (a daemon with a dozen sources and its dashboard) waiting
    30 s for a connection, then failing its poll or its page."""
    written = parsed = make_url(url)
    if echo:
        logging.getLogger(ECHO_LOGGER).setLevel(logging.INFO)
    if parsed.drivername == "postgresql":
        # psycopg 3, not psycopg2: the one driver we depend on.
        parsed = parsed.set(drivername="postgresql+psycopg")
    pool = _pool_size(parsed, connections)
    if parsed.get_backend_name() == "sqlite":
        rendered = parsed.render_as_string(hide_password=False)
        return _written_as(written, _sqlite_engine(rendered, echo, busy_timeout_ms, pool))
    # PostgreSQL converts to and from UTF8 for us; in a SQL_ASCII database it converts
    # nothing and psycopg returned bytes, which failed SQLAlchemy's first connection
    # with a TypeError before require_utf8 could refuse the database.
    driver = (
        {"connect_args": {"client_encoding": "UTF8", **_unless_given(parsed, PG_TIMEOUTS)}}
        if parsed.get_backend_name() == "postgresql"
        else {}
    )
    engine = create_engine(
        parsed,
        **_echo(echo),
        pool_pre_ping=True,
        hide_parameters=True,
        json_serializer=json_text,
        **driver,
        **pool,
    )
    if engine.dialect.name == "postgresql":

        @event.listens_for(engine, "first_connect")
        def _collations(dbapi_conn: Any, _record: Any) -> None:
            note_postgres_icu(engine.dialect, dbapi_conn)

    return _written_as(written, engine)


# Each engine's URL as the config or --to wrote it: messages rendered engine.url, whose
# driver make_engine had switched, and showed postgresql+psycopg:// to a user who wrote
# postgresql://. Weak: an engine disposed of and dropped takes its entry with it.
_WRITTEN: weakref.WeakKeyDictionary[Engine, URL] = weakref.WeakKeyDictionary()


def _written_as(written: URL, engine: Engine) -> Engine:
    _WRITTEN[engine] = written
    return engine


def shown_url(engine: Engine) -> str:
    """The engine's database URL for a message: as written, its password masked."""
    url = _WRITTEN.get(engine, engine.url)
    if "password" not in url.query:
        return url.render_as_string(hide_password=True)
    # libpq also takes the password as ?password=, which hide_password leaves as is; the
    # mask is put in after rendering, which would quote it as %2A%2A%2A.
    masked = url.update_query_dict({"password": "MASKED"}).render_as_string(hide_password=True)
    return masked.replace("password=MASKED", "password=***")


def _echo(echo: bool) -> dict[str, Any]:
    """An echoing engine logs as ``ECHO_LOGGER`` (its ``logging_name``), set to INFO by
    make_engine; SQLAlchemy's ``echo`` stays off, and with it its stdout handler."""
    return {"logging_name": "echo"} if echo else {}


def _pool_size(url: URL, connections: int | None) -> dict[str, int]:
    """The pool's arguments for ``connections`` at once; none for an in-memory SQLite
    database, whose pool is one connection per thread (and takes no overflow)."""
    if connections is None:
        return {}
    if url.get_backend_name() == "sqlite":
        # SQLAlchemy's own test for a file (QueuePool) rather than memory.
        in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
        if in_memory:
            return {}
    return {"pool_size": POOL_KEPT, "max_overflow": max(0, connections - POOL_KEPT)}


def engine_for(database: Database, *, connections: int | None = None) -> Engine:
    """The engine for a ``database:`` section. Every command builds its engine here: one
    built from the URL alone waited SQLite's default 5 s on a locked file, not
    ``busy_timeout_ms``. ``connections``: see make_engine."""
    return make_engine(
        database.url,
        echo=database.echo,
        busy_timeout_ms=database.busy_timeout_ms,
        connections=connections,
    )


def _sqlite_engine(url: str, echo: bool, busy_timeout_ms: int, pool: dict[str, int]) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        folder = Path(database).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CannotCreateFolder(folder, exc) from None
    engine = create_engine(
        url,
        **_echo(echo),
        connect_args={"timeout": busy_timeout_ms / 1000},
        hide_parameters=True,
        json_serializer=json_text,
        **pool,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets the dashboard read while the daemon writes; the busy timeout turns a
        # briefly locked database into a short wait instead of an immediate error.
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        register_sqlite(dbapi_conn)

    # This process's threads take the write lock in turn (transaction()).
    add_queue(engine, busy_timeout_ms / 1000)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# PostgreSQL aborts one of two transactions that wait on each other (deadlock_detected)
# or that it cannot serialise (serialization_failure); run again, either succeeds.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable(error: BaseException) -> bool:
    """A deadlock or serialisation failure: the transaction was rolled back whole and
    can simply run again."""
    orig = getattr(error, "orig", None)
    return isinstance(error, OperationalError) and getattr(orig, "sqlstate", None) in (
        RETRYABLE_SQLSTATES
    )


def with_retries(work: Callable[[], T], *, attempts: int = 3) -> T:
    """``work()`` (which opens its own transaction), again after a deadlock."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except OperationalError as exc:
            if attempt == attempts or not is_retryable(exc):
                raise
    raise AssertionError("unreachable")


def driver_error(error: BaseException) -> BaseException:
    """A database error's driver exception, else ``error``: the driver's message names
    the problem without SQLAlchemy's copy of the statement and its parameters (which
    may be a customer's text)."""
    return error.orig if isinstance(error, DBAPIError) and error.orig is not None else error


def first_line(error: BaseException) -> str:
    """The first line of the driver's message ("" if it has none)."""
    lines = str(driver_error(error)).strip().splitlines()
    return lines[0] if lines else ""


def hold_lock(connection: Connection, key: int) -> None:
    """PostgreSQL: wait for the advisory lock ``key`` and hold it until the transaction
    ends, so work that reads, then writes what it read, runs one process at a time.
    SQLite takes one writer at a time anyway. ``key`` is any fixed bigint."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def transaction(factory: sessionmaker[Session], *, lock_first: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error. On SQLite it holds
    the database's write lock from its start (``begin_write``); a read-only page opens
    a plain session instead (``factory()``), which never waits for it.

    ``lock_first=False``: for work that is slow before its first write and guards every
    write with its own WHERE (sign-in: a password hash, then compare-and-set UPDATEs).
    Holding the lock through the hash made sign-ins one at a time, and anyone sending
    passwords to the login form held up the daemon's writes.

    On SQLite the process's units of work wait for the lock in turn (write_queue): a job
    running batch after batch took it again before anyone waiting could."""
    queue = queue_of(factory.kw.get("bind")) if lock_first else None
    with queue.turn() if queue else nullcontext(), factory() as session, session.begin():
        if lock_first:
            begin_write(session)
        yield session


def begin_write(session: Session) -> None:
    """SQLite: begin the session's transaction with BEGIN IMMEDIATE, unless one is open.

    The driver (pysqlite) begins a transaction only at the first INSERT or UPDATE, so
    what a unit of work read before it was read outside any transaction. A processing
    batch reads its cases, then scores and decides for a while, then writes: a person's
    resolve or "mark as spam" committed in between was overwritten (the spam tag
    dropped, a resolved case escalated and left resolved, out of every queue). Taken
    first, the write lock makes the second writer wait (busy_timeout) and then read the
    first's work, as PostgreSQL's row locks do. WAL readers never wait for it. A plain
    BEGIN (deferred) is not enough: its read snapshot could not be upgraded to a write
    once another writer committed, and SQLite fails that at once (SQLITE_BUSY_SNAPSHOT)
    rather than waiting."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> str:
    """Migrate the database back to ``revision``, one of this release's and not newer
    than the database's; returns the revision it was at."""
    # Any encoding: the older release this goes back for runs on it as it did before.
    current = require_known_revision(engine, any_encoding=True)
    _require_older(engine, current, revision)
    assert current is not None
    if current != revision:
        try:
            command.downgrade(alembic_config(engine), revision)
        except CommandError as exc:  # another `db` command moved it meanwhile
            raise CannotDowngrade(str(exc)) from None
    return current


def _require_older(engine: Engine, current: str | None, revision: str) -> None:
    # Only this release's revision ids: alembic also takes "base" (every table dropped),
    # "-1" and prefixes, which a typo turns into more than was meant.
    known = [script.revision for script in _migrations().walk_revisions()][::-1]
    if revision not in known:
        raise CannotDowngrade(
            f"unknown revision {revision!r}; this inchannel's are {', '.join(known)}"
        )
    if current is None:
        where = shown_url(engine)
        raise CannotDowngrade(
            f"the database {where} has no schema: there is no revision to go back from"
        )
    if known.index(revision) > known.index(current):
        raise CannotDowngrade(
            f"revision {revision} is newer than the database's ({current}): `db downgrade` "
            "only goes back; run `inchannel db upgrade` to go forward"
        )


@functools.lru_cache(maxsize=1)
def _migrations() -> ScriptDirectory:
    """The migration scripts shipped with this version: read once per process."""
    return ScriptDirectory.from_config(alembic_config(create_engine("sqlite://")))


def head_revision() -> str:
    head = _migrations().get_current_head()
    assert head is not None
    return head


def current_revision(bind: Engine | Connection) -> str | None:
    if isinstance(bind, Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def require_migrated(engine: Engine, *, any_encoding: bool = False) -> None:
    """NeedsUpgrade or NotMigratedError unless the database is at this release's schema;
    ``any_encoding``: see require_known_revision."""
    where = shown_url(engine)
    if sqlite_file_missing(engine):
        # Checked before connecting: SQLite creates the file it is asked to open, so a
        # check (`status` on a fresh checkout, a typo in database.url) left an empty
        # database behind that looked like one someone had set up.
        raise NeedsUpgrade(where, "does not exist yet")
    current = require_known_revision(engine, any_encoding=any_encoding)
    if current == head_revision():
        return
    state = "has no schema" if current is None else f"is at revision {current}"
    raise NeedsUpgrade(where, state)


def sqlite_file_missing(engine: Engine) -> bool:
    """A SQLite database whose file is not there (yet); an in-memory one is never missing."""
    return engine.dialect.name == "sqlite" and sqlite_path_missing(engine.url.database)


def sqlite_path_missing(database: str | None) -> bool:
    """A SQLite URL's database path naming no file; an in-memory one is never missing."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return False
    return not Path(database).exists()


def require_known_revision(engine: Engine, *, any_encoding: bool = False) -> str | None:
    """The database's revision, or NotMigratedError when a newer release migrated it:
    after a rollback of inchannel, `db upgrade` cannot help, and running on a schema we
    do not know could lose data. NotUtf8 for a database not in UTF8, unless
    ``any_encoding`` (`db copy` reading one, to move its data into one that is)."""
    where = shown_url(engine)
    with engine.connect() as conn:
        current = current_revision(conn)
        theirs = current is not None and not has_our_tables(conn)
        if not theirs and not any_encoding:
            require_utf8(conn, f"the database {where}: its", "" if current is None else MOVE_DATA)
    if theirs:
        # Many applications use Alembic, some numbering revisions as we do: migrating
        # their database as ours failed half way on "no such table".
        raise NotMigratedError(
            f"the database {where} is at revision {current} but has none of inchannel's "
            "tables: its alembic_version is another application's; give inchannel a "
            "database of its own"
        )
    if current is None or is_known_revision(current):
        return current
    raise NotMigratedError(
        f"the database {where} is at revision {current}, which this inchannel "
        f"({head_revision()}) does not know: a newer release migrated it; run that "
        "release (or restore a backup taken before the upgrade)"
    )


def has_our_tables(conn: Connection) -> bool:
    """Any of inchannel's tables: every revision of ours has them."""
    return bool(set(inspect(conn).get_table_names()) & set(Base.metadata.tables))


def is_known_revision(revision: str) -> bool:
    """One of this release's migrations (not one a newer release added)."""
    return any(known.revision == revision for known in _migrations().walk_revisions())
