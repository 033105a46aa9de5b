"""Queue text search ignores case for every script, on both engines and whatever the
PostgreSQL database's locale."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import column, create_engine, text
from sqlalchemy.dialects import postgresql

from monitor.clock import FakeClock
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime, build_runtime
from monitor.store.db import upgrade
from monitor.store.textsearch import contains_ignoring_case
from monitor.web.users import create_user
from tests.conftest import PG_ADMIN_URL, PG_OK, RuntimeFactory, mention, settings_for, write_jsonl
from tests.webkit import TEAMS, api_client, seeded

ROWS = [
    mention(1, "@acme Herr Müller wartet seit Tagen auf die Lieferung"),
    mention(2, "@acme Ο Σίσυφος περιμένει ακόμα την παραγγελία"),
    mention(3, "@acme my order is late", author="ÖZLEM_K"),
    mention(4, "@acme the Straße delivery is late"),
    mention(5, "@acme 100% late, order_7 never came"),
]


def _found(rt: Runtime, q: str) -> set[str]:
    answer = api_client(rt, "lena").get("/api/cases", params={"q": q})
    assert answer.status_code == 200, answer.text
    return {row["handle"] for row in answer.json()["cases"]}


def _assert_unicode_case_ignored(rt: Runtime) -> None:
    assert _found(rt, "MÜLLER") == {"user1"}
    assert _found(rt, "müller") == {"user1"}
    # Greek capitals, the last one a word-final sigma in the stored text (ς).
    assert _found(rt, "ΣΊΣΥΦΟΣ") == {"user2"}
    # The author's handle too.
    assert _found(rt, "özlem_k") == {"ÖZLEM_K"}
    assert _found(rt, "STRASSE") <= {"user4"}  # casefold on SQLite; lower() has no ß → ss
    assert _found(rt, "STRAßE") == {"user4"}
    # What a person types is still searched for literally.
    assert _found(rt, "100%") == {"user5"}
    assert _found(rt, "0% L") == {"user5"}
    assert _found(rt, "%") == {"user5"}
    assert _found(rt, "ORDER_7") == {"user5"}
    assert _found(rt, "order_") == {"user5"}
    assert _found(rt, "r_7") == {"user5"}
    assert _found(rt, "rder7") == set()


def test_search_ignores_case_beyond_ascii(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime, ROWS)
    _assert_unicode_case_ignored(rt)


def test_search_folds_german_sharp_s_on_sqlite(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime, ROWS)
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL before 18 has no case folding, only lower()")
    assert _found(rt, "STRASSE") == {"user4"}


@contextmanager
def _c_locale_database() -> Iterator[str]:
    """A UTF8 database whose ctype is "C": its lower() and ILIKE fold ASCII only."""
    name = f"inchannel_clocale_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(
                text(
                    f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                    "LC_COLLATE 'C' LC_CTYPE 'C'"
                )
            )
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_search_ignores_case_beyond_ascii_in_a_c_locale_database(tmp_path: Path) -> None:
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with _c_locale_database() as url:
        feed = write_jsonl(tmp_path / "feed.jsonl", ROWS)
        rt = build_runtime(settings_for(tmp_path, url, feed, teams=TEAMS), clock=FakeClock())
        try:
            upgrade(rt.engine)
            run_cycle(rt)
            create_user(rt, "lena", "lead", "correct horse battery", ("care",))
            _assert_unicode_case_ignored(rt)
        finally:
            rt.engine.dispose()


def test_without_icu_postgresql_searches_in_the_database_locale() -> None:
    """A server built without ICU has no "und-x-icu": the search must still run there."""
    sql = str(
        contains_ignoring_case(column("text"), "Müller").compile(dialect=postgresql.dialect())
    )
    assert "COLLATE" not in sql
    assert "ILIKE" in sql


def test_search_takes_the_turkish_dotted_and_dotless_i_for_i(make_runtime: RuntimeFactory) -> None:
    # "İ" folds to "i" and a combining dot, so "iade" (refund) did not find "İADE", nor
    # "İade" typed on a Turkish keyboard "iade"; and "KIRMIZI" (kırmızı) folds to
    # "kirmizi", so "kırmızı" did not find it. Without the customer's locale, each
    # of İ, I, ı and i is taken for the others.
    rt = seeded(
        make_runtime,
        [
            mention(1, "@acme İADE EDİN lütfen"),
            mention(2, "@acme iade istiyorum"),
            mention(3, "@acme KIRMIZI kazak gelmedi"),
            mention(4, "@acme kırmızı kazak gelmedi"),
        ],
    )
    for q in ("iade", "İade", "İADE", "IADE", "ıade"):
        assert _found(rt, q) == {"user1", "user2"}, q
    for q in ("kırmızı", "KIRMIZI", "kirmizi", "Kırmızı"):
        assert _found(rt, q) == {"user3", "user4"}, q
    assert _found(rt, "edin") == {"user1"}


def test_search_finds_a_handle_written_as_the_platform_writes_it(
    make_runtime: RuntimeFactory,
) -> None:
    # Handles are stored and shown bare; "@jane_doe" copied from X, or "u/red_panda" from
    # Reddit, found no case unless a message happened to quote it.
    rows = [
        mention(1, "@acme my order is late", author="jane_doe"),
        mention(2, "@acme my order is late", author="Red_Panda", platform="reddit"),
        mention(3, "@acme ask @jane_doe, she knows"),
    ]
    rt = seeded(make_runtime, rows)
    assert _found(rt, "@jane_doe") == {"jane_doe", "user3"}  # user3's message names her
    assert _found(rt, "@JANE_DOE") == {"jane_doe", "user3"}
    assert _found(rt, "u/red_panda") == {"Red_Panda"}
    assert _found(rt, "/u/Red_Panda") == {"Red_Panda"}
    # A message's text is still searched as typed.
    assert _found(rt, "ask @jane") == {"user3"}
