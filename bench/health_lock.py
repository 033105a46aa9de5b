"""How long one health check (check_health) holds SQLite's write lock.

    .venv/bin/python bench/health_lock.py [--messages 100000] [--days 30] [--runs 9]

Seeds a SQLite database as bench/alerts.py does (N inbound messages over D days ending
now, a third negative, cases tagged from a small set, three sources), with the sources
polled just now so the silence check runs too, then times check_health with the default
settings (spike detection on): the whole step, and the part of it that holds the write
lock (from BEGIN IMMEDIATE to its commit), median and max of ``--runs``. While the lock
is held, ingest, processing, dispatch and every dashboard action wait.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import Connection, Engine, event, insert  # noqa: E402

from bench.alerts import NOW, seed  # noqa: E402
from monitor.clock import FakeClock  # noqa: E402
from monitor.health_alerts import check_health  # noqa: E402
from monitor.runtime import Runtime, build_runtime  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from monitor.store.models import SourceState  # noqa: E402

SOURCES = ("s0", "s1", "s2")


class LockTimer:
    """Wall time from each BEGIN IMMEDIATE to the end of its transaction, by engine
    event listeners (nothing of ours is patched). By DBAPI connection: the check's
    read-only sessions end (roll back) on their own connections meanwhile."""

    def __init__(self, engine: Engine) -> None:
        self.held: list[float] = []
        self._started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _before(self, conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement == "BEGIN IMMEDIATE":
            self._started[id(conn.connection.dbapi_connection)] = time.perf_counter()

    def _end(self, conn: Connection) -> None:
        started = self._started.pop(id(conn.connection.dbapi_connection), None)
        if started is not None:
            self.held.append((time.perf_counter() - started) * 1000)


def runtime(url: str, baseline_hours: int = 24) -> Runtime:
    settings = Settings.model_validate(
        {
            "brand": {"name": "Acme"},
            "database": {"url": url},
            "sources": [{"name": n, "type": "replay", "path": "/dev/null"} for n in SOURCES],
            "rules": {"path": str(REPO / "config" / "rules")},
            "teams": [{"name": t} for t in ("care", "billing", "tech", "international")],
            "alerts": {"spike": {"baseline_hours": baseline_hours}},
        }
    )
    return build_runtime(settings, clock=FakeClock(NOW))


def polled(rt: Runtime) -> None:
    """The sources read just now: watched for silence, as in a running daemon."""
    rows = [
        {"name": n, "last_poll_at": NOW, "last_success_at": NOW, "consecutive_failures": 0}
        for n in SOURCES
    ]
    with rt.sessions.begin() as session:
        session.execute(insert(SourceState), [{**r, "items_total": 0, "details": {}} for r in rows])


def measure(n: int, days: int, runs: int, baseline_hours: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        rt = runtime(f"sqlite:///{tmp}/bench.db", baseline_hours)
        upgrade(rt.engine)
        seed(rt, n, days)
        polled(rt)
        check_health(rt)  # the first check creates the @alerts row; not timed
        timer = LockTimer(rt.engine)
        total = []
        for _ in range(runs):
            started = time.perf_counter()
            check_health(rt)
            total.append((time.perf_counter() - started) * 1000)
        rt.engine.dispose()
    return {
        "messages": n,
        "days": days,
        "spike_baseline_hours": baseline_hours,
        "runs": runs,
        "check_ms_median": round(statistics.median(total), 2),
        "lock_held_ms_median": round(statistics.median(timer.held), 2),
        "lock_held_ms_max": round(max(timer.held), 2),
        "lock_transactions_per_check": len(timer.held) / runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000, help="messages to seed")
    parser.add_argument("--days", type=int, default=30, help="days they are spread over")
    parser.add_argument("--runs", type=int, default=9, help="checks to time")
    parser.add_argument(
        "--baseline-hours", type=int, default=24, help="alerts.spike.baseline_hours (default 24)"
    )
    args = parser.parse_args()
    result = measure(args.messages, args.days, args.runs, args.baseline_hours)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
