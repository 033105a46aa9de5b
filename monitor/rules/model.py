"""Rule files: one YAML document per rule, validated with file:line:col errors.

The top-level keys and ``then:`` are validated by pydantic (this is the config edge);
``match:`` has AutoModerator-style keys (``~text (regex)``) and is parsed by
monitor.rules.matching. Cross-rule checks (templates, teams, unreachable rules) are in
monitor.rules.lint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from monitor.domain import MAX_SLA_MINUTES, REASON_CHARS, SPAM_TAG, TAG, TAG_RULE, Priority
from monitor.rules.checks import AllOf
from monitor.yamlpos import Document, Loc, Problem, described, format_loc, one_or_many


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _none_or_many(value: object, info: ValidationInfo) -> object:
    # `tag:` left empty is no tag; the rule then says it has no action if it has none.
    return None if value is None else one_or_many(value, info)


def _rule_priority(value: object) -> object:
    """A whole number. pydantic read `priority: yes` as 1, and answered `priority: urgent`
    (a case's priority, not the rule's order) with "Input should be a valid integer"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    message = f"expected a whole number (higher runs first, default 0), not {described(value)}"
    if isinstance(value, str) and value.strip().lower() in set(Priority):
        message += f"; the case's priority is then: {{set_priority: {value.strip().lower()}}}"
    raise ValueError(message)


def _headline(reason: str) -> str:
    """A reason that fits the notification's first line: the title is the text up to
    the first line break (responders.notify), so a second line slid into the body."""
    clean = reason.strip()
    if len(clean.splitlines()) > 1:
        raise ValueError("one line only: it is the headline of every notification the rule sends")
    if len(clean) > REASON_CHARS:
        raise ValueError(
            f"{len(clean)} characters; a reason may be at most {REASON_CHARS}: it is the "
            "headline of every notification the rule sends"
        )
    return clean


class EscalateSpec(Strict):
    team: str = Field(min_length=1)
    priority: Priority = Priority.NORMAL
    # Default: the team's own.
    sla_minutes: int | None = Field(default=None, ge=1, le=MAX_SLA_MINUTES)
    channels: list[str] = Field(default_factory=list)
    reason: Annotated[str, AfterValidator(_headline)] = ""

    _listify = field_validator("channels", mode="before")(one_or_many)


class AnswerAction(Strict):
    """Post the best knowledge-base entry for the question; thresholds default to the
    config's ``answers.answer_at`` and ``answers.draft_at``."""

    min_confidence: float | None = Field(default=None, gt=0, le=1)
    draft_at: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> AnswerAction:
        # As answers.draft_at and answer_at in the config: reversed, the draft band was
        # silently cut to nothing.
        low, high = self.draft_at, self.min_confidence
        if low is not None and high is not None and low > high:
            raise ValueError("draft_at must not be above min_confidence")
        return self


def _answer_flag(value: object) -> object:
    # `answer: false` switches it off, as `ignore: false` and `stop: false` do.
    return {} if value is True else None if value is False else value


def _case_tag(tag: str) -> str:
    """A tag as a person would type it on the dashboard, lower-cased as theirs is: one it
    splits or cannot match ("billing, refund", "after hours") could not be removed."""
    clean = tag.strip().lower()
    if TAG.match(clean):
        return clean
    words = [word for word in re.split(r"[\s,]+", clean) if word]
    hint = ""
    if len(words) > 1 and "," in clean:
        hint = f"; several tags are a list: [{', '.join(words)}]"
    elif len(words) > 1:
        hint = f"; e.g. {'-'.join(words)!r}"
    raise ValueError(f"bad tag {tag[:40]!r}: {TAG_RULE}{hint}")


CaseTag = Annotated[str, AfterValidator(_case_tag)]


# On a rule that acts, or beside rules that do, the spam tag left an open case the bot
# answered and escalated but owed no answer, closed as spam once resolved.
_SPAM_NEEDS_IGNORE = (
    f"tag {SPAM_TAG!r} marks the case as spam (no answer owed; closed as spam once "
    "resolved), so only an ignore rule may add it; add ignore: true, or tag it something "
    "else (e.g. suspected-spam)"
)


class Then(Strict):
    reply: list[str] | None = Field(default=None, min_length=1)
    draft: list[str] | None = Field(default=None, min_length=1)
    answer: AnswerAction | None = None
    escalate: EscalateSpec | None = None
    tag: list[CaseTag] | None = None
    assign: str | None = Field(default=None, min_length=1)
    set_priority: Priority | None = None
    ignore: bool = False
    stop: bool = False

    _listify = field_validator("reply", "draft", "tag", mode="before")(_none_or_many)
    _answer = field_validator("answer", mode="before")(_answer_flag)

    @model_validator(mode="after")
    def _coherent(self) -> Then:
        acting = [
            k
            for k in ("reply", "draft", "answer", "escalate", "assign", "set_priority")
            if getattr(self, k) is not None
        ]
        if self.reply and self.draft:
            raise ValueError("choose reply (posted) or draft (approved by a person), not both")
        if self.answer is not None and (self.reply or self.draft):
            raise ValueError("answer posts a knowledge-base entry; remove reply/draft or answer")
        if self.ignore and acting:
            raise ValueError(f"ignore stores the mention and does nothing else; remove {acting[0]}")
        if not acting and not (self.tag or self.ignore or self.stop):
            raise ValueError("a rule needs at least one action (reply, draft, escalate, ...)")
        if SPAM_TAG in (self.tag or []) and not self.ignore:
            raise ValueError(_SPAM_NEEDS_IGNORE)
        return self

    @property
    def templates(self) -> list[str]:
        return self.reply or self.draft or []

    @property
    def terminal(self) -> bool:
        """Safety rules: they run before acting rules and end evaluation when they match."""
        return self.ignore or self.stop


class RuleSpec(Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    enabled: bool = True
    priority: int = 0
    match: Any = None  # parsed by monitor.rules.matching
    then: Then
    allow_redirect: bool = False
    redirect_reason: str = ""

    _priority = field_validator("priority", mode="before")(_rule_priority)


@dataclass(frozen=True, eq=False)
class Rule:
    """A validated rule with its checks compiled once."""

    spec: RuleSpec
    matcher: AllOf
    doc: Document
    order: int

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def file(self) -> str:
        return self.doc.file

    @property
    def line(self) -> int:
        return self.doc.start_line

    def problem(self, loc: Loc, message: str, *, warning: bool = False) -> Problem:
        return rule_problem(self.doc, self.name, loc, message, warning=warning)


def rule_problem(
    doc: Document, name: str, loc: Loc, message: str, *, warning: bool = False
) -> Problem:
    """A problem printed as ``file:line:col: rule 'name': key: message``."""
    line, col = doc.where(loc)
    where = format_loc(loc)
    text = f"{where}: {message}" if where else message
    return Problem(doc.file, line, col, f"rule '{name}'", text, warning)


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    version: str  # content hash of the rules folder
    warnings: tuple[Problem, ...] = field(default=())


def evaluation_order(rules: tuple[Rule, ...] | list[Rule]) -> list[Rule]:
    """Safety rules (ignore/stop) first, as AutoModerator runs removals first; then by
    explicit priority, higher first; then file order."""
    return sorted(rules, key=lambda r: (not r.spec.then.terminal, -r.spec.priority, r.order))
