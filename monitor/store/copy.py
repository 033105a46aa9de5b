"""Copy every row from one database to another (SQLite → PostgreSQL when a brand grows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Connection,
    Engine,
    Insert,
    Table,
    bindparam,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.exc import DataError, DBAPIError

from monitor.alerting import ALERTS_STATE, COPIED
from monitor.clock import Clock, SystemClock
from monitor.store.db import (
    NeedsUpgrade,
    NotMigratedError,
    NotUtf8,
    current_revision,
    driver_error,
    first_line,
    head_revision,
    is_known_revision,
    require_migrated,
    require_utf8,
    shown_url,
    upgrade,
)
from monitor.store.models import Base, SourceState

CHUNK = 2_000
# SQLAlchemy's JSON type writes Python None as the JSON text 'null', and a SQL NULL
# reads back as None: copied as it was read, a message no rule decided would no longer
# match `decision IS NULL`. Bound through this type, None stays SQL NULL.
SQL_NULL_JSON = JSON(none_as_null=True)
# An insert may not bind a parameter under a column's own name.
RENAMED = "__copied"


class CopyError(RuntimeError):
    pass


class SourceNeedsUpgrade(CopyError):
    """The source is behind this release: ``advice`` takes the copy's own --config, as
    ``NeedsUpgrade.advice`` does."""

    def __init__(self, needs: NeedsUpgrade) -> None:
        self.needs = needs
        super().__init__(self.advice())

    def advice(self, config_option: str = "") -> str:
        return f"source: {self.needs.advice(config_option)}"


def copy_database(
    source: Engine,
    target: Engine,
    *,
    progress: Callable[[str, int], None] | None = None,
    clock: Clock | None = None,
) -> dict[str, int]:
    """Migrate ``target``, then copy each table in foreign-key order; return row counts.

    The target must be empty: copying into a live database would mix two histories.
    Stop the daemon first, so the source does not change during the copy: a source a
    worker holds a lease on is refused (``clock`` tells when leases expire).
    """
    try:
        # A source in another encoding is read in UTF8 all the same: copying it into a
        # UTF8 database is what the daemon's refusal of it advises.
        require_migrated(source, any_encoding=True)
    except NeedsUpgrade as exc:
        raise SourceNeedsUpgrade(exc) from None
    except NotMigratedError as exc:
        raise CopyError(f"source: {exc}") from None
    _require_no_worker(source, (clock or SystemClock()).now())
    # Checked before migrating: a database we refuse is left as it was (an older
    # release may still run on it).
    with _as_target(target):
        require_empty(target)
        upgrade(target)
    tables = Base.metadata.sorted_tables
    counts: dict[str, int] = {}
    with source.connect() as read, _writing(target) as write:
        _read_one_moment(read)
        for table in tables:
            copied = 0
            result = read.execution_options(yield_per=CHUNK).execute(select(table))
            for chunk in result.mappings().partitions(CHUNK):
                with _as_target(target, f"copying table {table.name}"):
                    _write(write, table, [_marked(table, dict(row)) for row in chunk])
                copied += len(chunk)
                if progress is not None:
                    progress(table.name, copied)
            counts[table.name] = copied
        if write.dialect.name == "postgresql":
            with _as_target(target, "moving its id sequences"):
                _reset_sequences(write, tables)
    return counts


def _marked(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row``, the @alerts row with the heartbeat it was copied with. The heartbeat
    itself is kept: the first health check on the copy records the move as a down
    period, which the spike baseline leaves out. But until a worker there changes it,
    status took the old database's checks for a daemon running on the new one."""
    if table.name != SourceState.__tablename__ or row.get("name") != ALERTS_STATE:
        return row
    beat = row.get("last_poll_at")
    copied = beat.isoformat() if isinstance(beat, datetime) else None
    return row | {"details": {**(row.get("details") or {}), COPIED: copied}}


def _require_no_worker(source: Engine, now: datetime) -> None:
    """CopyError while a worker holds a source's lease. The worker lock that keeps
    `inchannel run` off a SQLite file during the copy does not exist on PostgreSQL: a
    copy taken there while the workers ran said it was done, and all they wrote after
    the moment it read (cases, replies sent, cursors moved) was missing from the new
    database. A clean stop releases the leases; a killed worker's expire on their own."""
    with source.connect() as conn:
        held = conn.execute(
            select(SourceState.name, SourceState.lease_owner, SourceState.lease_expires_at)
            .where(SourceState.lease_owner.is_not(None), SourceState.lease_expires_at >= now)
            .order_by(SourceState.name)
        ).first()
    if held is None:
        return
    name, owner, expires = held
    assert expires is not None  # the query's own condition
    until = expires.strftime("%Y-%m-%d %H:%M:%S UTC")
    raise CopyError(
        f"source: a worker ({owner}) holds source {name} until {until}: stop every "
        "inchannel run before copying; what it writes meanwhile or later would not be in "
        "the copy (a worker that was killed holds it until then: copy again after that)"
    )


@contextmanager
def _as_target(target: Engine, doing: str = "") -> Iterator[None]:
    """A database error of the target's named as the target's: the CLI's own words, "the
    database cannot be used", are every other command's for the configured database,
    here the source, where the operator then looked for the fault. ``doing``: what the
    copy was at, once rows are being written (they are all rolled back)."""
    try:
        yield
    except DBAPIError as exc:
        where = shown_url(target)
        reason = first_line(exc)[:300] or type(driver_error(exc)).__name__
        during = f" ({doing}; nothing was copied)" if doing else ""
        raise CopyError(f"target: the database {where} cannot be used: {reason}{during}") from None


@contextmanager
def _writing(target: Engine) -> Iterator[Connection]:
    """One transaction on ``target``, its connecting and committing named as the
    target's; the source is read in the same block, so only the target's steps are."""
    with _as_target(target, "connecting"):
        conn = target.connect()
        transaction = conn.begin()
    with conn:
        yield conn
        with _as_target(target, "committing"):
            transaction.commit()


def _read_one_moment(conn: Connection) -> None:
    """Read every table as of one moment. Rows written while the copy runs (a dashboard
    left running) would otherwise be copied in one table and not in the one read before
    it: an outbox row naming a message the copy does not have."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")
    else:
        # pysqlite opens no transaction for a SELECT, so each would read the newest
        # data; an explicit one keeps the first read's snapshot (WAL) until it ends.
        conn.exec_driver_sql("BEGIN")


def require_empty(target: Engine) -> None:
    """Raise CopyError unless ``target`` has no tables, or only inchannel's, empty, at a
    revision this release can migrate."""
    with target.connect() as conn:
        _require_utf8(conn)
        names = set(inspect(conn).get_table_names()) - {"alembic_version"}
        revision = current_revision(conn)
        _refuse_another_application(names, revision)
        if revision is not None and not is_known_revision(revision):
            raise CopyError(
                f"the target database is at revision {revision}, which this inchannel "
                f"({head_revision()}) does not know (a newer release migrated it): copy into "
                "an empty database"
            )
        for table in Base.metadata.sorted_tables:
            if (
                table.name in names
                and conn.execute(select(func.count()).select_from(table)).scalar()
            ):
                raise CopyError(f"the target database is not empty (table {table.name} has rows)")


def _require_utf8(conn: Connection) -> None:
    """In any encoding but UTF8 the copy failed at the first emoji, after migrating, and
    a copy without one left the daemon failing on the next mention that had one."""
    try:
        require_utf8(conn, "the target database's")
    except NotUtf8 as exc:
        raise CopyError(str(exc)) from None


def _refuse_another_application(names: set[str], revision: str | None) -> None:
    """Tables but no inchannel schema. Many applications use Alembic too: an unknown
    revision with none of our tables is theirs, not a newer inchannel's."""
    ours = set(Base.metadata.tables)
    if revision is None and names:
        why = ""
    elif revision is not None and not is_known_revision(revision) and not names & ours:
        why = f"; its alembic_version {revision} is another application's"
    else:
        return
    raise CopyError(
        "the target database is not empty (it has tables but no inchannel schema: "
        f"{', '.join(sorted(names)) or 'alembic_version'}{why}): copy into an empty database"
    )


def _insert(table: Table) -> tuple[Insert, frozenset[str]]:
    """The insert for ``table``, and the columns whose values it takes as ``name`` +
    RENAMED (bound as SQL_NULL_JSON)."""
    # Only where SQL NULL is allowed: a NOT NULL column's None was stored as JSON null.
    json = frozenset(c.name for c in table.columns if isinstance(c.type, JSON) and c.nullable)
    values = {name: bindparam(name + RENAMED, type_=SQL_NULL_JSON) for name in json}
    return insert(table).values(values), json


def _write(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    statement, renamed = _insert(table)
    params = [{k + RENAMED if k in renamed else k: v for k, v in row.items()} for row in rows]
    try:
        conn.execute(statement, params)
    except DataError as exc:
        # SQLite keeps a value longer than its column, and a NUL; PostgreSQL refuses
        # both. Name the table, the row's key and the column, not the value: it may be a
        # customer's text.
        reason = first_line(exc) if exc.orig else "a value does not fit"
        where = _unfit(table, rows, postgres=conn.dialect.name == "postgresql")
        raise CopyError(
            f"table {table.name}{where}: {reason}; nothing was copied (fix or shorten that "
            "row in the source, then copy again)"
        ) from None


def _unfit(table: Table, rows: list[dict[str, Any]], *, postgres: bool) -> str:
    """Where the first value in ``rows`` is that its column cannot hold (too long, or a
    NUL PostgreSQL refuses), as ", row id 2, column text"; "" when none is found. The
    driver's message names neither, and among thousands of rows the operator could not
    find it."""
    for row in rows:
        for column in table.columns:
            value = row.get(column.name)
            if not isinstance(value, str):
                continue
            length = getattr(column.type, "length", None)
            if (postgres and "\x00" in value) or (length is not None and len(value) > length):
                key = ", ".join(f"{c.name} {row.get(c.name)}" for c in table.primary_key.columns)
                return f", row {key}, column {column.name}"
    return ""


def _reset_sequences(conn: Connection, tables: list[Table]) -> None:
    """Rows were inserted with their ids; move each id sequence past the largest one."""
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is not False and column.type.python_type is int:
                # pg_get_serial_sequence is NULL for a column without a sequence, and
                # setval(NULL, ...) is a no-op.
                largest = select(func.max(column)).scalar_subquery()
                sequence = func.pg_get_serial_sequence(table.name, column.name)
                conn.execute(select(func.setval(sequence, func.coalesce(largest, 0) + 1, False)))
