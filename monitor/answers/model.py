"""Knowledge-base entries: validated by pydantic at the edge, then frozen dataclasses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from monitor.domain import Platform
from monitor.settings import not_text
from monitor.yamlpos import Document, Problem, described, format_loc, one_or_many, shown_date

ENTRY_ID = r"^[a-z0-9][a-z0-9-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnswerText(Strict):
    """The answer per platform; ``answer: "text"`` sets both. An empty text is the
    loader's to report, with the blank ones (answer_text_problems)."""

    x: str = ""
    reddit: str = ""

    @model_validator(mode="after")
    def _both(self) -> AnswerText:
        # pydantic's "answer.reddit: Field required" did not say that one text for both
        # platforms is the other way to write it.
        missing = [name for name in ("x", "reddit") if name not in self.model_fields_set]
        if missing:
            raise ValueError(
                f"no {' or '.join(missing)} text; give both x: and reddit:, or one text "
                'for both (answer: "...")'
            )
        return self


class Validity(Strict):
    """When the entry may be used, e.g. holiday opening hours. Whole days, inclusive."""

    from_: date | None = Field(default=None, alias="from")
    until: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Validity:
        if self.from_ and self.until and self.until < self.from_:
            raise ValueError("until is before from")
        return self


class EntrySpec(Strict):
    id: str = Field(max_length=64)
    description: str = ""
    enabled: bool = True
    # Several phrasings: the retriever matches the customer's words against these.
    questions: list[str]
    # Optional: at least one of these words must be in the question (after stemming).
    keywords: list[str] = Field(default_factory=list)
    # Optional, a second list that must also match: what the question must be about,
    # for an entry on one product or one case ("air fryer" for the air fryer's
    # dishwasher answer, so the toaster's crumb tray does not get it).
    requires: list[str] = Field(default_factory=list)
    # Optional: the products this entry is about (the kettle's descaling). Without it,
    # the entry holds for every product in answers.products: a question about returning
    # a toaster is a returns question.
    products: list[str] = Field(default_factory=list)
    answer: AnswerText
    valid: Validity | None = None
    # While this entry is valid, the listed entries are not used (holiday hours
    # replacing the usual hours).
    supersedes: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)

    _listify = field_validator(
        "keywords", "requires", "products", "supersedes", "tags", mode="before"
    )(one_or_many)

    @field_validator("answer", mode="before")
    @classmethod
    def _same_for_both(cls, value: object) -> object:
        if isinstance(value, str):
            return {"x": value, "reddit": value}
        # Said here: as a mapping's error, `answer: yes` read "expected a mapping (key:
        # value), not true", as if one text were not allowed.
        if isinstance(value, dict):
            return value
        raise ValueError(
            not_text(value)
            or "expected the answer text, or x: and reddit: with one text each, not "
            + described(value)
        )

    @field_validator("questions", mode="before")
    @classmethod
    def _a_list(cls, value: object) -> object:
        # One text is no list of one here: a single phrasing matches poorly (_several).
        if isinstance(value, list):
            return value
        if isinstance(value, str):
            raise ValueError(
                "expected a list of example questions, not one text; write "
                'questions: ["...", "..."]'
            )
        raise ValueError(f"expected a list of example questions, not {described(value)}")

    @field_validator("valid", mode="before")
    @classmethod
    def _a_span(cls, value: object) -> object:
        # An unquoted day read as a date: as a mapping's error it said "not
        # datetime.date(2026, 12, 1)", and not how to write one day.
        if isinstance(value, date):
            day = value.isoformat()[:10]
            raise ValueError(
                f"expected from: and until: dates, not {shown_date(value)}; for that day "
                f"alone write valid: {{from: {day}, until: {day}}}"
            )
        return value

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(ENTRY_ID, value):
            raise ValueError(
                "use lower-case letters, digits and '-' (e.g. store-hours): the id is "
                "stored with every answer and shown in stats"
            )
        return value

    @field_validator("questions")
    @classmethod
    def _several(cls, questions: list[str]) -> list[str]:
        if len(questions) < 2:
            raise ValueError("give at least 2 example questions: several phrasings match better")
        if any(not q.strip() for q in questions):
            raise ValueError("example questions must not be empty")
        return questions


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    questions: tuple[str, ...]
    texts: dict[Platform, str]
    keywords: frozenset[str] = frozenset()  # stemmed
    requires: frozenset[str] = frozenset()  # stemmed; one of these as well as a keyword
    products: frozenset[str] = frozenset()  # stemmed; empty: every product of the brand
    valid_from: date | None = None
    valid_until: date | None = None
    supersedes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    file: str = ""
    line: int = 1

    def admits(self, words: set[str] | frozenset[str]) -> bool:
        """Whether a question with these (stemmed) words may get this entry at all."""
        if self.keywords and not self.keywords & words:
            return False
        return not self.requires or bool(self.requires & words)

    def valid_at(self, moment: datetime) -> bool:
        day = moment.date()
        after_start = self.valid_from is None or day >= self.valid_from
        return after_start and (self.valid_until is None or day <= self.valid_until)

    @property
    def seasonal(self) -> bool:
        return self.valid_from is not None or self.valid_until is not None


@dataclass(frozen=True)
class KnowledgeBase:
    entries: tuple[Entry, ...] = ()
    version: str = ""
    warnings: tuple[Problem, ...] = field(default=())
    brand: str = ""  # the brand's name: never an unknown name in a question
    products: frozenset[str] = frozenset()  # stemmed words of answers.products

    def get(self, entry_id: str) -> Entry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def replacing(self, entry: Entry, now: datetime) -> Entry | None:
        """The seasonal entry valid at ``now`` that supersedes ``entry``, if any."""
        return next((e for e in self.entries if entry.id in e.supersedes and e.valid_at(now)), None)

    def in_force(self, now: datetime) -> tuple[Entry, ...]:
        """The entries in use at ``now``: in their validity window and not superseded."""
        return tuple(e for e in self.entries if e.valid_at(now) and not self.replacing(e, now))


def entry_problem(
    doc: Document,
    name: str,
    loc: tuple[str | int, ...],
    message: str,
    *,
    warning: bool = False,
) -> Problem:
    """A problem printed as ``file:line:col: answer 'id': key: message``."""
    line, col = doc.where(loc)
    where = format_loc(loc)
    text = f"{where}: {message}" if where else message
    return Problem(doc.file, line, col, f"answer '{name}'", text, warning)
