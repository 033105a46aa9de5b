"""Shared fixtures: databases (SQLite and PostgreSQL), runtimes with a FakeClock."""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FakeClock
from monitor.runtime import Runtime, build_runtime
from monitor.settings import Settings
from monitor.store.db import make_engine, upgrade
from monitor.store.scratch import postgres_reachable, scratch_postgres

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
PG_ADMIN_URL = os.environ.get(
    "INCHANNEL_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


PG_OK = postgres_reachable(PG_ADMIN_URL)
if not PG_OK and os.environ.get("INCHANNEL_REQUIRE_POSTGRES"):
    raise RuntimeError(f"PostgreSQL is required but not reachable at {PG_ADMIN_URL}")


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """argon2 at its production cost (64 MiB, 3 passes) takes about 165 ms a hash here,
    and every dashboard test creates four users and signs in: a fifth of the suite's
    time. Tests check what is hashed and verified, not how hard; the production
    parameters are pinned by test_web_users. Processes the tests start hash for real."""
    from argon2 import PasswordHasher, profiles

    from monitor.web import users

    cheap = PasswordHasher.from_parameters(profiles.CHEAPEST)
    patch = pytest.MonkeyPatch()
    patch.setattr(users, "HASHER", cheap)
    patch.setattr(users, "_DUMMY_HASH", cheap.hash("a password nobody has"))
    yield
    patch.undo()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`inchannel run` configures the root logger; undo it so tests do not leak into each other."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class MigratedTemplates:
    """One migrated database per engine and test session, copied for each test that
    builds a runtime: running the migrations took 0.3 s a test on PostgreSQL (a copy
    0.15 s) and 0.1 s on SQLite (a copy 1 ms)."""

    def __init__(self, folder: Path, stack: ExitStack) -> None:
        self._folder, self._stack = folder, stack
        self._urls: dict[str, str] = {}

    def url(self, engine: str) -> str:
        if engine not in self._urls:
            if engine == "sqlite":
                url = f"sqlite:///{self._folder / 'template.db'}"
            else:
                url = self._stack.enter_context(
                    scratch_postgres(PG_ADMIN_URL, prefix="inchannel_template")
                )
            migrated = make_engine(url)
            upgrade(migrated)
            migrated.dispose()  # SQLite folds its WAL into the file; PostgreSQL idles it
            self._urls[engine] = url
        return self._urls[engine]


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedTemplates]:
    with ExitStack() as stack:
        yield MigratedTemplates(tmp_path_factory.mktemp("templates"), stack)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_templates: MigratedTemplates
) -> Iterator[str]:
    """A fresh database: a SQLite file, or a new PostgreSQL database. Empty, or already
    migrated for a test that builds a runtime with ``make_runtime``."""
    migrated = "make_runtime" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        if migrated:
            shutil.copyfile(migrated_templates.url("sqlite").removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"
        return
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    template = migrated_templates.url("postgresql") if migrated else None
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_test", copy_of=template) as url:
        yield url
        _no_sessions_left(url)


def _no_sessions_left(url: str) -> None:
    """Fail the test that left a connection to its database open (an engine it never
    disposed, a thread still holding one): the database is dropped by force, and the
    connection's ResourceWarning then failed whichever later test the garbage
    collector happened to run in, on whichever worker."""
    left = _sessions_on(url)
    if left:
        gc.collect()  # an engine in a reference cycle: its warning belongs to this test
        left = _sessions_on(url)
    if left:
        pytest.fail(f"the test left {len(left)} PostgreSQL session(s) open: {left}")


def _sessions_on(url: str) -> list[str]:
    from sqlalchemy import text

    admin = make_engine(PG_ADMIN_URL)
    try:
        with admin.connect() as conn:
            query = text(
                "SELECT coalesce(nullif(application_name, ''), '?') || ': ' || left(query, 80)"
                " FROM pg_stat_activity WHERE datname = :name"
            )
            return list(conn.execute(query, {"name": url.rsplit("/", 1)[1]}).scalars())
    finally:
        admin.dispose()


def demo_copy(tmp_path: Path) -> Path:
    """The shipped demo config copied into ``tmp_path`` (its rules, answers and samples
    too), on a SQLite file there; returns the copy's inchannel.yaml."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    path = config / "inchannel.yaml"
    text = path.read_text(encoding="utf-8")
    url = f"sqlite:///{tmp_path}/inchannel.db"
    path.write_text(text.replace("sqlite:///../var/inchannel.db", url), encoding="utf-8")
    return path


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """``demo_copy`` migrated and with one `run --once` in it, through the real CLI (the
    sample mentions are cases); returns the config file."""
    from click.testing import CliRunner

    from monitor.cli import main

    path = demo_copy(tmp_path)
    for command in (["db", "upgrade"], ["run", "--once"]):
        result = CliRunner().invoke(main, [*command, "--config", str(path)])
        assert result.exit_code == 0, result.output
    return path


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def mention(n: int, text: str = "@acme my order is late", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "platform": "x",
        "id": str(1000 + n),
        "author": f"user{n}",
        "author_id": str(500 + n),
        "text": text,
        "created_at": "2026-11-20T10:00:00Z",
        "conversation_id": str(1000 + n),
        "in_reply_to": None,
    }
    base.update(extra)
    return base


def settings_for(tmp_path: Path, db_url: str, feed: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "brand": {
            "name": "Acme",
            "accounts": {"x": ["acme", "acmehelp"], "reddit": ["acme_official"]},
        },
        "database": {"url": db_url},
        "sources": [{"name": "feed", "type": "replay", "path": str(feed), "page_size": 5}],
        "responders": {
            "x": {"type": "recording", "path": None},
            "reddit": {"type": "recording", "path": None},
        },
        "rules": {"path": str(REPO / "config" / "rules")},
        # The shipped rules escalate to these teams; an unknown team is a config error.
        "teams": [{"name": n} for n in ("care", "billing", "tech", "international")],
        "base_dir": tmp_path,
    }
    data.update(overrides)
    return Settings.model_validate(data)


RuntimeFactory = Callable[..., Runtime]


@pytest.fixture
def make_runtime(tmp_path: Path, db_url: str) -> Iterator[RuntimeFactory]:
    """Build a migrated Runtime over a replay feed, with a FakeClock."""
    built: list[Runtime] = []

    def factory(rows: list[dict[str, Any]] | None = None, **overrides: Any) -> Runtime:
        feed = write_jsonl(tmp_path / f"feed{len(built)}.jsonl", rows or [])
        settings = settings_for(tmp_path, db_url, feed, **overrides)
        rt = build_runtime(settings, clock=FakeClock())
        if not built:
            upgrade(rt.engine)
        built.append(rt)
        return rt

    yield factory
    for rt in built:
        rt.engine.dispose()
