"""A database serves live runs or dry runs, never both.

A dry run marks the replies it records as sent and moves the sources' cursors past what
it read: on the live database, those customers would never be answered; and a live run
on a dry run's database would take recorded replies for posted ones.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from monitor.store.db import hold_lock, transaction
from monitor.store.models import Usage
from monitor.store.queries import insert_ignoring_duplicates

# Kept in the usage table (key, "day") so no migration is needed; no date sorts after
# these words, so the daily counters' date ranges never include them.
MODE_KEY = "run_mode"
LIVE, DRY_RUN = "live", "dry-run"
# Any fixed number: PostgreSQL advisory locks are named by a bigint.
MODE_LOCK = 7_264_021_006


class ModeConflict(RuntimeError):
    """The database has been used in the other mode."""


def claim_mode(sessions: sessionmaker[Session], *, dry_run: bool) -> None:
    """Mark the database as used in this mode, or raise ModeConflict."""
    mine, other = (DRY_RUN, LIVE) if dry_run else (LIVE, DRY_RUN)
    with transaction(sessions) as session:
        # A live and a dry-run daemon started at the same moment each found no row of
        # the other mode and both went on. Held until the commit, so the second reads
        # the first's row. SQLite refuses the second writer's stale read.
        hold_lock(session.connection(), MODE_LOCK)
        if session.get(Usage, (MODE_KEY, other)) is not None:
            raise ModeConflict(_LIVE_DB if dry_run else _DRY_RUN_DB)
        insert_ignoring_duplicates(session, Usage, [{"key": MODE_KEY, "day": mine, "count": 0}])


_LIVE_DB = (
    "this database has served live runs: a dry run would mark its waiting replies as sent "
    "without posting them and move its cursors past new mentions. Point database.url at "
    "another database for the dry run (`inchannel db upgrade` creates one)"
)
_DRY_RUN_DB = (
    "this database has served `inchannel run --dry-run`: the replies it shows as sent were "
    "only recorded, and its cursors moved past mentions nobody answered. Start the live "
    "daemon on another database (`inchannel db upgrade` creates one)"
)
