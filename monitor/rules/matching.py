"""Parse a rule's ``match:`` block into compiled checks.

Syntax, after Reddit's AutoModerator: keys are AND-ed, list values are OR-ed, a leading
``~`` negates a key, ``not:`` negates a whole block and ``any:`` OR-s several blocks.
Text keys take modifiers in parentheses: ``text (regex, case-sensitive)``.
"""

from __future__ import annotations

import re
from typing import Any

from monitor.domain import CaseState, Label, MessageKind, Platform
from monitor.rules.builders import (
    Builder,
    Errors,
    MatchEnv,
    Spec,
    compare_check,
    describe,
    enum_check,
    files_check,
    flag_check,
    glob_check,
    hours_check,
    strings_check,
    tagged_check,
    text_check,
)
from monitor.rules.checks import AllOf, AnyOf, Check, Negated, Pattern
from monitor.rules.compare import AGE_UNITS, DURATION_UNITS
from monitor.rules.textmatch import check_modifiers
from monitor.yamlpos import Loc, did_you_mean

__all__ = ["Errors", "MatchEnv", "parse_match"]

_KEY = re.compile(r"^(~)?\s*([a-z_]+)\s*(?:\(([^)]*)\))?\s*$")


def _enum(attribute: str, values: list[str]) -> Spec:
    return Spec("enum", attribute, tuple(values))


TOP: dict[str, Spec] = {
    "platform": _enum("platform", [p.value for p in Platform]),
    "source": Spec("strings", "source"),
    "kind": _enum("kind", [k.value for k in MessageKind]),
    "text": Spec("text", "text"),
    "label": _enum("label", [label.value for label in Label]),
    "compound": Spec("compare", "compound"),
    "unscored_reason": Spec("glob", "unscored_reason"),
    "lang": Spec("strings", "lang"),
    "business_hours": Spec("hours"),
    "tagged": Spec("tags"),
    "author": Spec("block", "author"),
    "case": Spec("block", "case"),
    "not": Spec("not"),
    "any": Spec("any"),
}
AUTHOR: dict[str, Spec] = {
    "handle": Spec("strings", "handle"),
    "handles_from": Spec("files", "handle"),
    "followers": Spec("compare", "followers"),
    "verified": Spec("flag", "verified"),
    "account_age": Spec("compare", "account_age_minutes", units=AGE_UNITS),
    "earlier_cases": Spec("compare", "earlier_cases"),
    "escalated_before": Spec("flag", "escalated_before"),
}
CASE: dict[str, Spec] = {
    "state": _enum("case_state", [s.value for s in CaseState]),
    "bot_replies": Spec("compare", "bot_replies"),
    "minutes_since_bot_reply": Spec("compare", "minutes_since_bot_reply", units=DURATION_UNITS),
}
BLOCKS = {"author": AUTHOR, "case": CASE}


def named_sources(data: Any) -> list[tuple[Loc, str]]:
    """Every source name a match block tests, nested ``not:`` and ``any:`` included, with
    where it is written; for the warning about a name no source has (a typo never
    matches, and nothing else would say so)."""
    return [(loc, name) for loc, name, _ in named_values(data, "source")]


def named_values(data: Any, key: str, loc: Loc = ("match",)) -> list[tuple[Loc, str, bool]]:
    """Every string value of top-level ``key`` in a match block, nested ``not:`` and
    ``any:`` included: where it is written, the value, and whether the key is negated."""
    if not isinstance(data, dict):
        return []
    found: list[tuple[Loc, str, bool]] = []
    for raw_key, value in data.items():
        parsed = _KEY.match(str(raw_key))
        name = parsed.group(2) if parsed else ""
        key_loc = (*loc, raw_key)
        if name == key and parsed is not None:
            negate = bool(parsed.group(1))
            values = value if isinstance(value, list) else [value]
            found += [((*key_loc, i) if isinstance(value, list) else key_loc, v, negate)
                      for i, v in enumerate(values) if isinstance(v, str)]  # fmt: skip
        elif name == "not":
            found += named_values(value, key, key_loc)
        elif name == "any" and isinstance(value, list):
            for i, block in enumerate(value):
                found += named_values(block, key, (*key_loc, i))
    return found


def parse_match(data: Any, loc: Loc, env: MatchEnv, errors: Errors) -> AllOf:
    return _block(data, loc, TOP, "", env, errors)


def _block(
    data: Any, loc: Loc, specs: dict[str, Spec], prefix: str, env: MatchEnv, errors: Errors
) -> AllOf:
    if not isinstance(data, dict):
        errors.append((loc, f"expected a mapping of checks, not {describe(data)}"))
        return AllOf(())
    checks: list[Check] = []
    for raw_key, value in data.items():
        key_loc = (*loc, raw_key)
        parsed = _KEY.match(str(raw_key))
        name = parsed.group(2) if parsed else str(raw_key)
        spec = specs.get(name)
        if parsed is None or spec is None:
            errors.append((key_loc, _unknown(name, specs)))
            continue
        negate, modifiers = bool(parsed.group(1)), _modifiers(parsed.group(3))
        problem = _key_problem(spec, name, negate, modifiers)
        if problem:
            errors.append((key_loc, problem))
            continue
        if spec.kind == "block":
            nested = _block(value, key_loc, BLOCKS[name], f"{prefix}{name}.", env, errors)
            checks.extend(nested.checks)
            continue
        build = _BUILDERS[spec.kind]
        check = build(value, key_loc, f"{prefix}{name}", spec, negate, modifiers, env, errors)
        if check is not None:
            checks.append(check)
    # Cheap checks first: a set lookup costs less than a text search, and most rules
    # fail on their first condition.
    checks.sort(key=lambda c: isinstance(c, Pattern | Negated | AnyOf))
    return AllOf(tuple(checks))


def _unknown(name: str, specs: dict[str, Spec]) -> str:
    hint = did_you_mean(name, specs) or f"; allowed: {', '.join(specs)}"
    return f"unknown key{hint}"


def _modifiers(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _key_problem(spec: Spec, name: str, negate: bool, modifiers: tuple[str, ...]) -> str | None:
    if modifiers and spec.kind != "text":
        return f"{name!r} takes no modifiers; only text does"
    if negate and spec.kind in ("flag", "block", "not", "any"):
        return f"'~' cannot negate {name!r}; use not: or the opposite value"
    return check_modifiers(modifiers) if modifiers else None


def _not_block(
    value: Any, loc: Loc, _k: str, _s: Spec, _n: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    if value == {}:
        # An empty block matches every mention, so its negation matches none: the rule
        # could never fire, and nothing would say so.
        errors.append((loc, "an empty block matches every mention, so this rule never would"))
        return None
    return Negated(_block(value, loc, TOP, "", env, errors))


def _any_block(
    value: Any, loc: Loc, _k: str, _s: Spec, _n: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    if not isinstance(value, list) or not value:
        errors.append((loc, "any: takes a list of match blocks"))
        return None
    for i, item in enumerate(value):
        if item == {}:
            # One empty alternative matches every mention: the others would not count.
            errors.append(
                ((*loc, i), "an empty block matches every mention, so the others never count")
            )
    return AnyOf([_block(item, (*loc, i), TOP, "", env, errors) for i, item in enumerate(value)])


_BUILDERS: dict[str, Builder] = {
    "enum": enum_check,
    "strings": strings_check,
    "text": text_check,
    "glob": glob_check,
    "compare": compare_check,
    "flag": flag_check,
    "hours": hours_check,
    "files": files_check,
    "tags": tagged_check,
    "not": _not_block,
    "any": _any_block,
}
