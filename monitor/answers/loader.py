"""Read the knowledge base folder: every ``*.yaml``/``*.yml`` file, one entry per YAML
document, every problem collected with its file:line:col before anything is reported."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from monitor.answers.model import Entry, EntrySpec, KnowledgeBase, entry_problem
from monitor.answers.normalise import tokens, use_brand
from monitor.domain import Platform
from monitor.rules.deflection import find_redirect
from monitor.rules.loader import misnamed_files, read_documents, rule_files, rules_version
from monitor.rules.templates import (
    PLATFORM_LIMITS,
    WORST_CASE_LENGTHS,
    fill,
    longest_values,
    template_problems,
)
from monitor.settings import validate_document
from monitor.textlength import brand_text_length
from monitor.yamlpos import ConfigError, Document, Problem

# What an answer may say about the customer and the case. {team} and {match} belong
# to rules: an answer is the same whatever rule used it.
ANSWER_PLACEHOLDERS = ("author", "first_name", "case", "brand")


def load_knowledge_base(
    directory: Path, *, brand: str, products: Sequence[str] = ()
) -> KnowledgeBase:
    """Every enabled entry, validated; raise ConfigError on any error. A folder that does
    not exist is an empty knowledge base (the feature is off); one with no answers files
    is an error. ``products`` are the brand's products (answers.products): words every
    entry knows unless it names its own."""
    if not directory.is_dir():
        if directory.exists():
            # A file where the folder goes (a mistyped answers.path): read as no folder,
            # the knowledge base was silently off.
            message = "is a file, not a folder: answers.path names the folder of answers files"
            raise ConfigError([Problem(str(directory), 1, 1, "", message)])
        return KnowledgeBase()
    use_brand(brand)  # before any entry is read into tokens
    problems = misnamed_files(directory, kind="answers files")
    entries: list[Entry] = []
    declared: list[Declared] = []  # every entry's id, the disabled ones' too
    examples: dict[tuple[str, ...], Entry] = {}  # an example's words: its first entry
    files = rule_files(directory)
    if not files:
        # An emptied folder (a half-finished checkout, files moved away) loaded as zero
        # entries, and hot reload took it: the answer rules silently stopped answering.
        message = (
            "no answers files (*.yaml, *.yml) in this folder; remove the folder to run "
            "without a knowledge base"
        )
        problems.append(Problem(str(directory), 1, 1, "", message))
    for path in files:
        for doc in read_documents(path, problems, kind="an answers file", items="answers"):
            entry = _entry(doc, len(declared), brand, problems, declared)
            if entry is not None:
                entries.append(entry)
                problems.extend(_shared_examples(doc, entry, examples))
                problems.extend(_unreachable_examples(doc, entry))
    disabled = {d.id for d in declared if not d.enabled}
    problems.extend(_duplicates(declared))
    problems.extend(_unknown_superseded(entries, disabled))
    problems.extend(_circular_superseded(entries))
    problems.sort(key=lambda p: (p.file, p.line, p.col))
    if any(not p.warning for p in problems):
        raise ConfigError(problems)
    catalogue = frozenset(t for product in products for t in tokens(product))
    return KnowledgeBase(
        tuple(entries), rules_version(directory), tuple(problems), brand, catalogue
    )


@dataclass(frozen=True, slots=True)
class Declared:
    id: str
    file: str
    line: int
    enabled: bool


ANSWER_SHAPE = "an answer must be a mapping with id:, questions: and answer:"


def _entry(
    doc: Document, order: int, brand: str, problems: list[Problem], declared: list[Declared]
) -> Entry | None:
    name = doc.named("id", order, ANSWER_SHAPE, problems)
    if name is None:
        return None
    spec = validate_document(doc, EntrySpec, f"answer '{name}'", problems)
    if spec is None:
        return None
    problems.extend(_text_problems(doc, spec, brand))
    problems.extend(_keyword_problems(doc, spec))
    problems.extend(_question_problems(doc, spec))
    # A disabled entry's id counts too: stats and sent replies name entries by id, and
    # superseding a disabled one is reported as such, not as an unknown id.
    declared.append(Declared(spec.id, doc.file, doc.start_line, spec.enabled))
    if not spec.enabled:
        return None
    return _compiled(doc, spec)


def _text_problems(doc: Document, spec: EntrySpec, brand: str) -> list[Problem]:
    problems = []
    # One text for both platforms (``answer: "..."``) is reported once, against X's limit.
    shared = spec.answer.x == spec.answer.reddit
    for platform in [Platform.X] if shared else list(Platform):
        text = getattr(spec.answer, platform.value)
        loc: tuple[str, ...] = ("answer",) if shared else ("answer", platform.value)
        for message in answer_text_problems(text, platform, brand=brand):
            problems.append(entry_problem(doc, spec.id, loc, message))
    return problems


def answer_text_problems(text: str, platform: Platform, *, brand: str) -> list[str]:
    """Unknown or broken placeholders, redirects and length over the platform's limit."""
    if not text.strip():
        return ["an empty answer would post nothing"]
    problems = template_problems(text, ANSWER_PLACEHOLDERS)
    found = find_redirect(text)
    if found is not None:
        problems.append(
            f"sends the customer elsewhere ({found[0]}: {found[1]!r}); the answer must be "
            "in the reply itself"
        )
    lengths = {k: v for k, v in WORST_CASE_LENGTHS.items() if k in ANSWER_PLACEHOLDERS}
    longest = longest_values(platform, lengths, brand)
    worst = brand_text_length(platform, fill(text, longest, platform=platform))
    limit = PLATFORM_LIMITS[platform]
    if worst > limit:
        problems.append(
            f"answer can reach {worst} characters with the longest values; "
            f"{platform.value} allows {limit}"
        )
    return problems


def _keyword_problems(doc: Document, spec: EntrySpec) -> list[Problem]:
    return [
        entry_problem(doc, spec.id, (key, i), f"{word!r} has no searchable word")
        for key, words in (
            ("keywords", spec.keywords),
            ("requires", spec.requires),
            ("products", spec.products),
        )
        for i, word in enumerate(words)
        if not tokens(word)
    ]


def _question_problems(doc: Document, spec: EntrySpec) -> list[Problem]:
    """Warnings for example questions of only words such as "how", "do", "this": the
    index is built from the questions' words, so such a question never matches, and an
    entry with nothing but such questions never answers."""
    empty = [i for i, question in enumerate(spec.questions) if not tokens(question)]
    if len(empty) == len(spec.questions):
        message = "no example question has a searchable word: the entry can never answer"
        return [entry_problem(doc, spec.id, ("questions",), message, warning=True)]
    return [
        entry_problem(
            doc,
            spec.id,
            ("questions", i),
            f"{spec.questions[i]!r} has no searchable word: it never matches",
            warning=True,
        )
        for i in empty
    ]


def _shared_examples(
    doc: Document, entry: Entry, examples: dict[tuple[str, ...], Entry]
) -> list[Problem]:
    """Warnings for an example question another entry has too (in words, after
    normalising): a question like it fits both alike, so it is never answered in public
    (Assessment.tied). A seasonal entry and the entry it supersedes may share them."""
    problems = []
    for i, question in enumerate(entry.questions):
        key = tuple(sorted(tokens(question)))
        other = examples.setdefault(key, entry) if key else entry
        if other.id == entry.id or other.id in entry.supersedes or entry.id in other.supersedes:
            continue
        message = (
            f"{question!r} is also an example of answer {other.id!r}: a question like it "
            "fits both entries alike and is only drafted; keep it in one"
        )
        problems.append(entry_problem(doc, entry.id, ("questions", i), message, warning=True))
    return problems


def _unreachable_examples(doc: Document, entry: Entry) -> list[Problem]:
    """Warnings for an example question the entry's own keywords: or requires: turn
    away: a question like it never gets the entry, however close it is. Stop words are
    dropped before the check ("in the US" reads as "in the"), which is easy to miss."""
    problems = []
    for i, question in enumerate(entry.questions):
        words = tokens(question)
        key = _turned_away_by(entry, set(words))
        if not words or key is None:  # a question with no word is warned about already
            continue
        listed = "keywords" if key == "keywords" else "requires words"
        message = (
            f"{question!r} has none of the entry's {listed} (its words: "
            f"{', '.join(dict.fromkeys(words))}): a question like it never gets this "
            f"entry; reword it or add one of its words to {key}"
        )
        problems.append(entry_problem(doc, entry.id, ("questions", i), message, warning=True))
    return problems


def _turned_away_by(entry: Entry, words: set[str]) -> str | None:
    """Which of the entry's lists keeps a question of these words out, if one does."""
    if entry.keywords and not entry.keywords & words:
        return "keywords"
    if entry.requires and not entry.requires & words:
        return "requires"
    return None


def _compiled(doc: Document, spec: EntrySpec) -> Entry:
    valid = spec.valid
    return Entry(
        id=spec.id,
        questions=tuple(q.strip() for q in spec.questions),
        texts={Platform.X: spec.answer.x, Platform.REDDIT: spec.answer.reddit},
        keywords=frozenset(t for word in spec.keywords for t in tokens(word)),
        requires=frozenset(t for word in spec.requires for t in tokens(word)),
        products=frozenset(t for word in spec.products for t in tokens(word)),
        valid_from=valid.from_ if valid else None,
        valid_until=valid.until if valid else None,
        supersedes=tuple(spec.supersedes),
        tags=tuple(spec.tags),
        file=doc.file,
        line=doc.start_line,
    )


def _duplicates(entries: list[Declared]) -> list[Problem]:
    seen: dict[str, Declared] = {}
    problems = []
    for entry in entries:
        first = seen.setdefault(entry.id, entry)
        if first is not entry:
            message = f"id: duplicate answer id, first defined at {first.file}:{first.line}"
            problems.append(Problem(entry.file, entry.line, 1, f"answer '{entry.id}'", message))
    return problems


def _unknown_superseded(entries: list[Entry], disabled: set[str]) -> list[Problem]:
    ids = {e.id for e in entries}
    return [
        Problem(e.file, e.line, 1, f"answer '{e.id}'", _superseded_message(other, disabled))
        for e in entries
        for other in e.supersedes
        if other not in ids
    ]


def _circular_superseded(entries: list[Entry]) -> list[Problem]:
    """An entry superseding itself, or one that supersedes it: while both are valid, a
    question matching one is answered with the other's text. Or one that supersedes it
    through others (a circle of three or more)."""
    by_id = {e.id: e for e in entries}
    problems = []
    for entry in entries:
        for other in entry.supersedes:
            if other == entry.id:
                message = "supersedes: an answer cannot supersede itself"
            elif other in by_id and entry.id in by_id[other].supersedes:
                message = (
                    f"supersedes: answer {other!r} supersedes this one too; while both are "
                    "valid each answers the other's questions"
                )
            else:
                continue
            problems.append(Problem(entry.file, entry.line, 1, f"answer '{entry.id}'", message))
        # A longer circle (a over b, b over c, c over a) passed: while all were valid none
        # was in use (KnowledgeBase.in_force), yet the bot answered with one of them.
        circle = _circle(entry, by_id)
        if len(circle) > 3:  # the entry itself and one other are reported above
            shown = " -> ".join(repr(entry_id) for entry_id in circle)
            message = (
                f"supersedes: {shown} supersede each other in a circle; while all are "
                "valid none of them is in use"
            )
            problems.append(Problem(entry.file, entry.line, 1, f"answer '{entry.id}'", message))
    return problems


def _circle(start: Entry, by_id: dict[str, Entry]) -> list[str]:
    """The shortest chain of ``supersedes`` from ``start`` back to it (its id first and
    last), or [] when there is none."""
    came_from: dict[str, str] = {}
    todo = deque([start.id])
    while todo:
        current = todo.popleft()
        for other in by_id[current].supersedes:
            if other == start.id:
                path = [current]
                while path[-1] != start.id:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start.id]
            if other in by_id and other not in came_from:
                came_from[other] = current
                todo.append(other)
    return []


def _superseded_message(other: str, disabled: set[str]) -> str:
    if other in disabled:
        return (
            f"supersedes: answer {other!r} is disabled (enabled: false); enable it or "
            "take it out of supersedes"
        )
    return f"supersedes: unknown answer id {other!r}"
