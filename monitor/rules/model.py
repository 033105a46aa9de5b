"""Rule files: one YAML document per rule, validated with file:line:col errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor.domain import Label, MessageKind, Priority
from monitor.settings import validation_problems
from monitor.yamlpos import ConfigError, Document, Problem, load_documents

PLACEHOLDERS = frozenset({"author", "first_name", "case", "team", "match", "brand"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def template_problems(template: str) -> list[str]:
    """Placeholders a template uses that are not on the whitelist."""
    return [
        f"unknown placeholder {{{name}}}; allowed: {', '.join(sorted(PLACEHOLDERS))}"
        for name in _PLACEHOLDER.findall(template)
        if name not in PLACEHOLDERS
    ]


def fill(template: str, values: dict[str, str]) -> str:
    """Fill whitelisted placeholders. Values are inserted verbatim and never re-read as a
    template, so a customer writing "{case}" in a mention changes nothing."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(Strict):
    platform: list[Literal["x", "reddit"]] | None = None
    kind: list[MessageKind] | None = None
    text: list[str] | None = None  # words or phrases, case-insensitive, any of them
    label: list[Label] | None = None
    compound_below: float | None = Field(default=None, ge=-1, le=1)
    compound_above: float | None = Field(default=None, ge=-1, le=1)

    @field_validator("platform", "kind", "text", "label", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class EscalateSpec(Strict):
    team: str
    priority: Priority = Priority.NORMAL
    reason: str = ""


class Then(Strict):
    reply: list[str] | None = None
    draft: list[str] | None = None
    escalate: EscalateSpec | None = None
    tag: list[str] | None = None
    ignore: bool = False
    stop: bool = False

    @field_validator("reply", "draft", "tag", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("reply", "draft")
    @classmethod
    def _known_placeholders(cls, templates: list[str] | None) -> list[str] | None:
        for template in templates or []:
            problems = template_problems(template)
            if problems:
                raise ValueError(problems[0])
        return templates


class RuleSpec(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    enabled: bool = True
    priority: int = 0
    match: Match = Match()
    then: Then


class Rule:
    """A validated rule with its text patterns compiled once."""

    __slots__ = ("file", "line", "order", "pattern", "spec")

    def __init__(self, spec: RuleSpec, file: str, line: int, order: int) -> None:
        self.spec = spec
        self.file = file
        self.line = line
        self.order = order
        words = spec.match.text or []
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        self.pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.I) if words else None

    @property
    def name(self) -> str:
        return self.spec.name


def load_rules(directory: Path) -> list[Rule]:
    """Every enabled rule in ``directory/*.yaml``, in file then document order."""
    problems: list[Problem] = []
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    for path in files:
        try:
            documents = load_documents(path)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        for doc in documents:
            rule = _rule(doc, len(rules), problems)
            if rule is None:
                continue
            if rule.name in seen:
                problems.append(
                    doc.problem(("name",), f"duplicate rule name, first in {seen[rule.name]}")
                )
                continue
            seen[rule.name] = f"{rule.file}:{rule.line}"
            if rule.spec.enabled:
                rules.append(rule)
    if problems:
        raise ConfigError(problems)
    return rules


def _rule(doc: Document, order: int, problems: list[Problem]) -> Rule | None:
    if not isinstance(doc.data, dict):
        problems.append(doc.problem((), "a rule must be a mapping with name:, match: and then:"))
        return None
    try:
        spec = RuleSpec.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(validation_problems(doc, exc, RuleSpec))
        return None
    return Rule(spec, doc.file, doc.start_line, order)
