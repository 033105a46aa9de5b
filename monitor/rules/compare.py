"""Numeric conditions written the AutoModerator way: ``"> 1000"``, ``"-1 .. -0.5"``.

A comparison is parsed once at load time into a frozen object whose ``test`` is a
couple of float comparisons, because rules run on every mention.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_COMPARISON = re.compile(rf"^\s*(<=|>=|==|!=|<|>)\s*({_NUMBER})\s*([a-z]*)\s*$")
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*([a-z]*)\s*$")

# Units accepted after a number, converted to the unit the check measures in.
DURATION_UNITS = {
    "": 1.0,
    "minute": 1.0,
    "minutes": 1.0,
    "hour": 60.0,
    "hours": 60.0,
    "day": 1440.0,
    "days": 1440.0,
}
# An account's age must say its unit: AutoModerator reads a bare "< 7" as days, so taken
# as minutes it would silently match almost no account.
AGE_UNITS = {unit: scale for unit, scale in DURATION_UNITS.items() if unit}


@dataclass(frozen=True, slots=True)
class Comparison:
    """``op value`` or an inclusive ``low .. high`` range."""

    text: str
    low: float
    high: float
    op: str = ""

    def test(self, value: float | None) -> bool:
        # An unknown value (the platform gave no follower count or account age) passes
        # no comparison: "followers < 100" must not match an account we know nothing of.
        if value is None:
            return False
        if self.op:
            return _OPERATORS[self.op](value, self.low)
        return self.low <= value <= self.high


def parse_comparison(raw: object, *, units: dict[str, float] | None = None) -> Comparison:
    """Parse ``"> 5"``, ``"-1 .. -0.5"`` or a bare number (meaning ``== n``).

    Raises ValueError with the message the rule author sees.
    """
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise ValueError(f'expected a comparison such as "> 10" or "0 .. 5", not {raw!r}')
    allowed = units or {"": 1.0}
    if not isinstance(raw, str):
        scale = _unit("", allowed, str(raw))
        return Comparison(str(raw), float(raw) * scale, float(raw) * scale, "==")
    found = _COMPARISON.match(raw)
    if found:
        scale = _unit(found.group(3), allowed, raw)
        return Comparison(raw, float(found.group(2)) * scale, math.inf, found.group(1))
    found = _RANGE.match(raw)
    if found:
        scale = _unit(found.group(3), allowed, raw)
        low, high = float(found.group(1)) * scale, float(found.group(2)) * scale
        if low > high:
            raise ValueError(f"range {raw!r} is empty: {found.group(1)} > {found.group(2)}")
        return Comparison(raw, low, high)
    raise ValueError(f'cannot read {raw!r}: write a comparison such as "> 10" or a range "0 .. 5"')


def _unit(unit: str, allowed: dict[str, float], raw: str) -> float:
    if unit not in allowed:
        names = ", ".join(sorted(u for u in allowed if u)) or "none"
        if not unit:
            example = f"{raw.strip()} days"
            raise ValueError(f"{raw!r} needs a unit, e.g. {example!r}; allowed units: {names}")
        raise ValueError(f"unknown unit {unit!r} in {raw!r}; allowed units: {names}")
    return allowed[unit]
