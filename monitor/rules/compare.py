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
        # NaN is an unscored mention's compound: no score to compare either.
        if value is None or math.isnan(value):
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
        value = _number(raw) * scale
        return Comparison(str(raw), value, value, "==")
    found = _COMPARISON.match(raw)
    if found:
        scale = _unit(found.group(3), allowed, raw)
        return Comparison(raw, _number(found.group(2)) * scale, math.inf, found.group(1))
    found = _RANGE.match(raw)
    if found:
        scale = _unit(found.group(3), allowed, raw)
        low, high = _number(found.group(1)) * scale, _number(found.group(2)) * scale
        if low > high:
            raise ValueError(f"range {raw!r} is empty: {found.group(1)} > {found.group(2)}")
        return Comparison(raw, low, high)
    raise ValueError(f'cannot read {raw!r}: write a comparison such as "> 10" or a range "0 .. 5"')


def _number(written: int | float | str) -> float:
    """``written`` as a finite float. YAML reads ``.nan`` and ``.inf`` as numbers, and a
    long run of digits overflows a float: a comparison with them would never hold (nan)
    or fail to load at all (the overflow was a traceback, not an error message)."""
    shown = str(written) if len(str(written)) <= 40 else f"{str(written)[:40]}…"
    try:
        value = float(written)
    except OverflowError:
        value = math.inf
    if math.isnan(value):
        raise ValueError(
            f'{shown} is not a number; write a comparison such as "> 10" or a range "0 .. 5"'
        )
    if math.isinf(value):
        raise ValueError(f"{shown}: the number is too large")
    return value


def _unit(unit: str, allowed: dict[str, float], raw: str) -> float:
    if unit not in allowed:
        names = ", ".join(sorted(u for u in allowed if u)) or "none"
        if not unit:
            example = f"{raw.strip()} days"
            raise ValueError(f"{raw!r} needs a unit, e.g. {example!r}; allowed units: {names}")
        raise ValueError(f"unknown unit {unit!r} in {raw!r}; allowed units: {names}")
    return allowed[unit]
