"""Substring search that ignores case in every script, on both engines.

SQLite's LIKE and lower() fold ASCII letters only, so "MÜLLER" did not find "Müller";
PostgreSQL's ILIKE folds as the database's ctype does, which is ASCII only under "C" and
misses the word-final sigma under C.UTF-8. Here SQLite calls Python's str.casefold
through a function registered on each connection, and PostgreSQL lower-cases with ICU's
root locale when the server has it (the database's own locale then no longer matters).
No migration: nothing is stored folded, every search folds as it reads.

Turkish and Azeri have two i's (İ/i, I/ı), which no fold without the writer's locale
gets right: "İ" folds to "i" plus a combining dot, so "iade" missed "İADE", and
"KIRMIZI" folds to "kirmizi", which "kırmızı" missed. Both sides take İ and ı for i
first (as a person typing without the Turkish keyboard does).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakSet

from sqlalchemy import Boolean, ColumnElement, ColumnExpressionArgument, Dialect, String, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SQLITE_CONTAINS = "inchannel_contains_folded"
ICU_ROOT = "und-x-icu"
ICU_PROBE = "SELECT 1 FROM pg_collation WHERE collname = %s"

# Replaced one after the other: str.translate and PostgreSQL's translate() measured
# several times slower than two replaces.
TURKISH_I = ("İ", "ı")

# The PostgreSQL dialects (one per engine) whose server has ICU's root collation.
_WITH_ICU: WeakSet[Dialect] = WeakSet()


def as_i(text: str) -> str:
    return text.replace(TURKISH_I[0], "i").replace(TURKISH_I[1], "i")


def folded(text: str) -> str:
    return as_i(text).casefold()


def contains_folded(text: str | None, needle: str) -> bool:
    """SQLite's side: ``needle`` (already folded) occurs in ``text``, folded.
    A plain substring test: what a person types is searched for literally."""
    return text is not None and needle in folded(text)


def register_sqlite(dbapi_conn: Any) -> None:
    # deterministic: SQLite may then use it wherever a built-in function is allowed.
    dbapi_conn.create_function(SQLITE_CONTAINS, 2, contains_folded, deterministic=True)


def note_postgres_icu(dialect: Dialect, dbapi_conn: Any) -> None:
    """Remember whether the server has ICU (most packaged builds do); without it,
    search falls back to ILIKE in the database's locale."""
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute(ICU_PROBE, (ICU_ROOT,))
        found = cursor.fetchone() is not None
    finally:
        cursor.close()
    if found:
        _WITH_ICU.add(dialect)


class _ContainsFolded(FunctionElement[bool]):
    """column, needle case-folded, needle as an escaped LIKE pattern. Both forms are
    bound parameters, so the statement cache never keeps one search's text."""

    type = Boolean()
    name = "contains_folded"
    inherit_cache = True


def like_pattern(text: str) -> str:
    """``text`` anywhere, with LIKE's wildcards and escape character taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains_ignoring_case(
    column: ColumnExpressionArgument[str], needle: str
) -> ColumnElement[bool]:
    """``needle`` occurs in ``column``, ignoring case in every script."""
    pattern = like_pattern(as_i(needle))
    return _ContainsFolded(column, literal(folded(needle)), literal(pattern))


@compiles(_ContainsFolded, "sqlite")
def _sqlite(element: _ContainsFolded, compiler: SQLCompiler, **kw: Any) -> str:
    column, folded, _pattern = list(element.clauses)
    return f"{SQLITE_CONTAINS}({compiler.process(column, **kw)}, {compiler.process(folded, **kw)})"


@compiles(_ContainsFolded)
def _default(element: _ContainsFolded, compiler: SQLCompiler, **kw: Any) -> str:
    column, _folded, pattern = list(element.clauses)
    subject = compiler.process(column, **kw)
    i = compiler.render_literal_value("i", String())
    for letter in TURKISH_I:
        subject = f"replace({subject}, {compiler.render_literal_value(letter, String())}, {i})"
    if compiler.dialect in _WITH_ICU:
        # ILIKE lower-cases both sides in the expression's collation.
        subject = f'({subject} COLLATE "{ICU_ROOT}")'
    escape = compiler.render_literal_value("\\", String())
    return f"{subject} ILIKE {compiler.process(pattern, **kw)} ESCAPE {escape}"
