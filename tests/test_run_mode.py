"""A database serves live runs or dry runs: two daemons started at once in each mode."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from monitor.store.db import make_engine, session_factory, upgrade
from monitor.store.run_mode import MODE_LOCK, ModeConflict, claim_mode
from monitor.store.scratch import scratch_postgres
from tests.conftest import PG_ADMIN_URL, PG_OK

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_OK, reason="PostgreSQL is not reachable on 127.0.0.1:5432"),
]


def _waiting_on_the_lock(engine_url: str, want: int) -> None:
    engine = make_engine(engine_url)
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND objid = :low AND database = (SELECT oid FROM pg_database"
        " WHERE datname = current_database())"
    )
    deadline = time.monotonic() + 30
    with engine.connect() as conn:
        while conn.execute(query, {"low": MODE_LOCK & 0xFFFFFFFF}).scalar_one() < want:
            assert time.monotonic() < deadline, "the claims never waited for the lock"
            time.sleep(0.05)
    engine.dispose()


def test_a_live_and_a_dry_run_started_at_once_do_not_both_claim_the_database() -> None:
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_test") as url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = session_factory(engine)
        outcomes: dict[bool, str] = {}

        def claim(dry_run: bool) -> None:
            try:
                claim_mode(sessions, dry_run=dry_run)
                outcomes[dry_run] = "claimed"
            except ModeConflict:
                outcomes[dry_run] = "refused"

        # Both reach their check while a third holds the lock, then run one at a time.
        with engine.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MODE_LOCK})
            threads = [threading.Thread(target=claim, args=(mode,)) for mode in (False, True)]
            for thread in threads:
                thread.start()
            _waiting_on_the_lock(url, 2)
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MODE_LOCK})
            holder.commit()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(outcomes.values()) == ["claimed", "refused"]
        with engine.connect() as conn:
            modes = conn.execute(text("SELECT day FROM usage WHERE key = 'run_mode'")).all()
        assert len(modes) == 1
        engine.dispose()
