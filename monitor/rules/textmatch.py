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
from dataclasses import dataclass
from typing import Any

# re._parser is the stdlib's own pattern parser; typeshed has no stubs for it.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")

MODES = ("includes-word", "includes", "starts-with", "ends-with", "full-exact")
MODIFIERS = (*MODES, "regex", "case-sensitive")
MAX_PATTERN_CHARS = 1_000
# An outer repeat this large around an unbounded one is treated like an unbounded one.
_LARGE_REPEAT = 10

_WORD = re.compile(r"\w+")
# Phones type ’ for ' ("hasn’t"): rules and mentions both read typographic apostrophes
# as the ASCII one, so a rule written with either matches text typed with either.
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})

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
            f"regex {pattern!r} repeats a group that can match the same text in more than "
            "one way (a repeat inside a repeat, or overlapping alternatives), which can "
            "backtrack catastrophically on hostile text; rewrite it"
        )
    return None


@dataclass(frozen=True, slots=True)
class CompiledText:
    """A text condition compiled for speed; see Pattern in monitor.rules.checks."""

    full: re.Pattern[str]  # every value; finds {match} as the customer wrote it
    words: tuple[str, ...] = ()  # single whole words, answered from the mention's word set
    rest: re.Pattern[str] | None = None  # the other values, searched as a regex
    prefilter: tuple[str, ...] = ()  # literals one of which ``rest`` needs
    index: frozenset[str] | None = None  # first words, for the engine's rule index


def compile_text(values: Sequence[str], modifiers: Sequence[str]) -> CompiledText:
    values = [value.translate(APOSTROPHES) for value in values]
    is_regex = "regex" in modifiers
    mode = next((m for m in modifiers if m in MODES), "includes" if is_regex else "includes-word")
    flags = 0 if "case-sensitive" in modifiers else re.IGNORECASE
    full = _combined(values, mode, flags, is_regex)
    if is_regex:
        return CompiledText(full, rest=full, prefilter=_regex_literals(values))
    if mode != "includes-word":
        return CompiledText(full, rest=full)
    # Lower-cased comparisons are exact for ASCII values (re.IGNORECASE and str.lower
    # agree on ASCII), so only ASCII values take the fast paths.
    ascii_insensitive = flags == re.IGNORECASE
    words = tuple(v.lower() for v in values if ascii_insensitive and _single_word(v))
    rest_values = [v for v in values if v.lower() not in words]
    rest = _combined(rest_values, mode, flags, False) if rest_values else None
    literals = tuple(v.lower() for v in rest_values)
    prefilter = literals if all(v.isascii() for v in rest_values) else ()
    return CompiledText(full, words, rest, prefilter, index_tokens(values))


def _combined(values: Sequence[str], mode: str, flags: int, is_regex: bool) -> re.Pattern[str]:
    if is_regex:
        alternatives = "|".join(f"(?:{v})" for v in values)
    else:
        # Longest first, so "not working" wins over "working" and is what {match} shows.
        alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(_WRAPPERS[mode].format(alternatives), flags)


def _regex_literals(patterns: Sequence[str]) -> tuple[str, ...]:
    """One literal each pattern cannot match without (lower-cased), or () if some
    pattern has none: the literal characters at the top level of a pattern are
    mandatory, so the longest such run must occur in any text the pattern matches."""
    literals = []
    for pattern in patterns:
        runs, run = [], ""
        for op, argument in _parser.parse(pattern):
            if str(op) == "LITERAL" and chr(argument).isascii():
                run += chr(argument)
                continue
            if str(op) == "BRANCH":
                return ()  # an alternation: no single character is mandatory
            runs.append(run)
            run = ""
        longest = max([*runs, run], key=len)
        if len(longest) < 2:
            return ()
        literals.append(longest.lower())
    return tuple(literals)


def _single_word(value: str) -> bool:
    return value.isascii() and _WORD.fullmatch(value) is not None


def _nested_repeat(items: Any, *, inside_repeat: bool) -> bool:
    for op, argument in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _, high, body = argument
            unbounded = high == _constants.MAXREPEAT
            if inside_repeat and unbounded:
                return True
            repeats_much = unbounded or high >= _LARGE_REPEAT
            if _nested_repeat(body, inside_repeat=inside_repeat or repeats_much):
                return True
        elif (name == "BRANCH" and inside_repeat and _overlapping(argument[1])) or any(
            _nested_repeat(child, inside_repeat=inside_repeat)
            for child in _children(name, argument)
        ):
            return True
    return False


def _overlapping(alternatives: list[Any]) -> bool:
    """Whether alternatives of a repeated group may match the same text: then a failing
    match tries every way of splitting the text among them, e.g. ``(a|aa)*`` or
    ``(.|\\s)*``. Only alternatives starting with different literal characters are
    known to be disjoint (the parser already merges ``(x|y)`` into a class)."""
    firsts = []
    for alternative in alternatives:
        items = list(alternative)
        if not items or str(items[0][0]) != "LITERAL":
            return True
        firsts.append(chr(items[0][1]).lower())
    return len(set(firsts)) < len(firsts)


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


def index_tokens(values: Sequence[str]) -> frozenset[str] | None:
    """For whole-word values, the first word of each: a mention can only match if it
    contains one of them as a whole word (the value starts at a word boundary, and its
    first word ends at a non-word character or at the value's end, which is a boundary
    too). None for values starting with punctuation or emoji, or non-ASCII ones."""
    tokens = set()
    for value in values:
        first = _WORD.match(value.lower())
        if not value.isascii() or first is None:
            return None
        tokens.add(first.group(0))
    return frozenset(tokens)


def words_of(lowered_text: str) -> set[str]:
    return set(_WORD.findall(lowered_text))
