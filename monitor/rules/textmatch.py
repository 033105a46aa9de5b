"""Text conditions: words, phrases and regexes, compiled once, with a backtracking guard.

Python's ``re`` has no timeout, so a pattern that can backtrack catastrophically
(``(a+)+``, ``(.*a){20}``) would let one hostile mention stall the daemon. Such patterns
are rejected at load time by walking the parsed pattern for repeats whose passes can
split the same text in more than one way, and for unbounded repeats nested in large ones.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.scoring.text import INVISIBLE
from monitor.yamlpos import did_you_mean

# re._parser is the stdlib's own pattern parser; typeshed has no stubs for it.
_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")
_compiler: Any = importlib.import_module("re._compiler")

MODES = ("includes-word", "includes", "starts-with", "ends-with", "full-exact")
MODIFIERS = (*MODES, "regex", "case-sensitive")
MAX_PATTERN_CHARS = 1_000
# An outer repeat this large around an unbounded one is treated like an unbounded one.
_LARGE_REPEAT = 10
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_ONE_CHARACTER = ("LITERAL", "NOT_LITERAL", "ANY", "IN", "CATEGORY")
# Stand-ins for "any character" when asking whether two items can match the same one:
# Latin-1, plus other scripts, digits, spaces and the odd case folds.
_PROBES = "".join(map(chr, range(256))) + (
    "\u0130\u0131\u017f\u212a\u2019\u2028\u3000\u4e2d\u0436\u0663\U0001f600"
)
_ANY_CHARACTER = frozenset(_PROBES)
_LOOSE = re.IGNORECASE | re.DOTALL | re.UNICODE
_CHARACTER_CACHE: dict[str, frozenset[str]] = {}

_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"(\s+)")
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")
# Phones type ’ for ' ("hasn’t"): rules and mentions both read typographic apostrophes
# as the ASCII one, so a rule written with either matches text typed with either.
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def as_read(text: str) -> str:
    """``text`` as a reader sees it: X users style words with text generators
    ("𝐢𝐝𝐢𝐨𝐭𝐬", "ｉｄｉｏｔｓ") and zero-width characters hide a word from a
    filter, so NFKC folds the styles and invisible characters (with U+FE0F and skin
    tones) are dropped, as the scorer and the deflection guard read text."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFKC", text).translate(INVISIBLE).translate(APOSTROPHES)


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
            hint = did_you_mean(modifier, MODIFIERS) or f"; allowed: {', '.join(MODIFIERS)}"
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
        nested = _nested_repeat(parsed, inside_repeat=False)
        adjacent = _adjacent_long_repeats(parsed)
    except re.error as exc:
        return f"invalid regex: {exc}"
    except OverflowError as exc:  # a count past Python's limit, e.g. \d{4294967296}
        return f"invalid regex: {exc}"
    except RecursionError:
        # Python's parser, and our walk of its tree, recurse once per group: a few
        # hundred nested groups fit in 1,000 characters.
        return "regex nests groups too deeply"
    if nested:
        return (
            f"regex {pattern!r} repeats a group that can match the same text in more than "
            "one way (a repeat inside a repeat, or overlapping alternatives), which can "
            "backtrack catastrophically on hostile text; rewrite it"
        )
    if adjacent:
        return (
            f"regex {pattern!r} has two unbounded repeats in a row that can match the same "
            "characters (as in '\\S+@\\S+' or '.*a.*b'; a backreference to a group "
            "holding one, as in '(a+)\\1', counts as another), which can backtrack "
            "catastrophically on hostile text; make the first stop where the second starts "
            "('[^@\\s]+@\\S+') or bound one ('.{0,100}')"
        )
    return None


class Searcher(Protocol):
    """What a text check needs of a compiled pattern: re.Pattern, or AnyOf."""

    @property
    def pattern(self) -> str: ...

    @property
    def flags(self) -> int: ...

    def search(self, string: str, /) -> re.Match[str] | None: ...


class AnyOf:
    """Several regexes searched as one "any of" (the leftmost match wins, then the
    earlier value), each compiled alone: joined into one pattern, one value's inline
    flags, group names and group numbers would clash with another's."""

    __slots__ = ("flags", "needs", "pattern", "patterns")

    def __init__(
        self, patterns: Sequence[re.Pattern[str]], needs: Sequence[tuple[str, ...]]
    ) -> None:
        self.patterns = tuple(patterns)
        # Per pattern, literals one of which it cannot match without (() if unknown).
        self.needs = tuple(needs)
        # Part of the check's memo key and lint signature, so each value's flags count.
        self.pattern = "|".join(f"{p.flags}:{p.pattern}" for p in patterns)
        self.flags = 0

    def search(self, string: str, /, lowered: str | None = None) -> re.Match[str] | None:
        """``lowered``: the text as Facts.lowered has it; a pattern none of whose needed
        literals occur there is not searched (most of a long list, on most mentions)."""
        best: re.Match[str] | None = None
        for pattern, needs in zip(self.patterns, self.needs, strict=True):
            if lowered is not None and needs and not any(n in lowered for n in needs):
                continue
            hit = pattern.search(string)
            if hit is not None and (best is None or hit.start() < best.start()):
                best = hit
        return best


@dataclass(frozen=True, slots=True)
class CompiledText:
    """A text condition compiled for speed; see Pattern in monitor.rules.checks."""

    full: Searcher  # every value; finds {match} as the customer wrote it
    words: tuple[str, ...] = ()  # single whole words, answered from the mention's word set
    rest: Searcher | None = None  # the other values, searched as a regex
    prefilter: tuple[str, ...] = ()  # literals one of which ``rest`` needs
    index: frozenset[str] | None = None  # first words, for the engine's rule index
    keywords: frozenset[str] | None = None  # a word of each phrase of ``prefilter``


def compile_text(values: Sequence[str], modifiers: Sequence[str]) -> CompiledText:
    is_regex = "regex" in modifiers
    # A regex is the author's syntax: NFKC would turn a full-width "（" into a group.
    values = [value.translate(APOSTROPHES) if is_regex else as_read(value) for value in values]
    mode = next((m for m in modifiers if m in MODES), "includes" if is_regex else "includes-word")
    flags = 0 if "case-sensitive" in modifiers else re.IGNORECASE
    if is_regex:
        needs = [required_literals(value) for value in values]
        found = _regexes(values, mode, flags, needs)
        prefilter = () if () in needs else tuple(dict.fromkeys(n for ns in needs for n in ns))
        return CompiledText(found, rest=found, prefilter=prefilter)
    full = _combined(values, mode, flags)
    if mode != "includes-word":
        # Each value is still in the text wherever it starts or ends: "RT @" and 👎 are
        # looked up (and indexed) as literals instead of searched on every mention.
        return CompiledText(full, rest=full, prefilter=_literals(values))
    # Lower-cased comparisons are exact for ASCII values (re.IGNORECASE and str.lower
    # agree on ASCII), so only ASCII values take the fast paths.
    ascii_insensitive = flags == re.IGNORECASE
    words = tuple(v.lower() for v in values if ascii_insensitive and _single_word(v))
    rest_values = [v for v in values if v.lower() not in words]
    rest = _combined(rest_values, mode, flags) if rest_values else None
    prefilter = _literals(rest_values)
    keywords = key_words(prefilter) if prefilter else None
    return CompiledText(full, words, rest, prefilter, index_tokens(values), keywords)


def _literals(values: Sequence[str]) -> tuple[str, ...]:
    """The values as the literal prefilters look for them in Facts.lowered, or () when
    one has a character with case beyond ASCII: re.IGNORECASE and str.lower agree on
    ASCII (Facts folds the odd exceptions), and both leave a character without case
    (an emoji, a symbol) as it is; "İ" or "ß" they do not treat alike."""
    if not all(ch.isascii() or ch.lower() == ch == ch.upper() for v in values for ch in v):
        return ()
    return tuple(one_space(v.lower()) for v in values)


def key_words(phrases: Sequence[str]) -> frozenset[str] | None:
    """The longest word of each of ``phrases`` (lower-cased, ASCII), or None when one
    has no word. A phrase matched whole, with no word character either side, holds
    each of its words as a whole word of the text: a mention whose words include none
    of these holds none of the phrases."""
    found = set()
    for phrase in phrases:
        runs = _WORD.findall(phrase)
        if not runs:
            return None
        found.add(max(runs, key=len))  # the longest, likely the rarest
    return frozenset(found)


def _combined(values: Sequence[str], mode: str, flags: int) -> re.Pattern[str]:
    # Longest first, so "not working" wins over "working" and is what {match} shows.
    alternatives = "|".join(_spaced(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(_WRAPPERS[mode].format(alternatives), flags)


def one_space(text: str) -> str:
    """``text`` with each run of whitespace as one space. The literal prefilters look in
    the mention's text so spaced (``Facts.lowered``) for a value so spaced: if a value
    occurs in a text, it occurs so in the text so spaced, and a phrase whose spaces
    match any run (_spaced) is still looked up whole, not by one of its words."""
    return _SPACES.sub(" ", text)


def _spaced(value: str) -> str:
    """``value`` escaped, with each run of whitespace matching any run: customers type
    "not  working" or break the line between the words of a phrase."""
    return "".join(
        r"\s+" if part.isspace() else re.escape(part) for part in _SPACES.split(value) if part
    )


def _regexes(
    values: Sequence[str], mode: str, flags: int, needs: Sequence[tuple[str, ...]]
) -> Searcher:
    """Each regex value compiled as if it were the only one; raises re.error."""
    patterns = []
    for value in values:
        body, own_flags = _without_global_flags(value)
        if own_flags & re.VERBOSE:
            body += "\n"  # ends a trailing "# comment" before the wrapper's ")"
        patterns.append(re.compile(_WRAPPERS[mode].format(body), flags | own_flags))
    return patterns[0] if len(patterns) == 1 else AnyOf(patterns, needs)


def _without_global_flags(value: str) -> tuple[str, int]:
    """A regex without its leading global flags such as ``(?i)``, and those flags:
    Python takes them only at the very start of a pattern, where the mode's wrapper
    now stands."""
    own_flags = _parser.parse(value).state.flags & ~re.UNICODE
    while (found := _GLOBAL_FLAGS.match(value)) is not None:
        value = value[found.end() :]
    return value, own_flags


def required_literals(pattern: str) -> tuple[str, ...]:
    """Lower-cased literals one of which any text ``pattern`` matches holds, or () when
    none of two characters or more is known. Literal characters in sequence are
    mandatory; so is one alternative of a group (``(trips?|tripped)`` needs "trip" or
    "tripped") and the body of a repeat taken at least once. Lookarounds match no text
    and are not read."""
    try:
        found = _needed(_parser.parse(pattern))
    except (re.error, OverflowError, RecursionError):
        return ()  # reported by regex_problem; a filter is only a shortcut
    if found is None or min(map(len, found)) < 2:
        return ()
    return tuple(one_space(literal.lower()) for literal in found)


def _needed(items: Any) -> tuple[str, ...] | None:
    """The best set of literals a match of the sequence ``items`` needs: the one whose
    shortest literal is longest (the rarest in text), then the smallest."""
    options: list[tuple[str, ...] | None] = []
    run = ""
    for op, argument in items:
        name = str(op)
        if name == "LITERAL" and chr(argument).isascii():
            run += chr(argument)  # ASCII only: str.lower() folds it as re.IGNORECASE does
            continue
        options.append((run,) if run else None)
        run = ""
        if name == "SUBPATTERN":
            options.append(_needed(argument[-1]))
        elif name == "BRANCH":
            alternatives = [_needed(alternative) for alternative in argument[1]]
            if all(alternatives):
                options.append(tuple(dict.fromkeys(n for a in alternatives for n in a or ())))
        elif name in _REPEATS and argument[0] >= 1:
            options.append(_needed(argument[2]))
    options.append((run,) if run else None)
    known = [option for option in options if option]
    return max(known, key=lambda o: (min(map(len, o)), -len(o)), default=None)


def _single_word(value: str) -> bool:
    return value.isascii() and _WORD.fullmatch(value) is not None


def _nested_repeat(items: Any, *, inside_repeat: bool) -> bool:
    for op, argument in items:
        name = str(op)
        if name in _REPEATS:
            _, high, body = argument
            unbounded = high == _constants.MAXREPEAT
            if inside_repeat and unbounded:
                return True
            if high > 1 and _ambiguous_passes(body):
                return True
            repeats_much = unbounded or high >= _LARGE_REPEAT
            if _nested_repeat(body, inside_repeat=inside_repeat or repeats_much):
                return True
        elif any(
            _nested_repeat(child, inside_repeat=inside_repeat)
            for child in _children(name, argument)
        ):
            return True
    return False


def _adjacent_long_repeats(items: Any, groups: dict[int, Any] | None = None) -> bool:
    """Whether some sequence in the pattern has an unbounded repeat followed, with only
    text it can also take in between, by another repeat able to continue it: a failing
    search then tries every way of cutting a run between the two at every start, some
    n³ steps (``\\S+@\\S+\\.com`` takes minutes on 10,000 characters of "a@"), though
    neither repeat is inside the other. Either may stand at the edge of a group, an
    alternative or a conditional's branch (``(?:\\w+|b)\\w+``), and a backreference to a
    group that ends in one repeats its characters again (``(a+)\\1b``)."""
    if groups is None:
        groups = _groups(items)
    sequence = _flattened(items)
    for i, (op, argument) in enumerate(sequence):
        name = str(op)
        rest = sequence[i + 1 :]
        if any(_continued(rest, taken, groups) for taken in _tails((op, argument), groups)):
            return True
        if any(_adjacent_long_repeats(child, groups) for child in _children(name, argument)):
            return True
        if name in _REPEATS and _adjacent_long_repeats(argument[2], groups):
            return True
    return False


def _groups(items: Any) -> dict[int, Any]:
    """Each numbered group's items, for the backreferences to it."""
    found: dict[int, Any] = {}
    for op, argument in items:
        name = str(op)
        if name == "SUBPATTERN" and argument[0] is not None:
            found[argument[0]] = argument[-1]
        children = [argument[2]] if name in _REPEATS else _children(name, argument)
        for child in children:
            found.update(_groups(child))
    return found


def _long(high: int) -> bool:
    # Up to 100 passes, two bounded repeats cut a run at most 100 x 100 ways a start.
    return bool(high == _constants.MAXREPEAT or high > 100)


def _flattened(items: Any) -> list[Any]:
    """``items`` with plain groups opened up: ``(\\w+)\\s*(\\w+)`` is one sequence."""
    out: list[Any] = []
    for op, argument in items:
        if str(op) == "SUBPATTERN":
            out.extend(_flattened(argument[-1]))
        else:
            out.append((op, argument))
    return out


def _tails(item: Any, groups: dict[int, Any]) -> list[frozenset[str]]:
    """The characters of each long repeat a match of ``item`` can end in, with only text
    that repeat could also take after it: what a repeat next may cut anew. A possessive
    repeat or an atomic group gives nothing back, so it is never cut anew."""
    op, argument = item
    name = str(op)
    if name in ("MAX_REPEAT", "MIN_REPEAT"):
        if _long(argument[1]):
            return [_consumed(argument[2])]
        return _sequence_tails(argument[2], groups)  # its last pass ends as its body does
    if name not in ("SUBPATTERN", "BRANCH", "GROUPREF_EXISTS"):
        return []
    return [
        taken for branch in _children(name, argument) for taken in _sequence_tails(branch, groups)
    ]


def _sequence_tails(items: Any, groups: dict[int, Any]) -> list[frozenset[str]]:
    sequence = _flattened(items)
    found = []
    for i, item in enumerate(sequence):
        for taken in _tails(item, groups):
            if all(_absorbed(after, taken, groups) for after in sequence[i + 1 :]):
                found.append(taken)
    return found


def _continued(rest: Any, taken: frozenset[str], groups: dict[int, Any]) -> bool:
    """Whether a long repeat starting with one of ``taken`` comes next in ``rest``, with
    nothing before it that a repeat taking ``taken`` could not also match."""
    for item in rest:
        if _leads(item, taken, groups):
            return True
        if not _absorbed(item, taken, groups):
            return False
    return False


def _leads(item: Any, taken: frozenset[str], groups: dict[int, Any]) -> bool:
    """Whether a match of ``item`` can start with a long repeat taking one of ``taken``."""
    op, argument = item
    name = str(op)
    if name in _REPEATS:
        if _long(argument[1]):
            return bool(_start(argument[2])[0] & taken)
        return _continued(argument[2], taken, groups)
    if name in ("SUBPATTERN", "ATOMIC_GROUP", "BRANCH", "GROUPREF_EXISTS"):
        return any(_continued(child, taken, groups) for child in _children(name, argument))
    if name == "GROUPREF":
        # The group's text again: as long as the repeat in it, and cut anew with it.
        group = groups.get(argument, [])
        return _holds_long_repeat(group) and bool(_consumed(group) & taken)
    return False


def _holds_long_repeat(items: Any) -> bool:
    for op, argument in items:
        name = str(op)
        if name in _REPEATS and (_long(argument[1]) or _holds_long_repeat(argument[2])):
            return True
        if any(_holds_long_repeat(child) for child in _children(name, argument)):
            return True
    return False


def _absorbed(item: Any, taken: frozenset[str], groups: dict[int, Any]) -> bool:
    """Whether ``item`` can match nothing, or only characters among ``taken``."""
    op, argument = item
    name = str(op)
    if name in _ONE_CHARACTER:
        return bool(_characters(item) & taken)
    if name in _REPEATS:
        return bool(argument[0] == 0 or all(_absorbed(i, taken, groups) for i in argument[2]))
    if name == "SUBPATTERN":
        return all(_absorbed(i, taken, groups) for i in argument[-1])
    if name == "ATOMIC_GROUP":
        return all(_absorbed(i, taken, groups) for i in argument)
    if name == "BRANCH":
        return any(all(_absorbed(i, taken, groups) for i in branch) for branch in argument[1])
    if name == "GROUPREF_EXISTS":
        # A missing branch matches nothing.
        branches = [branch or [] for branch in argument[1:]]
        return any(all(_absorbed(i, taken, groups) for i in branch) for branch in branches)
    if name == "GROUPREF":
        # The group's text again: empty if the group can be, else the group's characters.
        group = groups.get(argument, [])
        return _start(group)[1] or bool(_consumed(group) & taken)
    return name in ("AT", "ASSERT", "ASSERT_NOT")


def _consumed(items: Any) -> frozenset[str]:
    """Every character some one-character item in ``items`` can match."""
    found: set[str] = set()
    for op, argument in items:
        name = str(op)
        if name in _ONE_CHARACTER:
            found |= _characters((op, argument))
        elif name in _REPEATS:
            found |= _consumed(argument[2])
        elif name not in ("ASSERT", "ASSERT_NOT"):
            for child in _children(name, argument):
                found |= _consumed(child)
    return frozenset(found)


def _ambiguous_passes(body: Any) -> bool:
    """Whether passes of a repeated group can split the same text in more than one way.

    Even a small count such as ``{1,9}`` multiplies the ways to split a failing match:
    ``(\\w+\\s?){1,9}`` tries every way of cutting a word into up to nine pieces. A
    body that can match nothing, or that holds a variable-length item (``x?``, ``x+``,
    ``x{1,50}``, alternatives) able to take the first character of what follows it, is
    ambiguous; what follows the body's end is the next pass, i.e. the body's own start.
    """
    chars, empty = _start(body)
    return empty or _ambiguous(body, chars)


def _ambiguous(items: Any, follow: frozenset[str]) -> bool:
    """Whether the sequence ``items``, followed by text starting with one of ``follow``,
    has an item that can both take and leave the next character."""
    for i, item in enumerate(items):
        after, empty = _start(items[i + 1 :])
        if _item_ambiguous(item, after | follow if empty else after):
            return True
    return False


def _item_ambiguous(item: Any, follow: frozenset[str]) -> bool:
    op, argument = item
    name = str(op)
    if name in _REPEATS:
        low, high, body = argument
        chars, empty = _start(body)
        if high > 1 and empty:
            return True
        if low != high and chars & follow:
            return True
        return _ambiguous(body, follow | chars if high > 1 else follow)
    if name == "BRANCH":
        return _overlapping(argument[1], follow) or any(
            _ambiguous(alternative, follow) for alternative in argument[1]
        )
    if name == "SUBPATTERN":
        return _ambiguous(argument[-1], follow)
    if name == "ATOMIC_GROUP":
        return _ambiguous(argument, follow)
    # Lookarounds match no text; any repeat inside one is checked on its own.
    return False


def _overlapping(alternatives: list[Any], follow: frozenset[str]) -> bool:
    """Whether alternatives may match the same text: then a failing match tries every
    way of splitting the text among them, e.g. ``(a|aa)*`` or ``(.|\\s)*``. Alternatives
    are known to be disjoint only when they start with different characters, and an
    empty one only when nothing after it could start like the others."""
    seen: set[str] = set()
    may_be_empty = False
    for alternative in alternatives:
        chars, empty = _start(alternative)
        if chars & seen or (empty and may_be_empty):
            return True
        seen |= chars
        may_be_empty = may_be_empty or empty
    return may_be_empty and bool(seen & follow)


def _start(items: Any) -> tuple[frozenset[str], bool]:
    """The characters a match of ``items`` can start with, and whether it can be empty."""
    first: set[str] = set()
    for item in items:
        chars, empty = _item_start(item)
        first |= chars
        if not empty:
            return frozenset(first), False
    return frozenset(first), True


def _item_start(item: Any) -> tuple[frozenset[str], bool]:
    op, argument = item
    name = str(op)
    if name in _ONE_CHARACTER:
        return _characters(item), False
    if name in _REPEATS:
        chars, empty = _start(argument[2])
        return chars, empty or argument[0] == 0
    if name in ("SUBPATTERN", "ATOMIC_GROUP"):
        return _start(argument[-1] if name == "SUBPATTERN" else argument)
    if name == "BRANCH":
        starts = [_start(alternative) for alternative in argument[1]]
        return frozenset().union(*(c for c, _ in starts)), any(e for _, e in starts)
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return frozenset(), True
    return _ANY_CHARACTER, True  # a backreference or conditional: assume anything


def _characters(item: Any) -> frozenset[str]:
    """Which probe characters a one-character item matches, in the loosest flags, so
    two items that could match one character are never thought disjoint."""
    key = repr(item)
    found = _CHARACTER_CACHE.get(key)
    if found is None:
        single = _compiler.compile(_parser.SubPattern(_parser.State(), [item]), _LOOSE)
        found = frozenset(c for c in _PROBES if single.fullmatch(c))
        _CHARACTER_CACHE[key] = found
    return found


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
