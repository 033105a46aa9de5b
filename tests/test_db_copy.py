"""`inchannel db copy`: SQLite → PostgreSQL with every row, and the daemon keeps going."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from monitor.ingest import release_leases
from monitor.pipeline import run_cycle
from monitor.store.copy import CopyError, copy_database
from monitor.store.db import make_engine
from monitor.store.models import ActionRow, Base, Case, Message
from monitor.store.scratch import scratch_postgres
from tests.conftest import PG_ADMIN_URL, PG_OK, mention

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_target() -> Iterator[str]:
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_copy") as url:
        yield url


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        out = {
            t.name: int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in Base.metadata.sorted_tables
        }
    engine.dispose()
    return out


def test_copy_sqlite_to_postgresql(tmp_path: Path, pg_target: str) -> None:
    from monitor.clock import FakeClock
    from monitor.runtime import build_runtime
    from monitor.store.db import upgrade
    from tests.conftest import settings_for, write_jsonl

    rows = [mention(i, "@acme the site is down") for i in range(6)]
    sqlite_url = f"sqlite:///{tmp_path / 'small.db'}"
    rt = build_runtime(
        settings_for(tmp_path, sqlite_url, write_jsonl(tmp_path / "f.jsonl", rows)),
        clock=FakeClock(),
    )
    upgrade(rt.engine)
    run_cycle(rt)
    release_leases(rt)  # the daemon was stopped cleanly before the copy
    before = counts(sqlite_url)
    target = make_engine(pg_target)
    copied = copy_database(rt.engine, target)
    assert copied == before
    assert counts(pg_target) == before
    # The copy is usable: new rows get fresh ids after the copied ones.
    more = [mention(i, "@acme the site is down") for i in range(6, 9)]
    pg_rt = build_runtime(
        settings_for(tmp_path, pg_target, write_jsonl(tmp_path / "g.jsonl", rows + more)),
        clock=FakeClock(),
    )
    run_cycle(pg_rt)
    with pg_rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 9
        assert session.scalar(select(func.count()).select_from(ActionRow)) == 9
        assert session.scalar(select(func.count()).select_from(Message)) == before["messages"] + 6
    pg_rt.engine.dispose()
    with pytest.raises(CopyError, match="the target database is not empty"):
        copy_database(rt.engine, target)
    target.dispose()
    rt.engine.dispose()


def test_copy_refuses_an_unmigrated_source(tmp_path: Path, pg_target: str) -> None:
    source, target = make_engine(f"sqlite:///{tmp_path / 'empty.db'}"), make_engine(pg_target)
    with pytest.raises(CopyError, match="source database is not migrated"):
        copy_database(source, target)
    source.dispose()
    target.dispose()


def test_copy_takes_the_dashboard_tables_and_names_a_row_that_does_not_fit(
    tmp_path: Path, pg_target: str
) -> None:
    """copy_database alone (no CLI imports) knows every table; a value SQLite kept but
    PostgreSQL refuses names its table, and nothing is half-copied."""
    from sqlalchemy import text

    from monitor.store.db import upgrade

    assert {"web_users", "web_sessions", "sentiment_feedback"} <= set(Base.metadata.tables)
    source = make_engine(f"sqlite:///{tmp_path / 'long.db'}")
    upgrade(source)
    with source.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (case_id, kind, actor, at, detail) "
                "VALUES (NULL, 'note', :actor, '2026-12-01 10:00:00', '{}')"
            ),
            {"actor": "a" * 129},
        )
    target = make_engine(pg_target)
    with pytest.raises(CopyError, match=r"^table events: value too long .*nothing was copied"):
        copy_database(source, target)
    assert counts(pg_target)["events"] == 0
    source.dispose()
    target.dispose()
