"""Builders for the leaf checks of a ``match:`` block: one function per kind of value.

Each takes the raw YAML value and returns a compiled check, or records an error with
its location and returns None. monitor.rules.matching dispatches to them by key.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from monitor.domain import primary_subtag
from monitor.rules.checks import Check, Compare, Flag, OneOf, OpenHours, Pattern, Tagged
from monitor.rules.compare import Comparison, parse_comparison
from monitor.rules.hours import OpeningHours
from monitor.rules.textmatch import CompiledText, as_read, compile_text, regex_problem
from monitor.settings import bare_handle, not_text
from monitor.yamlpos import Loc, not_utf8, other_unicode, shown_date

Errors = list[tuple[Loc, str]]


@dataclass(frozen=True, slots=True)
class MatchEnv:
    teams: Mapping[str, OpeningHours]
    rules_dir: Path


@dataclass(frozen=True, slots=True)
class Spec:
    kind: str  # enum, strings, text, glob, compare, flag, hours, files, tags, block, not, any
    attribute: str = ""
    choices: tuple[str, ...] = ()
    units: Mapping[str, float] | None = None


def _strings(value: Any, loc: Loc, errors: Errors) -> list[str] | None:
    items = value if isinstance(value, list) else [value]
    if not items:
        errors.append((loc, "an empty list matches nothing; remove the key instead"))
        return None
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            errors.append((_item_loc(loc, value, index), _not_a_string(item)))
            return None
    return [str(item) for item in items]


def _not_a_string(item: Any) -> str:
    """Why an item is no string: unquoted `no` (Norwegian) is false in YAML 1.1, and an
    unquoted 0123 was reported as 83, a number nobody wrote."""
    if isinstance(item, bool | int | float) and (found := not_text(item)):
        return found
    quote = "; put it in quotes" if isinstance(item, date) else ""
    return f"expected a non-empty string, not {describe(item)}{quote}"


def _item_loc(loc: Loc, value: Any, index: int) -> Loc:
    """Where item ``index`` of a key's value is written: a list's own line and column, so
    an error in a long block list points at the item, not at the key."""
    return (*loc, index) if isinstance(value, list) else loc


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, date):
        return shown_date(value)
    return {dict: "a mapping", list: "a list", bool: "true/false"}.get(type(value), repr(value))


Builder = Callable[[Any, Loc, str, Spec, bool, tuple[str, ...], MatchEnv, Errors], Check | None]


def enum_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    for index, item in enumerate(items):
        if item.lower() not in spec.choices:
            guess = difflib.get_close_matches(item.lower(), spec.choices, n=1)
            hint = f"did you mean {guess[0]!r}?" if guess else f"allowed: {', '.join(spec.choices)}"
            message = f"unknown {key.rsplit('.', 1)[-1]} {item!r}; {hint}"
            errors.append((_item_loc(loc, value, index), message))
            return None
    return OneOf(key, spec.attribute, [i.lower() for i in items], negate)


def strings_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    if spec.attribute == "handle":
        items = [_normal_handle(i) for i in items]
    elif spec.attribute == "lang":
        # Mentions are compared on the primary subtag, so must the rule's values be:
        # `pt-BR` kept whole would never match anything.
        items = [primary_subtag(i) for i in items]
    return OneOf(key, spec.attribute, items, negate)


def tagged_check(
    value: Any, loc: Loc, key: str, _s: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    # Rules' tags are stored lower-cased (model._case_tag): "Outage" is the tag "outage".
    return Tagged(key, [normal_tag(i) for i in items], negate)


def normal_tag(tag: str) -> str:
    return tag.strip().lower()


def _normal_handle(handle: str) -> str:
    # As brand.accounts reads them: Reddit's link form "/u/name", copied from the page
    # into a block list, kept its "/" and never matched.
    return bare_handle(handle)


def text_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, modifiers: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    for index, item in enumerate(items):
        if "regex" not in modifiers and not as_read(item).strip():
            # Matched as read, a zero-width or U+FE0F value would match every mention.
            where = _item_loc(loc, value, index)
            errors.append((where, f"{item!r} is invisible: text is matched as a reader sees it"))
            return None
    if "regex" in modifiers:
        for index, item in enumerate(items):
            problem = regex_problem(item)
            if problem:
                errors.append(((*loc, index) if isinstance(value, list) else loc, problem))
                return None
    signature_key = f"{key} ({', '.join(sorted(modifiers))})" if modifiers else key
    try:
        compiled = compile_text(items, modifiers)
    except re.error as exc:  # a last line of defence: each value was checked alone
        errors.append((loc, f"invalid regex: {exc.msg}"))
        return None
    except OverflowError as exc:  # a repeat count past Python's limit
        errors.append((loc, f"invalid regex: {exc}"))
        return None
    except RecursionError:  # the compiler recurses per group, as the parser does
        errors.append((loc, "regex nests groups too deeply"))
        return None
    attribute = "regex_text" if "regex" in modifiers else spec.attribute
    check = Pattern(signature_key, attribute, compiled, negate)
    if not negate and "regex" not in modifiers:
        # Plain words: the linter compares word sets, so a superset list is detected.
        # Case only folds where the check ignores it: "ACME" does not cover "acme".
        fold = "case-sensitive" not in modifiers
        words = frozenset(i.lower() if fold else i for i in items)
        check.signature = (signature_key, negate, words)
    return check


def glob_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    # Each translation ends in \Z but has no start anchor, and checks search: "de"
    # matched "language:de" and "signal" "no-signal".
    joined = "|".join(fnmatch.translate(i) for i in items)
    regex = re.compile(rf"\A(?:{joined})", re.IGNORECASE)
    return Pattern(key, spec.attribute, CompiledText(regex, rest=regex), negate)


def compare_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = value if isinstance(value, list) else [value]
    comparisons: list[Comparison] = []
    for index, item in enumerate(items):
        try:
            comparisons.append(parse_comparison(item, units=dict(spec.units or {"": 1.0})))
        except ValueError as exc:
            errors.append((_item_loc(loc, value, index), str(exc)))
            return None
    if not comparisons:
        errors.append((loc, "an empty list matches nothing; remove the key instead"))
        return None
    return Compare(key, spec.attribute, comparisons, negate)


def flag_check(
    value: Any, loc: Loc, key: str, spec: Spec, _n: bool, _m: tuple[str, ...],
    _env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    if not isinstance(value, bool):
        errors.append((loc, f"expected true or false, not {describe(value)}"))
        return None
    return Flag(key, spec.attribute, value)


def hours_check(
    value: Any, loc: Loc, key: str, _s: Spec, negate: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    for index, team in enumerate(items):
        if team not in env.teams:
            errors.append((_item_loc(loc, value, index), unknown_team(team, env.teams)))
            return None
    return OpenHours(key, {team: env.teams[team] for team in items}, negate)


def unknown_team(team: str, teams: Mapping[str, object]) -> str:
    guess = difflib.get_close_matches(team, list(teams), n=1)
    hint = f"did you mean {guess[0]!r}?" if guess else f"teams: {', '.join(teams) or 'none'}"
    return f"unknown team {team!r} (teams are defined in the config); {hint}"


def files_check(
    value: Any, loc: Loc, key: str, spec: Spec, negate: bool, _m: tuple[str, ...],
    env: MatchEnv, errors: Errors,
) -> Check | None:  # fmt: skip
    items = _strings(value, loc, errors)
    if items is None:
        return None
    handles: list[str] = []
    for index, item in enumerate(items):
        loaded = _read_handles(env.rules_dir, item)
        if isinstance(loaded, str):
            errors.append((_item_loc(loc, value, index), loaded))
            return None
        handles.extend(loaded)
    return OneOf(key, spec.attribute, handles, negate)


def unwatched(name: str) -> bool:
    """Whether a name is left out of the rules (and of their version): hidden files and
    folders (``.git``, vim's ``.20-care.yaml.swp``, Emacs's lock ``.#20-care.yaml``,
    macOS's ``._20-care.yaml`` beside a file copied from a Mac) and editors' backups
    (``20-care.yaml~``, ``#20-care.yaml#``). Editors rewrite these while a file is open,
    so hashing them reloaded unchanged rules and changed the version status shows."""
    return (
        name.startswith(".") or name.endswith("~") or (name.startswith("#") and name.endswith("#"))
    )


# Every reload reads the list files again, and a worker holds their handles in memory:
# 10 MB is some 600,000 handles, more than any brand's VIP or block list.
MAX_LIST_FILE_BYTES = 10_000_000


_SPECIAL_FILES = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def special_file(path: Path) -> str | None:
    """What ``path`` is when it is neither a regular file nor a folder ("a named pipe"),
    else None (a missing or unreadable file is for the open to report). Opening a named
    pipe waits for a writer: check-config, the start and every reload hung on one."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return None
    return next((kind for is_kind, kind in _SPECIAL_FILES if is_kind(mode)), None)


def _read_handles(rules_dir: Path, name: str) -> list[str] | str:
    """Handles from a list file inside the rules folder, or an error message."""
    if "\x00" in name:  # the operating system takes no such name (a ValueError, not OSError)
        return f"cannot read list file {name!r}: the name contains a NUL character"
    path = (rules_dir / name).resolve()
    if not path.is_relative_to(rules_dir.resolve()):
        return f"list file {name!r} must be inside the rules folder (hot reload watches it)"
    if any(unwatched(part) for part in path.relative_to(rules_dir.resolve()).parts):
        return f"list file {name!r} is hidden or an editor's backup: hot reload does not watch it"
    special = special_file(path)
    if special is not None:
        return f"list file {name!r} is {special}, not a regular file"
    limit = "list files may be at most 10 MB"
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_LIST_FILE_BYTES:
                return f"list file {name!r} is {size / 1e6:.1f} MB; {limit}"
            # At most one byte past the limit: a file growing since its size was taken
            # (an export still being written, a pipe) was read whole, however big.
            data = handle.read(MAX_LIST_FILE_BYTES + 1)
        if len(data) > MAX_LIST_FILE_BYTES:
            return f"list file {name!r} is more than 10 MB; {limit}"
        # Notepad and spreadsheet exports start UTF-8 with a byte order mark, which
        # would otherwise stick to the first handle and make it never match.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # Excel's "Unicode Text" export is UTF-16: say so, and to save it as UTF-8.
        reason = not_utf8(exc) if other_unicode(data) else str(exc)
        return f"cannot read list file {name!r}: {reason}"
    except OSError as exc:
        return f"cannot read list file {name!r}: {exc.strerror or exc}"
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [_normal_handle(line) for line in lines if line]
