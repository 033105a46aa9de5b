"""Compiled match checks. Each returns the matched text ("" when it has none) or None.

Every check is built once at load time. ``signature`` describes what the check accepts
so the linter can tell when an earlier ``stop`` rule makes a later rule unreachable.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol

from monitor.rules.compare import Comparison
from monitor.rules.context import Facts
from monitor.rules.hours import OpeningHours
from monitor.rules.textmatch import AnyOf as AnyRegex
from monitor.rules.textmatch import CompiledText

# (key with modifiers, negated, accepted values or a canonical text)
Signature = tuple[str, bool, frozenset[str] | str]


@dataclass(frozen=True, slots=True)
class Needs:
    """What a mention must contain for a check to pass: one of ``words`` as a whole
    word (Facts.words) or one of ``literals`` anywhere in Facts.lowered. Both empty:
    no mention can pass (NEVER)."""

    words: frozenset[str] = frozenset()
    literals: frozenset[str] = frozenset()

    def __or__(self, other: Needs) -> Needs:
        return Needs(self.words | other.words, self.literals | other.literals)

    @property
    def cost(self) -> tuple[int, int]:
        """Fewer literals first (each is a substring search on every mention, where a
        word is a set lookup), then fewer words (a smaller set is usually rarer)."""
        return len(self.literals), len(self.words)


NEVER = Needs()


class Check(Protocol):
    signature: Signature

    def find(self, facts: Facts) -> str | None: ...


class OneOf:
    """A fact that must (or, negated, must not) be one of a set of values."""

    __slots__ = ("get", "negate", "signature", "values")

    def __init__(self, key: str, attribute: str, values: Sequence[str], negate: bool) -> None:
        self.get = attrgetter(attribute)
        self.values = frozenset(values)
        self.negate = negate
        self.signature: Signature = (key, negate, self.values)

    def find(self, facts: Facts) -> str | None:
        return "" if (self.get(facts) in self.values) is not self.negate else None


class Tagged:
    """``tagged:`` — a rule that matched before this one added one of the tags."""

    __slots__ = ("negate", "signature", "tags")

    def __init__(self, key: str, tags: Sequence[str], negate: bool) -> None:
        self.tags = frozenset(tags)
        self.negate = negate
        self.signature: Signature = (key, negate, self.tags)

    def find(self, facts: Facts) -> str | None:
        return "" if self.tags.isdisjoint(facts.tags) is self.negate else None


class Flag:
    __slots__ = ("expected", "get", "signature")

    def __init__(self, key: str, attribute: str, expected: bool) -> None:
        self.get = attrgetter(attribute)
        self.expected = expected
        self.signature: Signature = (key, False, str(expected))

    def find(self, facts: Facts) -> str | None:
        return "" if bool(self.get(facts)) is self.expected else None


class Compare:
    """A number compared with any of several comparisons (OR-ed)."""

    __slots__ = ("comparisons", "get", "negate", "signature")

    def __init__(
        self, key: str, attribute: str, comparisons: Sequence[Comparison], negate: bool
    ) -> None:
        self.get = attrgetter(attribute)
        self.comparisons = tuple(comparisons)
        self.negate = negate
        self.signature: Signature = (key, negate, frozenset(c.text for c in comparisons))

    def find(self, facts: Facts) -> str | None:
        value = self.get(facts)
        if value is None:
            # Unknown (no follower count, no creation date) matches neither way: with
            # "~" it would otherwise match every author the platform says nothing about.
            return None
        hit = False
        for comparison in self.comparisons:
            if comparison.test(value):
                hit = True
                break
        return "" if hit is not self.negate else None


_UNSEEN = "\x00unseen"


class Pattern:
    """A text condition; the matched text is offered to templates as ``{match}``."""

    __slots__ = ("get", "memo_key", "negate", "signature", "text")

    def __init__(self, key: str, attribute: str, text: CompiledText, negate: bool) -> None:
        self.get = attrgetter(attribute)
        self.text = text
        self.negate = negate
        full = text.full
        self.memo_key = f"{attribute}\x00{full.flags}\x00{full.pattern}"
        self.signature: Signature = (key, negate, f"{full.flags}:{full.pattern}")

    def needs(self) -> Needs | None:
        """What the mention must contain for this check to pass (None when nothing is
        known, or the check is negated); the engine indexes rules by it."""
        if self.negate:
            return None
        text = self.text
        if text.index is not None:
            return Needs(words=text.index)
        if text.prefilter:
            # _search returns None unless one of the words or one of these literals is
            # there, so together they are a requirement however the values are written.
            return Needs(frozenset(text.words), frozenset(text.prefilter))
        return None

    def find(self, facts: Facts) -> str | None:
        # Several rules often test the same words; each distinct test runs once.
        found = facts.memo.get(self.memo_key, _UNSEEN)
        if found is _UNSEEN:
            found = facts.memo[self.memo_key] = self._search(facts)
        if self.negate:
            return "" if found is None else None
        return found

    def as_written(self, facts: Facts) -> str:
        """The matched text with the mention's own spelling and case."""
        hit = self.text.full.search(self.get(facts))
        return "" if hit is None else hit.group(0)

    def _search(self, facts: Facts) -> str | None:
        text = self.text
        if text.words:
            words = facts.words
            for word in text.words:
                if word in words:
                    return word
        rest = text.rest
        if rest is None:
            return None
        if isinstance(rest, AnyRegex):
            # Its own prefilter, regex by regex: the list's (the union of their
            # literals) would only look for the same literals again.
            hit = rest.search(self.get(facts), lowered=facts.lowered)
            return None if hit is None else hit.group(0)
        if text.prefilter:
            # One set operation in C rules out nearly every mention before the loop
            # over every phrase of a list.
            keywords = text.keywords
            if keywords is not None and keywords.isdisjoint(facts.words):
                return None
            lowered = facts.lowered
            for literal in text.prefilter:
                if literal in lowered:
                    break
            else:
                return None
        hit = rest.search(self.get(facts))
        return None if hit is None else hit.group(0)


class OpenHours:
    """True while any of the named teams is within its business hours."""

    __slots__ = ("hours", "last", "negate", "signature")

    def __init__(self, key: str, teams: dict[str, OpeningHours], negate: bool) -> None:
        self.hours = tuple(teams.values())
        self.negate = negate
        self.signature: Signature = (key, negate, frozenset(teams))
        # The pipeline decides a whole batch at one "now": remember the last answer.
        # One tuple, replaced whole, so a reader never sees a half-updated pair.
        self.last: tuple[object, bool] = (None, False)

    def find(self, facts: Facts) -> str | None:
        moment, is_open = self.last
        if moment != facts.now:
            is_open = any(h.is_open(facts.now) for h in self.hours)
            self.last = (facts.now, is_open)
        return "" if is_open is not self.negate else None


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every check passes (keys are AND-ed); returns the first matched text."""

    checks: tuple[Check, ...]
    # The checks (with their places in ``checks``) cheapest first: a regex written
    # before a word list beside it was searched on every mention the word set rules out.
    order: tuple[tuple[int, Check], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ranked = sorted(enumerate(self.checks), key=lambda placed: _cost(placed[1]))
        object.__setattr__(self, "order", tuple(ranked))

    def needs(self, label: str) -> Needs | None:
        """What a mention with sentiment ``label`` must contain for this block to match:
        NEVER when a label check here rules the label out, else the cheapest of its
        checks' requirements (each one alone is necessary), or None when none has one."""
        if not self.allowed_values("label", frozenset({label})):
            return NEVER
        best: Needs | None = None
        for check in self.checks:
            found = _needs(check, label)
            if found is not None and (best is None or found.cost < best.cost):
                best = found
        return best

    def allowed_values(self, key: str, universe: frozenset[str]) -> frozenset[str]:
        """The values of ``key`` this block can match at all (a top-level one-of check
        narrows them; anything else leaves the whole universe)."""
        allowed = universe
        for check in self.checks:
            name, negate, values = check.signature
            if isinstance(check, OneOf) and name == key and isinstance(values, frozenset):
                allowed = allowed - values if negate else allowed & values
        return allowed

    def has_text(self) -> bool:
        """Whether a text condition can fill ``{match}`` (not a negated one: it matches
        when the text is absent)."""
        return any(
            (isinstance(check, Pattern) and not check.negate)
            or (isinstance(check, AnyOf) and any(block.has_text() for block in check.blocks))
            for check in self.checks
        )

    def matched_text(self, facts: Facts) -> str:
        """What the first text condition matched, as the customer wrote it; one inside an
        ``any:`` counts when its block is the one that matched."""
        for check in self.checks:
            if isinstance(check, Pattern) and not check.negate:
                return check.as_written(facts)
            if isinstance(check, AnyOf):
                found = check.matched_text(facts)
                if found:
                    return found
        return ""

    def find(self, facts: Facts) -> str | None:
        # Checks have no effects but their memo, so the order they run in changes
        # nothing but the cost; the match is still the first written check's.
        match, first = "", len(self.checks)
        for place, check in self.order:
            found = check.find(facts)
            if found is None:
                return None
            if found and place < first:
                match, first = found, place
        return match


def _needs(check: Check, label: str) -> Needs | None:
    """A requirement of one check of a block; a negated block (``not:``) has none."""
    if isinstance(check, Pattern):
        return check.needs()
    if isinstance(check, AnyOf):
        return check.needs(label)
    return None


def _cost(check: Check) -> int:
    """A rank of what ``check`` costs: a lookup, a word set, literals, then a search."""
    if not isinstance(check, Pattern | Negated | AnyOf):
        return 0
    if isinstance(check, Pattern):
        if check.text.rest is None:
            return 1
        if check.text.prefilter:
            return 2
    return 3


class Negated:
    """``not:`` — passes when the nested block does not match."""

    __slots__ = ("inner", "signature")

    def __init__(self, inner: AllOf) -> None:
        self.inner = inner
        sigs = sorted(repr(c.signature) for c in inner.checks)
        self.signature: Signature = ("not", False, "|".join(sigs))

    def find(self, facts: Facts) -> str | None:
        return "" if self.inner.find(facts) is None else None


class AnyOf:
    """``any:`` — a list of blocks, at least one of which must match."""

    __slots__ = ("blocks", "signature")

    def __init__(self, blocks: Sequence[AllOf]) -> None:
        self.blocks = tuple(blocks)
        sigs = sorted(repr(sorted(repr(c.signature) for c in b.checks)) for b in blocks)
        self.signature: Signature = ("any", False, "|".join(sigs))

    def needs(self, label: str) -> Needs | None:
        """A mention matches one of the blocks only if it holds what that block needs:
        the union of every block's requirement, unknown (None) if one block has none."""
        union = NEVER
        for block in self.blocks:
            found = block.needs(label)
            if found is None:
                return None
            union = union | found
        return union

    def find(self, facts: Facts) -> str | None:
        for block in self.blocks:
            found = block.find(facts)
            if found is not None:
                return found
        return None

    def matched_text(self, facts: Facts) -> str:
        """The text the first matching block's text condition matched, if it has one."""
        for block in self.blocks:
            if block.find(facts) is not None:
                return block.matched_text(facts)
        return ""
