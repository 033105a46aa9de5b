"""Text conditions: words, phrases and regexes, compiled once, with a backtracking guard.

Python's ``re`` has no timeout, so a pattern that can backtrack catastrophically
(``(a+)+``, ``(.*a){20}``) would let one hostile mention stall the daemon. Such patterns
are rejected at load time by walking the parsed pattern for nested unbounded repeats.
"""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Sequence
from typing import Any

# re._parser is the stdlib's own pattern parser; typeshed has no stubs for it.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")

MODES = ("includes-word", "includes", "starts-with", "ends-with", "full-exact")
MODIFIERS = (*MODES, "regex", "case-sensitive")
MAX_PATTERN_CHARS = 1_000
# An outer repeat this large around an unbounded one is treated like an unbounded one.
_LARGE_REPEAT = 10

_WRAPPERS = {
    "includes-word": r"(?<!\w)(?:{})(?!\w)",
    "includes": "(?:{})",
    "starts-with": r"\A(?:{})",
    "ends-with": r"(?:{})\Z",
    "full-exact": r"\A(?:{})\Z",
}


def check_modifiers(modifiers: Sequence[str]) -> str | None:
    """An error message for unknown or conflicting modifiers, or None."""
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            guess = difflib.get_close_matches(modifier, MODIFIERS, n=1)
            hint = (
                f"; did you mean {guess[0]!r}?" if guess else f"; allowed: {', '.join(MODIFIERS)}"
            )
            return f"unknown modifier {modifier!r}{hint}"
    modes = [m for m in modifiers if m in MODES]
    if len(modes) > 1:
        return f"choose one match mode, not {' and '.join(modes)}"
    return None


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used, or None."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"regex is longer than {MAX_PATTERN_CHARS} characters"
    try:
        parsed = _parser.parse(pattern)
    except re.error as exc:
        return f"invalid regex: {exc}"
    if _nested_repeat(parsed, inside_repeat=False):
        return (
            f"regex {pattern!r} nests a repeat inside a repeat, which can backtrack "
            "catastrophically on hostile text; rewrite it without the nesting"
        )
    return None


def compile_text(
    values: Sequence[str], modifiers: Sequence[str]
) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """The combined pattern for a list of values, and literals for the substring prefilter."""
    is_regex = "regex" in modifiers
    mode = next((m for m in modifiers if m in MODES), "includes" if is_regex else "includes-word")
    if is_regex:
        alternatives = "|".join(f"(?:{v})" for v in values)
    else:
        # Longest first, so "not working" wins over "working" and is what {match} shows.
        alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    flags = 0 if "case-sensitive" in modifiers else re.IGNORECASE
    pattern = re.compile(_WRAPPERS[mode].format(alternatives), flags)
    # The prefilter compares lower-cased text with lower-cased literals; it is exact for
    # ASCII literals, so it is only used when every value is ASCII.
    usable = not is_regex and all(v.isascii() for v in values)
    return pattern, tuple(v.lower() for v in values) if usable else ()


def _nested_repeat(items: Any, *, inside_repeat: bool) -> bool:
    for op, argument in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, body = argument
            del low
            unbounded = high == _constants.MAXREPEAT
            if inside_repeat and unbounded:
                return True
            if (unbounded or high >= _LARGE_REPEAT) and _nested_repeat(body, inside_repeat=True):
                return True
            if _nested_repeat(body, inside_repeat=inside_repeat):
                return True
        elif any(
            _nested_repeat(child, inside_repeat=inside_repeat)
            for child in _children(name, argument)
        ):
            return True
    return False


def _children(name: str, argument: Any) -> list[Any]:
    if name == "SUBPATTERN":
        return [argument[-1]]
    if name == "BRANCH":
        return list(argument[1])
    if name in ("ASSERT", "ASSERT_NOT"):
        return [argument[1]]
    if name == "ATOMIC_GROUP":
        return [argument]
    if name == "GROUPREF_EXISTS":
        return [branch for branch in argument[1:] if branch is not None]
    return []
