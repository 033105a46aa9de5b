"""Substring search that ignores case in every script, on both engines.

SQLite's LIKE and lower() fold ASCII letters only, so "MÜLLER" did not find "Müller";
PostgreSQL's ILIKE folds as the database's ctype does, which is ASCII only under "C" and
misses the word-final sigma under C.UTF-8. Here SQLite calls Python's str.casefold
through a function registered on each connection, and PostgreSQL lower-cases with ICU's
root locale when the server has it (the database's own locale then no longer matters).
No migration: nothing is stored folded, every search folds as it reads.
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

# The PostgreSQL dialects (one per engine) whose server has ICU's root collation.
_WITH_ICU: WeakSet[Dialect] = WeakSet()


def contains_folded(text: str | None, needle: str) -> bool:
    """SQLite's side: ``needle`` (already case-folded) occurs in ``text``, case-folded.
    A plain substring test: what a person types is searched for literally."""
    return text is not None and needle in text.casefold()


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
    return _ContainsFolded(column, literal(needle.casefold()), literal(like_pattern(needle)))


@compiles(_ContainsFolded, "sqlite")
def _sqlite(element: _ContainsFolded, compiler: SQLCompiler, **kw: Any) -> str:
    column, folded, _pattern = list(element.clauses)
    return f"{SQLITE_CONTAINS}({compiler.process(column, **kw)}, {compiler.process(folded, **kw)})"


@compiles(_ContainsFolded)
def _default(element: _ContainsFolded, compiler: SQLCompiler, **kw: Any) -> str:
    column, _folded, pattern = list(element.clauses)
    subject = compiler.process(column, **kw)
    if compiler.dialect in _WITH_ICU:
        # ILIKE lower-cases both sides in the expression's collation.
        subject = f'({subject} COLLATE "{ICU_ROOT}")'
    escape = compiler.render_literal_value("\\", String())
    return f"{subject} ILIKE {compiler.process(pattern, **kw)} ESCAPE {escape}"
