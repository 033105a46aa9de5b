"""A database serves live runs or dry runs, never both.

A dry run marks the replies it records as sent and moves the sources' cursors past what
it read: on the live database, those customers would never be answered; and a live run
on a dry run's database would take recorded replies for posted ones. The demo records
as a dry run does, so it and a live run refuse each other's database too.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from monitor.store.db import hold_lock, transaction
from monitor.store.models import Usage
from monitor.store.queries import insert_ignoring_duplicates

# Kept in the usage table (key, "day") so no migration is needed; no date sorts after
# these words, so the daily counters' date ranges never include them.
MODE_KEY = "run_mode"
LIVE, DRY_RUN, DEMO = "live", "dry-run", "demo"
# Any fixed number: PostgreSQL advisory locks are named by a bigint.
MODE_LOCK = 7_264_021_006


class ModeConflict(RuntimeError):
    """The database has been used in the other mode."""


def claim_mode(sessions: sessionmaker[Session], *, dry_run: bool, demo: bool = False) -> None:
    """Mark the database as used in this mode, or raise ModeConflict. A dry run and the
    demo may share a database: neither posts."""
    mine = DEMO if demo else DRY_RUN if dry_run else LIVE
    others = (LIVE,) if mine != LIVE else (DRY_RUN, DEMO)
    with transaction(sessions) as session:
        # A live and a dry-run daemon started at the same moment each found no row of
        # the other mode and both went on. Held until the commit, so the second reads
        # the first's row. SQLite refuses the second writer's stale read.
        hold_lock(session.connection(), MODE_LOCK)
        for other in others:
            if session.get(Usage, (MODE_KEY, other)) is not None:
                raise ModeConflict(_refusal(mine, other))
        insert_ignoring_duplicates(session, Usage, [{"key": MODE_KEY, "day": mine, "count": 0}])


def _refusal(mine: str, other: str) -> str:
    if other == DRY_RUN:
        return _DRY_RUN_DB
    if other == DEMO:
        return _DEMO_DB
    return _LIVE_DB.format(who="the demo" if mine == DEMO else "a dry run")


_LIVE_DB = (
    "this database has served live runs: {who} would mark its waiting replies as sent "
    "without posting them and move its cursors past new mentions. Point database.url at "
    "another database for {who} (`inchannel db upgrade` creates one)"
)
_DRY_RUN_DB = (
    "this database has served `inchannel run --dry-run`: the replies it shows as sent were "
    "only recorded, and its cursors moved past mentions nobody answered. Start the live "
    "daemon on another database (`inchannel db upgrade` creates one)"
)
_DEMO_DB = (
    "this database has served the demo: the replies it shows as sent were only recorded "
    "and its cases and drafts are sample posts. Start the live daemon on another database "
    "(`inchannel db upgrade` creates one)"
)
