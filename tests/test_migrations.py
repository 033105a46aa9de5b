"""Schema migrations on databases that already hold data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from monitor.domain import TAG
from monitor.store.db import alembic_config, current_revision, head_revision, make_engine, upgrade
from monitor.store.models import Base
from monitor.store.scratch import scratch_postgres
from tests.conftest import PG_ADMIN_URL, PG_OK, REPO, demo_copy

NOW = "2026-11-20 09:00:00"


def test_0003_merges_duplicate_cases_before_making_threads_unique(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, platform, platform_user_id, handle, display_name,"
                " verified, first_seen_at, last_seen_at) VALUES (1, 'x', '42', 'jane', '',"
                " false, :now, :now)"
            ),
            {"now": NOW},
        )
        # Two workers opened the same thread's case twice, before the unique index.
        for case_id in (1, 2, 3):
            conversation = "c9" if case_id == 3 else "c1"
            conn.execute(
                text(
                    "INSERT INTO cases (id, platform, conversation_id, customer_id, state,"
                    " priority, tags, bot_replies, opened_at, updated_at) VALUES"
                    " (:id, 'x', :conv, 1, 'new', 'normal', '[]', 0, :now, :now)"
                ),
                {"id": case_id, "conv": conversation, "now": NOW},
            )
        for message_id, case_id in ((10, 1), (11, 2), (12, 3)):
            conn.execute(
                text(
                    "INSERT INTO messages (id, platform, external_id, direction, kind,"
                    " case_id, author_handle, text, conversation_id, reply_allowed,"
                    " created_at, ingested_at, processed) VALUES (:id, 'x', :ext, 'inbound',"
                    " 'mention', :case, 'jane', 'hi', 'c1', true, :now, :now, true)"
                ),
                {"id": message_id, "ext": str(message_id), "case": case_id, "now": NOW},
            )
        conn.execute(
            text(
                "INSERT INTO events (case_id, kind, actor, detail, at)"
                " VALUES (2, 'opened', 'system', '{}', :now)"
            ),
            {"now": NOW},
        )
    upgrade(engine)
    with engine.connect() as conn:
        cases = conn.execute(text("SELECT id, conversation_id FROM cases ORDER BY id")).all()
        messages = conn.execute(text("SELECT id, case_id FROM messages ORDER BY id")).all()
        events = conn.execute(text("SELECT case_id FROM events")).scalars().all()
    assert [tuple(row) for row in cases] == [(1, "c1"), (3, "c9")]
    assert [tuple(row) for row in messages] == [(10, 1), (11, 1), (12, 3)]
    assert events == [1]
    engine.dispose()


DUE = "2026-11-20 10:00:00"


def _case_with_deadline(engine: Engine, case_id: int, first_response_at: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO customers (id, platform, platform_user_id, handle, display_name,"
                " verified, first_seen_at, last_seen_at) VALUES (:id, 'x', :id, 'jane', '',"
                " false, :now, :now)"
            ),
            {"id": case_id, "now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO cases (id, platform, conversation_id, customer_id, state,"
                " priority, tags, bot_replies, opened_at, updated_at, first_response_at,"
                " sla_due_at) VALUES (:id, 'x', :id, :id, 'awaiting_human', 'normal', '[]',"
                " 0, :now, :now, :answered, :due)"
            ),
            {"id": case_id, "now": NOW, "answered": first_response_at, "due": DUE},
        )


def _deadlines(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, sla_due_at, first_response_due_at FROM cases ORDER BY id")
        )
        return [(i, str(due)[:19], first and str(first)[:19]) for i, due, first in rows]


def test_0005_keeps_the_first_responses_deadline_of_answered_cases(db_url: str) -> None:
    # Until 0005 an answered case's sla_due_at was its first response's deadline, which
    # reports compare the first response with; from 0005 it holds the deadline of the
    # answer owed now (a follow-up's), and reports read first_response_due_at.
    engine = make_engine(db_url)
    upgrade(engine, "0004")
    _case_with_deadline(engine, 1, first_response_at="2026-11-20 09:30:00")
    _case_with_deadline(engine, 2, first_response_at=None)  # its deadline is still to come
    upgrade(engine)
    assert _deadlines(engine) == [(1, DUE, DUE), (2, DUE, None)]
    with engine.begin() as conn:  # the customer of case 1 wrote again
        conn.execute(text("UPDATE cases SET sla_due_at = '2026-11-21 10:00:00' WHERE id = 1"))
    command.downgrade(alembic_config(engine), "0004")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT sla_due_at FROM cases WHERE id = 1")).scalar_one()
    assert str(kept)[:19] == DUE  # what the older code reads as the first deadline
    engine.dispose()


def schema_drift(engine: Engine) -> list[object]:
    """What `alembic revision --autogenerate` would write: the models against the
    migrated tables, column types and server defaults included."""
    opts = {"compare_type": True, "compare_server_default": True}
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata))


@pytest.mark.parametrize("start", ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "head"])
def test_every_revision_upgrades_to_exactly_the_models(db_url: str, start: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, start)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_drift(engine) == []
    engine.dispose()


def test_downgrade_to_nothing_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine)
    command.downgrade(alembic_config(engine), "base")
    with engine.connect() as conn:
        left = set(conn.dialect.get_table_names(conn)) - {"alembic_version"}
    assert (current_revision(engine), left) == (None, set())
    upgrade(engine)
    assert schema_drift(engine) == []
    engine.dispose()


def _waiting_on_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        )
        return int(conn.execute(text(query)).scalar_one())


@pytest.mark.postgres
def test_two_workers_upgrading_at_once_both_succeed(tmp_path: Path) -> None:
    """Two `db upgrade` runs (two hosts' deploy scripts) on one PostgreSQL database both
    read 0004 and ran 0005's ALTER TABLE: the second failed with "column already
    exists". A lock the test holds on cases makes them meet there every time."""
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_race") as url:
        config = demo_copy(tmp_path)
        config.write_text(
            config.read_text(encoding="utf-8").replace(f"sqlite:///{tmp_path}/inchannel.db", url),
            encoding="utf-8",
        )
        engine = make_engine(url)
        upgrade(engine, "0004")
        command_line = [sys.executable, "-m", "monitor.cli", "db", "upgrade", "--config"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with engine.connect() as holder:
            holder.execute(text("LOCK TABLE cases IN ACCESS EXCLUSIVE MODE"))
            workers = [
                subprocess.Popen(
                    [*command_line, str(config)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for _ in range(2)
            ]
            deadline = time.monotonic() + 30
            while _waiting_on_locks(engine) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            holder.rollback()
        outputs = [worker.communicate(timeout=60)[0] for worker in workers]
        assert [worker.returncode for worker in workers] == [0, 0], outputs
        assert current_revision(engine) == head_revision()
        engine.dispose()


def test_0005_downgrades_and_upgrades_cases_that_have_messages(db_url: str) -> None:
    """On SQLite the downgrade recreates cases, and DROP TABLE of a table messages and
    events refer to failed its foreign keys: any real database could not go back."""
    engine = make_engine(db_url)
    upgrade(engine, "0004")
    _case_with_deadline(engine, 1, first_response_at="2026-11-20 09:30:00")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO messages (id, platform, external_id, direction, kind, case_id,"
                " author_handle, text, conversation_id, reply_allowed, created_at,"
                " ingested_at, processed) VALUES (10, 'x', '10', 'inbound', 'mention', 1,"
                " 'jane', 'hi', '1', true, :now, :now, true)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO events (case_id, kind, actor, detail, at)"
                " VALUES (1, 'opened', 'system', '{}', :now)"
            ),
            {"now": NOW},
        )
    upgrade(engine)
    command.downgrade(alembic_config(engine), "0004")
    assert current_revision(engine) == "0004"
    upgrade(engine)
    assert _deadlines(engine) == [(1, DUE, DUE)]
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT case_id FROM messages")).scalars().all()
        if conn.dialect.name == "sqlite":  # the daemon's connections check them again
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert kept == [1]
    assert schema_drift(engine) == []
    engine.dispose()


def test_0005_downgrade_keeps_only_the_first_responses_sla_marks(db_url: str) -> None:
    """Older code marks only a first response's deadline, and `status` counts an open
    case with a breach mark as breached: a follow-up's marks must not survive."""
    engine = make_engine(db_url)
    upgrade(engine, "0004")
    _case_with_deadline(engine, 1, first_response_at="2026-11-20 09:30:00")  # in time
    _case_with_deadline(engine, 2, first_response_at="2026-11-20 11:00:00")  # late
    upgrade(engine, "0005")
    with engine.begin() as conn:  # both customers wrote again; both follow-ups breached
        conn.execute(
            text(
                "UPDATE cases SET sla_due_at = '2026-11-21 10:00:00',"
                " sla_warned_at = '2026-11-21 09:45:00', sla_breached_at = '2026-11-21 10:00:00'"
            )
        )
    command.downgrade(alembic_config(engine), "0004")
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, sla_warned_at, sla_breached_at FROM cases ORDER BY id")
        ).all()
    assert [(i, warned, breached and str(breached)[:19]) for i, warned, breached in rows] == [
        (1, None, None),
        (2, None, DUE),
    ]
    engine.dispose()


def _case_with_tags(engine: Engine, case_id: int, tags: str) -> None:
    _case_with_deadline(engine, case_id, first_response_at=None)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE cases SET tags = :tags WHERE id = :id"), {"tags": tags, "id": case_id}
        )


def test_0006_tidies_tags_older_rules_stored_as_written(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0005")
    long = "Very Long Tag " * 4
    _case_with_tags(engine, 1, f'["VIP", "Billing Issue", "vip", "a,b", "!!!", "{long}"]')
    _case_with_tags(engine, 2, '["refund", "spam"]')
    _case_with_tags(engine, 3, "[]")
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, tags FROM cases ORDER BY id")).all()
    tags = {i: json.loads(t) if isinstance(t, str) else t for i, t in rows}
    assert tags == {
        1: ["vip", "billing-issue", "a-b", "very-long-tag-very-long-tag-very"],
        2: ["refund", "spam"],
        3: [],
    }
    assert all(TAG.match(t) for t in tags[1])
    command.downgrade(alembic_config(engine), "0005")  # older versions read them as they are
    assert current_revision(engine) == "0005"
    engine.dispose()


def test_0008_keeps_actions_and_goes_back(db_url: str) -> None:
    """Actions queued before 0008 know nothing of their attempts (NULL: the dispatcher
    looks before any retry, as before); the downgrade keeps the rows."""
    engine = make_engine(db_url)
    upgrade(engine, "0007")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO actions (id, kind, platform, target_external_id, conversation_id,"
                " text, status, attempts, next_attempt_at, last_error, idempotency_key,"
                " created_at, updated_at) VALUES (1, 'reply', 'x', '1', '1', 'hi', 'failed',"
                " 1, :now, 'read timed out', 'k1', :now, :now)"
            ),
            {"now": NOW},
        )
    upgrade(engine)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT may_have_posted FROM actions")).scalar_one() is None
        conn.execute(text("UPDATE actions SET may_have_posted = true"))
    command.downgrade(alembic_config(engine), "0007")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT id, status FROM actions")).all()
    assert [tuple(row) for row in kept] == [(1, "failed")]
    upgrade(engine)
    assert schema_drift(engine) == []
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.dialect.get_table_names(conn))


def test_a_failed_upgrade_changes_nothing_and_can_run_again(db_url: str) -> None:
    """On SQLite each CREATE TABLE committed on its own: a migration that failed half
    way (here: a table of another tool named events) left customers and cases behind
    at no revision, and every `db upgrade` after that failed on "table customers
    already exists"."""
    engine = make_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE events (id integer)"))
    with pytest.raises(Exception, match="events"):
        upgrade(engine)
    assert (current_revision(engine), _tables(engine)) == (None, {"events"})
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite":  # the pooled connection checks them again
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        conn.execute(text("DROP TABLE events"))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_drift(engine) == []
    engine.dispose()
