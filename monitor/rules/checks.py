"""Compiled match checks. Each returns the matched text ("" when it has none) or None.

Every check is built once at load time. ``signature`` describes what the check accepts
so the linter can tell when an earlier ``stop`` rule makes a later rule unreachable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Protocol

from monitor.rules.compare import Comparison
from monitor.rules.context import Facts
from monitor.rules.hours import OpeningHours

# (key with modifiers, negated, accepted values or a canonical text)
Signature = tuple[str, bool, frozenset[str] | str]


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
        hit = any(c.test(value) for c in self.comparisons)
        return "" if hit is not self.negate else None


class Pattern:
    """A compiled regex over a text fact; the match is offered to templates."""

    __slots__ = ("get", "memo_key", "negate", "prefilter", "regex", "signature")

    def __init__(
        self,
        key: str,
        attribute: str,
        regex: re.Pattern[str],
        negate: bool,
        prefilter: tuple[str, ...] = (),
    ) -> None:
        self.get = attrgetter(attribute)
        self.regex = regex
        self.negate = negate
        # Lower-cased literals one of which must occur for the regex to match: a
        # substring test costs a fraction of a regex search, and most mentions fail it.
        self.prefilter = prefilter
        self.memo_key = f"{attribute}\x00{regex.flags}\x00{regex.pattern}"
        self.signature: Signature = (key, negate, f"{regex.flags}:{regex.pattern}")

    def find(self, facts: Facts) -> str | None:
        memo = facts.memo
        if self.memo_key in memo:
            found = memo[self.memo_key]
        else:
            found = self._search(facts)
            memo[self.memo_key] = found
        if self.negate:
            return "" if found is None else None
        return found

    def _search(self, facts: Facts) -> str | None:
        if self.prefilter:
            lowered = facts.lowered
            for literal in self.prefilter:
                if literal in lowered:
                    break
            else:
                return None
        hit = self.regex.search(self.get(facts))
        return None if hit is None else hit.group(0)


class OpenHours:
    """True while any of the named teams is within its business hours."""

    __slots__ = ("hours", "negate", "signature")

    def __init__(self, key: str, teams: dict[str, OpeningHours], negate: bool) -> None:
        self.hours = tuple(teams.values())
        self.negate = negate
        self.signature: Signature = (key, negate, frozenset(teams))

    def find(self, facts: Facts) -> str | None:
        is_open = any(h.is_open(facts.now) for h in self.hours)
        return "" if is_open is not self.negate else None


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every check passes (keys are AND-ed); returns the first matched text."""

    checks: tuple[Check, ...]

    def find(self, facts: Facts) -> str | None:
        match = ""
        for check in self.checks:
            found = check.find(facts)
            if found is None:
                return None
            if found and not match:
                match = found
        return match


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

    def find(self, facts: Facts) -> str | None:
        for block in self.blocks:
            found = block.find(facts)
            if found is not None:
                return found
        return None
