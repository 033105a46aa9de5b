"""Parse a rule's ``match:`` block into compiled checks.

Syntax, after Reddit's AutoModerator: keys are AND-ed, list values are OR-ed, a leading
``~`` negates a key, ``not:`` negates a whole block and ``any:`` OR-s several blocks.
Text keys take modifiers in parentheses: ``text (regex, case-sensitive)``.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.domain import CaseState, Label, MessageKind, Platform
from monitor.rules.checks import (
    AllOf,
    AnyOf,
    Check,
    Compare,
    Flag,
    Negated,
    OneOf,
    OpenHours,
    Pattern,
)
from monitor.rules.compare import DURATION_UNITS, Comparison, parse_comparison
from monitor.rules.hours import OpeningHours
from monitor.rules.textmatch import CompiledText, check_modifiers, compile_text, regex_problem
from monitor.yamlpos import Loc

_KEY = re.compile(r"^(~)?\s*([a-z_]+)\s*(?:\(([^)]*)\))?\s*$")
Errors = list[tuple[Loc, str]]


@dataclass(frozen=True, slots=True)
class MatchEnv:
    teams: Mapping[str, OpeningHours]
    rules_dir: Path


@dataclass(frozen=True, slots=True)
class Spec:
    kind: str  # enum, strings, text, glob, compare, flag, hours, files, block, not, any
    attribute: str = ""
    choices: tuple[str, ...] = ()
    units: Mapping[str, float] | None = None


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
    "account_age": Spec("compare", "account_age_minutes", units=DURATION_UNITS),
    "earlier_cases": Spec("compare", "earlier_cases"),
    "escalated_before": Spec("flag", "escalated_before"),
}
CASE: dict[str, Spec] = {
    "state": _enum("case_state", [s.value for s in CaseState]),
    "bot_replies": Spec("compare", "bot_replies"),
    "minutes_since_bot_reply": Spec("compare", "minutes_since_bot_reply", units=DURATION_UNITS),
}
BLOCKS = {"author": AUTHOR, "case": CASE}


def parse_match(data: Any, loc: Loc, env: MatchEnv, errors: Errors) -> AllOf:
    return _block(data, loc, TOP, "", env, errors)


def _block(
    data: Any, loc: Loc, specs: dict[str, Spec], prefix: str, env: MatchEnv, errors: Errors
) -> AllOf:
    if not isinstance(data, dict):
        errors.append((loc, f"expected a mapping of checks, not {_type(data)}"))
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
    guess = difflib.get_close_matches(name, specs, n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else f"; allowed: {', '.join(specs)}"
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


def _strings(value: Any, loc: Loc, errors: Errors) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    if not items:
        errors.append((loc, "an empty list matches nothing; remove the key instead"))
        return None
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            where = (*loc, index) if isinstance(value, list) else loc
            errors.append((where, f"expected a non-empty string, not {_type(item)}"))
            return None
    return [str(item) for item in items]


def _type(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), repr(value))


Builder = Callable[[Any, Loc, str, Spec, bool, tuple[str, ...], MatchEnv, Errors], Check | None]


def _enum_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    for item in items:
        if item.lower() not in spec.choices:
            guess = difflib.get_close_matches(item.lower(), spec.choices, n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else f"allowed: {', '.join(spec.choices)}"
            errors.append((loc, f"unknown {key.rsplit('.', 1)[-1]} {item!r}; {hint}"))
            return None
    return OneOf(key, spec.attribute, [i.lower() for i in items], negate)


def _strings_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    if spec.attribute in ("handle", "lang"):
        items = [_normal_handle(i) if spec.attribute == "handle" else i.lower() for i in items]
    return OneOf(key, spec.attribute, items, negate)


def _normal_handle(handle: str) -> str:
    handle = handle.strip().lower()
    return handle.removeprefix("u/").lstrip("@")


def _text_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, modifiers: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    if "regex" in modifiers:
        for index, item in enumerate(items):
            problem = regex_problem(item)
            if problem:
                errors.append(((*loc, index) if isinstance(value, list) else loc, problem))
                return None
    signature_key = f"{key} ({', '.join(sorted(modifiers))})" if modifiers else key
    check = Pattern(signature_key, spec.attribute, compile_text(items, modifiers), negate)
    if not negate and "regex" not in modifiers:
        # Plain words: the linter compares word sets, so a superset list is detected.
        check.signature = (signature_key, negate, frozenset(i.lower() for i in items))
    return check


def _glob_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    regex = re.compile("|".join(fnmatch.translate(i) for i in items), re.IGNORECASE)
    return Pattern(key, spec.attribute, CompiledText(regex, rest=regex), negate)


def _compare_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = value if isinstance(value, list) else [value]
    comparisons: list[Comparison] = []
    for item in items:
        try:
            comparisons.append(parse_comparison(item, units=dict(spec.units or {"": 1.0})))
        except ValueError as exc:
            errors.append((loc, str(exc)))
            return None
    if not comparisons:
        errors.append((loc, "an empty list matches nothing; remove the key instead"))
        return None
    return Compare(key, spec.attribute, comparisons, negate)


def _flag_check(
    value: Any, loc: Loc, key: str, spec: Spec, _n: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    if not isinstance(value, bool):
        errors.append((loc, f"expected true or false, not {_type(value)}"))
        return None
    return Flag(key, spec.attribute, value)


def _hours_check(
    value: Any, loc: Loc, key: str, _s: Spec, negate: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    for team in items:
        if team not in env.teams:
            errors.append((loc, unknown_team(team, env.teams)))
            return None
    return OpenHours(key, {team: env.teams[team] for team in items}, negate)


def unknown_team(team: str, teams: Mapping[str, object]) -> str:
    guess = difflib.get_close_matches(team, list(teams), n=1)
    hint = f"did you mean {guess[0]!r}?" if guess else f"teams: {', '.join(teams) or 'none'}"
    return f"unknown team {team!r} (teams are defined in the config); {hint}"


def _files_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    handles: list[str] = []
    for item in items:
        loaded = _read_handles(env.rules_dir, item)
        if isinstance(loaded, str):
            errors.append((loc, loaded))
            return None
        handles.extend(loaded)
    return OneOf(key, spec.attribute, handles, negate)


def _read_handles(rules_dir: Path, name: str) -> list[str] | str:
    """Handles from a list file inside the rules folder, or an error message."""
    path = (rules_dir / name).resolve()
    if not path.is_relative_to(rules_dir.resolve()):
        return f"list file {name!r} must be inside the rules folder (hot reload watches it)"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read list file {name!r}: {getattr(exc, 'strerror', None) or exc}"
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [_normal_handle(line) for line in lines if line]


def _not_block(
    value: Any, loc: Loc, _k: str, _s: Spec, _n: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    return Negated(_block(value, loc, TOP, "", env, errors))


def _any_block(
    value: Any, loc: Loc, _k: str, _s: Spec, _n: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    if not isinstance(value, list) or not value:
        errors.append((loc, "any: takes a list of match blocks"))
        return None
    return AnyOf([_block(item, (*loc, i), TOP, "", env, errors) for i, item in enumerate(value)])


_BUILDERS: dict[str, Builder] = {
    "enum": _enum_check,
    "strings": _strings_check,
    "text": _text_check,
    "glob": _glob_check,
    "compare": _compare_check,
    "flag": _flag_check,
    "hours": _hours_check,
    "files": _files_check,
    "not": _not_block,
    "any": _any_block,
}
