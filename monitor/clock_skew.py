"""Clock skew between this host and the PostgreSQL server (workers sharing a database).

Source leases and outbox claims are timed by each worker's own clock and compared with
the clocks of the others: a worker whose clock runs ahead takes over live leases and
live claims, and the reply being posted at that moment can be posted twice. Each
worker's wall clock is therefore measured against the database server's, the one clock
every worker shares: at start (``inchannel run`` refuses to start beyond the bound) and
by the health job every minute (a skew found later is a problem in `inchannel status`
and an operations alert, and the worker takes no lease, claims no work and checks no
SLA deadline until its clock is back within the bound; each poll job hands over the
lease it holds, monitor.daemon). SQLite has one host: nothing
to measure.

The measurement reads the real system clock, never ``rt.clock``: tests replace that with
a fake clock, and the skew that matters is the host's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.alerting import Alert
from monitor.ingest import aware_time, source_lease_seconds
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.store.models import SourceState
from monitor.store.queries import locked_source_state

log = logging.getLogger("inchannel.clock_skew")

WallClock = Callable[[], datetime]
# The workers whose last measurement was beyond the bound, by worker id (only those:
# the row is absent while every clock agrees, so a healthy database never shows it).
CLOCK_STATE = "@clock"
WORKERS = "workers"
KIND = "clock-skew"
# Queries on one connection; the one with the shortest round trip is kept, as NTP does:
# a query delayed on its way out or back skews the estimate by up to its round trip.
SAMPLES = 3
# The health job renews a skewed worker's entry every minute: one not renewed for this
# long was left by a worker that stopped (or was started again under a new id; a check
# in step on its host ends it sooner, _ended). Under cron, this long after the next
# `run --once` was due (current_texts).
MEASURED_RECENT = timedelta(minutes=5)
# Two workers each within the bound of the database's clock are within twice the bound
# of each other: half the smallest slack, leaving the other half for other delays.
SHARE_OF_SLACK = 4


def system_wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Skew:
    """This host's wall clock less the database server's, in seconds (positive: ahead),
    give or take ``uncertainty`` (half the query's round trip)."""

    offset: float
    uncertainty: float
    database_at: datetime

    def beyond(self, bound: float) -> bool:
        # Only a skew surely past the bound: a slow round trip alone refuses nothing.
        return abs(self.offset) - self.uncertainty > bound

    def text(self, whose: str, bound: float) -> str:
        direction = "ahead of" if self.offset > 0 else "behind"
        return (
            f"clock skew: {whose} clock is {abs(self.offset):.0f} s {direction} the database "
            f"server's clock, more than the {bound:g} s workers tolerate; fix NTP on this "
            "host and the database server"
        )


def measure(engine: Engine, wall: WallClock = system_wall_clock) -> Skew | None:
    """The skew of ``wall`` against the database server's clock; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    best: Skew | None = None
    with engine.connect() as connection:
        for _ in range(SAMPLES):
            # clock_timestamp(), not now(): now() is the transaction's start.
            before = wall()
            server = connection.execute(select(func.clock_timestamp())).scalar_one()
            after = wall()
            half = (after - before).total_seconds() / 2
            offset = (before - server).total_seconds() + half
            if best is None or half < best.uncertainty:
                best = Skew(offset, half, server)
    return best


def bound_seconds(settings: Settings) -> float:
    """The largest skew from the database's clock a worker may have: a quarter of the
    smaller of half workers.stale_claim_seconds (a dispatch batch stops sending then) and
    the smallest lease slack of an enabled source (its lease less one poll interval).
    With the defaults 30 s beside a Reddit source (a 180 s lease, polled every 60 s), 60 s
    with X sources only, never more than 75 s (docs/operations.md, "Clock skew")."""
    slack = [
        source_lease_seconds(settings, source) - source.interval_seconds
        for source in settings.sources
        if source.enabled
    ]
    return min([settings.workers.stale_claim_seconds / 2, *slack]) / SHARE_OF_SLACK


def startup_problem(
    engine: Engine, settings: Settings, wall: WallClock = system_wall_clock
) -> str | None:
    """Why ``inchannel run`` must not start on this host: a clock too far from the
    database server's. None when it may (and always on SQLite)."""
    skew = measure(engine, wall)
    bound = bound_seconds(settings)
    if skew is None or not skew.beyond(bound):
        return None
    return skew.text("this host's", bound)


def hold_while_skewed(rt: Runtime, skew: Skew | None) -> None:
    """Set ``rt.clock_skewed`` while ``skew`` is beyond the bound, clear it once back
    within: a skewed worker that went on taking leases and claims took over the other
    workers' live ones, and posted their replies twice. Logged once per change, not at
    every check. None (SQLite) changes nothing. The measurement goes to the metrics too."""
    if skew is None:
        return
    rt.metrics.clock_measured(skew.offset)
    bound = bound_seconds(rt.settings)
    beyond = skew.beyond(bound)
    if beyond == rt.clock_skewed.is_set():
        return
    if beyond:
        rt.clock_skewed.set()
        log.error(
            "%s; until then this worker takes no source lease, claims no work and "
            "checks no SLA deadline",
            skew.text("this host's", bound),
        )
    else:
        rt.clock_skewed.clear()
        log.warning(
            "clock skew: this host's clock is back within the %g s workers tolerate: "
            "taking source leases, claiming work and checking SLA deadlines again",
            bound,
        )


def record(session: Session, worker_id: str, skew: Skew | None, settings: Settings) -> None:
    """Keep the health job's measurement where status and the other workers see it: a
    skewed worker's entry is written (renewed every check), the ones it ends removed
    (``_ended``: a recovered worker's own, and its host's earlier ones)."""
    if skew is None:
        return
    bound = bound_seconds(settings)
    beyond = skew.beyond(bound)
    row = session.get(SourceState, CLOCK_STATE)
    if not beyond and (row is None or not _ended(_entries(row), worker_id, skew, bound)):
        return  # the usual case: nothing to write, no lock taken
    state = locked_source_state(session, CLOCK_STATE)
    ended = _ended(_entries(state), worker_id, skew, bound)  # again, under the lock
    entries = {k: v for k, v in _entries(state).items() if k not in ended}
    if beyond:
        text = skew.text(f"worker {worker_id}'s", bound)
        entries[worker_id] = {"text": text, "measured_at": skew.database_at.isoformat()}
    state.details = {**(state.details or {}), WORKERS: entries}


def current_texts(session: Session, between_runs: timedelta) -> dict[str, str]:
    """By worker id, the skews measured beyond the bound lately (the workers running).
    ``between_runs`` (workers.between_runs): a `run --once` from cron measures once a
    run, and the next runs on a skewed host refuse to start, so its report lasts until
    the next run was due, plus MEASURED_RECENT; zero for a daemon."""
    if session.get_bind().dialect.name != "postgresql":
        # One host, nothing measured: a row here came from a PostgreSQL database (db
        # copy), and SQLite's now() is naive, which the measurements could not compare to.
        return {}
    row = session.get(SourceState, CLOCK_STATE)
    if row is None or not _entries(row):
        return {}
    # The database's clock: the one both the measurement and this check share.
    since = session.execute(select(func.now())).scalar_one() - (MEASURED_RECENT + between_runs)
    out = {}
    for worker, entry in sorted(_entries(row).items()):
        measured = aware_time(entry.get("measured_at")) if isinstance(entry, dict) else None
        if measured is not None and measured >= since:
            out[worker] = str(entry.get("text", ""))
    return out


def problems(session: Session, between_runs: timedelta) -> list[str]:
    """What `inchannel status` reports: one line per skewed worker."""
    return list(current_texts(session, between_runs).values())


def alerts(session: Session, between_runs: timedelta) -> list[Alert]:
    """One operations alert per skewed worker, ended when its clock is back in step."""
    texts = current_texts(session, between_runs)
    return [Alert(f"{KIND}:{worker}", KIND, text) for worker, text in texts.items()]


def _ended(entries: dict[str, Any], worker_id: str, skew: Skew, bound: float) -> set[str]:
    """The entries ``skew``, ``worker_id``'s measurement, ends: its own, and on a clock
    surely within the bound, those measured before it by other workers of its host. A
    host's processes share its clock, and each `run --once` (or daemon restarted) is a
    new worker id: a run on a clock set right could end only its own entry, and the
    earlier run's lingered. Another host's entry says nothing of this clock: kept."""
    ended = {worker_id} & entries.keys()
    host = _host(worker_id)
    # A slow round trip may hide a skew (Skew.beyond): only a sure "in step" ends others.
    if host is None or abs(skew.offset) + skew.uncertainty > bound:
        return ended
    for other, entry in entries.items():
        measured = aware_time(entry.get("measured_at")) if isinstance(entry, dict) else None
        if _host(other) == host and measured is not None and measured < skew.database_at:
            ended.add(other)
    return ended


def _host(worker_id: str) -> str | None:
    """The host of a worker id (Runtime.worker_id: host, pid and a random part)."""
    parts = worker_id.rsplit(":", 2)
    return parts[0] if len(parts) == 3 and parts[0] else None


def _entries(row: SourceState) -> dict[str, Any]:
    entries = (row.details or {}).get(WORKERS)
    return entries if isinstance(entries, dict) else {}
