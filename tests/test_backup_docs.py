"""The SQLite backup docs/operations.md gives works while the daemon writes."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from monitor.store.db import make_engine, upgrade
from tests.conftest import REPO

ROWS = 20_000  # about 45 MB: many more pages than one step of the sqlite3 shell's .backup


def documented_sqlite_backup() -> str:
    """The command of the **SQLite:** item under "## Backups"."""
    doc = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc.split("## Backups", 1)[1].split("\n## ", 1)[0]
    item = section.split("**SQLite:**", 1)[1].split("\n- ", 1)[0]
    found = re.search(r"`(sqlite3 [^`]+)`", item.replace("\n", " "))
    assert found is not None, item
    return found.group(1)


def _database(folder: Path) -> Path:
    path = folder / "var" / "inchannel.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    insert = text(
        "INSERT INTO events (case_id, kind, actor, at, detail) "
        "VALUES (NULL, 'note', 'lena', '2026-12-01 10:00:00.000000', :detail)"
    )
    with engine.begin() as conn:
        conn.execute(insert, [{"detail": f'{{"note": "{"x" * 2000}"}}'} for _ in range(ROWS)])
    engine.dispose()
    return path


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="no sqlite3 command-line shell")
def test_the_documented_sqlite_backup_finishes_while_the_daemon_writes(tmp_path: Path) -> None:
    """`.backup` copies 100 pages at a time and starts again from the first whenever
    another process writes between two steps: on a database the daemon writes to
    every few moments it never finished (a nightly backup spinning for ever)."""
    path = _database(tmp_path)
    stop = threading.Event()

    def daemon_writing() -> None:
        conn = sqlite3.connect(path, timeout=5)
        while not stop.is_set():
            conn.execute(
                "INSERT INTO usage (key, day, count) VALUES ('x:reads', '2026-12-01', 1) "
                "ON CONFLICT (key, day) DO UPDATE SET count = count + 1"
            )
            conn.commit()
        conn.close()

    writer = threading.Thread(target=daemon_writing)
    writer.start()
    try:
        done = subprocess.run(
            ["bash", "-c", documented_sqlite_backup()],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the documented backup did not finish in 30 s while the database was written")
    finally:
        stop.set()
        writer.join()
    assert (done.returncode, done.stderr) == (0, "")
    (backup,) = (tmp_path / "var").glob("backup-*.db")
    copy = sqlite3.connect(backup)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("SELECT count(*) FROM events").fetchone() == (ROWS,)
    copy.close()
