"""Read the rules folder: every ``*.yaml``/``*.yml`` file in name order, one rule per
YAML document, all problems collected before anything is reported."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from monitor.rules.builders import MAX_LIST_FILE_BYTES, special_file, unwatched
from monitor.rules.hours import OpeningHours
from monitor.rules.lint import lint_rules, unreachable_rules
from monitor.rules.matching import Errors, MatchEnv, parse_match
from monitor.rules.model import Rule, RuleSet, RuleSpec, rule_problem
from monitor.settings import validate_document
from monitor.yamlpos import ConfigError, Document, Problem, load_documents, not_utf8

# A rule file is reviewed by people; anything this big is a mistake or an attack, and
# parsing it would stall check-config and the hot-reload job.
MAX_RULE_FILE_BYTES = 1_000_000
RULE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class RulesEnv:
    """What the rules are checked against: the config's teams, channels and brand."""

    rules_dir: Path
    teams: Mapping[str, OpeningHours]
    channels: frozenset[str] = frozenset()
    brand: str = ""


def rule_files(directory: Path) -> list[Path]:
    """Everything named like a rule file, files or not: a folder or a link to a missing
    file under such a name is reported when read, not skipped with its rules. A hidden
    file (Emacs's lock ``.#20-care.yaml``, macOS's ``._20-care.yaml``) is not one."""
    return [p for p in listed(directory) if p.suffix in RULE_SUFFIXES and not unwatched(p.name)]


def listed(directory: Path) -> list[Path]:
    """The folder's entries in name order; ConfigError when it cannot be listed (another
    user's checkout made with umask 077): a setup error, not a crash to restart from."""
    try:
        return sorted(directory.iterdir())
    except OSError as exc:
        reason = f"cannot read the folder: {exc.strerror or type(exc).__name__}"
        raise ConfigError([Problem(str(directory), 1, 1, "", reason)]) from None


def rules_version(directory: Path) -> str:
    """Content hash of everything in the rules folder, list files included, but what
    ``unwatched`` leaves out."""
    digest = hashlib.sha256()
    if directory.is_dir():
        watched = (
            p
            for p in directory.rglob("*")
            if not any(unwatched(part) for part in p.relative_to(directory).parts)
        )
        for path in sorted(p for p in watched if p.is_file()):
            # The name's own bytes: one that is not UTF-8 (made on a Latin-1 system, or
            # unpacked from an old archive) made str.encode raise on every reload check.
            digest.update(os.fsencode(path.relative_to(directory)) + b"\x00")
            digest.update(_content(path))
            digest.update(b"\x00")
    return digest.hexdigest()[:16]


def _content(path: Path) -> bytes:
    """The file's bytes, or its error: a file that cannot be read (another user's, one
    deleted since the folder was listed) is for the load to report, or to ignore if no
    rule reads it; it must not stop every reload check, nor the start.

    A file bigger than any the rules may read (list files: 10 MB) stands for its size:
    the load refuses it unread, by its size alone. Read whole, a data export left in
    the folder was held in memory at every check, every 30 s."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(MAX_LIST_FILE_BYTES + 1) if size <= MAX_LIST_FILE_BYTES else b""
            if size > MAX_LIST_FILE_BYTES or len(data) > MAX_LIST_FILE_BYTES:  # or grew
                return f"too big: {max(size, len(data))} bytes".encode()
            return data
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}".encode()


def _not_a_folder(directory: Path) -> str:
    """Why ``directory``, which is no folder, holds no rules."""
    if directory.exists():
        return "is a file, not a folder: rules.path names the folder of rule files"
    return "rules folder does not exist"


def load_rules(env: RulesEnv) -> RuleSet:
    """Every enabled rule, validated and linted; raise ConfigError on any error."""
    directory = env.rules_dir
    if not directory.is_dir():
        raise ConfigError([Problem(str(directory), 1, 1, "", _not_a_folder(directory))])
    version = rules_version(directory)
    problems = misnamed_files(directory, kind="rule files")
    rules: list[Rule] = []
    match_env = MatchEnv(env.teams, directory)
    sound: list[Rule] = []
    files = rule_files(directory)
    if not files:
        # An emptied folder (a half-finished checkout, files moved away) would otherwise
        # load as zero rules, and the daemon would silently stop doing anything.
        message = "no rule files (*.yaml, *.yml) in this folder"
        problems.append(Problem(str(directory), 1, 1, "", message))
    for path in files:
        for doc in _documents(path, problems):
            before = len(problems)
            rule = _rule(doc, len(rules), match_env, problems)
            if rule is not None:
                rules.append(rule)
                if len(problems) == before:
                    sound.append(rule)
    problems.extend(_duplicates(rules))
    problems.extend(lint_rules(rules, env.teams, env.channels, env.brand))
    # Only fully parsed rules: a rule with a broken match block would look wider than
    # it is and report false shadows.
    problems.extend(unreachable_rules(sound))
    problems.sort(key=lambda p: (p.file, p.line, p.col))
    errors = [p for p in problems if not p.warning]
    if errors:
        raise ConfigError(problems)
    enabled = tuple(r for r in rules if r.spec.enabled)
    return RuleSet(enabled, version, tuple(problems))


def misnamed_files(directory: Path, *, kind: str) -> list[Problem]:
    """Files that look like rule files (``kind``: "rule files", "answers files") but are
    never read: suffixes are case-sensitive, so ``20-care.YAML`` would be skipped
    without a word."""
    problems = []
    for path in listed(directory):
        if unwatched(path.name):
            continue
        if path.suffix.lower() in RULE_SUFFIXES and path.suffix not in RULE_SUFFIXES:
            message = f"not read: {kind} must end in .yaml or .yml, not {path.suffix}"
            problems.append(Problem(str(path), 1, 1, "", message))
    return problems


def _documents(path: Path, problems: list[Problem]) -> list[Document]:
    return read_documents(path, problems, kind="a rule file", items="rules")


def read_documents(path: Path, problems: list[Problem], *, kind: str, items: str) -> list[Document]:
    """The YAML documents of one file people edit next to the rules (``kind``: "a rule
    file"; ``items``: what its documents are, "rules"), or [] with its problems: too
    big, not UTF-8, aliases or duplicate keys, bad YAML, nothing in it."""
    special = special_file(path)
    if special is not None:  # a named pipe: read, it would wait for a writer
        problems.append(Problem(str(path), 1, 1, "", f"is {special}, not a regular file"))
        return []
    try:
        size = path.stat().st_size
        text = path.read_text(encoding="utf-8") if size <= MAX_RULE_FILE_BYTES else ""
    except UnicodeDecodeError as exc:
        problems.append(Problem(str(path), 1, 1, "", not_utf8(exc)))
        return []
    except OSError as exc:
        # Unreadable (permissions), or gone since the folder was listed (a `git pull`
        # under a starting daemon): a problem like any other, not a traceback.
        message = f"cannot read the file: {exc.strerror or type(exc).__name__}"
        problems.append(Problem(str(path), 1, 1, "", message))
        return []
    if size > MAX_RULE_FILE_BYTES:
        message = f"file is {size / 1e6:.1f} MB; {kind} may be at most 1 MB"
        problems.append(Problem(str(path), 1, 1, "", message))
        return []
    unsafe = _unsafe_yaml(path, text, kind)
    if unsafe is not None:
        problems.append(unsafe)
        return []
    try:
        documents = load_documents(path, text)
    except ConfigError as exc:
        problems.extend(exc.problems)
        return []
    # A document holding only comments (after ``---``) is a comment, as in AutoModerator.
    documents = [d for d in documents if d.data is not None]
    if not documents:
        message = f"no {items} in this file (it is empty or only comments)"
        problems.append(Problem(str(path), 1, 1, "", message))
    return documents


def _unsafe_yaml(path: Path, text: str, kind: str) -> Problem | None:
    alias = _first_alias(text)
    if alias is not None:
        line, col, name = alias
        message = f"YAML aliases are not allowed in {kind} (*{name}); write the values out"
        return Problem(str(path), line, col, "", message)
    return None  # duplicate keys: load_documents refuses them for every YAML file


def _first_alias(text: str) -> tuple[int, int, str] | None:
    """Aliases let a few lines expand into gigabytes ("billion laughs"); rules never
    need them. An anchor (&name) nothing refers to repeats nothing, so it is let be:
    refused, it would stop a daemon whose files loaded before.
    Syntax errors are left to the real parser, which reports them better."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.AliasToken):
                mark = token.start_mark
                return mark.line + 1, mark.column + 1, str(token.value)
    except yaml.YAMLError:
        return None
    return None


RULE_SHAPE = "a rule must be a mapping with name:, match: and then:"


def _rule(doc: Document, order: int, env: MatchEnv, problems: list[Problem]) -> Rule | None:
    name = doc.named("name", order, RULE_SHAPE, problems)
    if name is None:
        return None
    spec = validate_document(doc, RuleSpec, f"rule '{name}'", problems)
    errors: Errors = []
    # Only a missing (or empty) match: matches everything. ``match: false`` reads as
    # "never", and ``or {}`` made it (and 0, "", []) match every mention instead.
    raw_match = doc.data.get("match")  # a mapping: named() said so
    if raw_match is False:
        errors.append((("match",), "false is no condition; to turn the rule off: enabled: false"))
        raw_match = None
    matcher = parse_match({} if raw_match is None else raw_match, ("match",), env, errors)
    problems.extend(rule_problem(doc, name, loc, message) for loc, message in errors)
    # A rule with a broken match block is still returned so its templates and teams
    # are checked too: one check-config run lists every problem.
    return None if spec is None else Rule(spec, matcher, doc, order)


def _duplicates(rules: list[Rule]) -> list[Problem]:
    seen: dict[str, Rule] = {}
    problems = []
    for rule in rules:
        first = seen.setdefault(rule.name, rule)
        if first is not rule:
            where = f"{first.file}:{first.line}"
            problems.append(
                rule.problem(("name",), f"duplicate rule name, first defined at {where}")
            )
    return problems
