"""The knowledge base's word index never changes an assessment: it only skips ranking a
question no entry can answer. Checked against ranking every question, over real
tweets, the labelled sets, the docs' and the tests' questions."""

from __future__ import annotations

import ast
import re
from datetime import UTC, datetime
from pathlib import Path

from monitor.answers.answerer import Answerer
from monitor.answers.index import EntryIndex
from monitor.answers.loader import load_knowledge_base
from monitor.answers.model import Entry, KnowledgeBase
from monitor.answers.normalise import own_words, tokens
from monitor.answers.questions import is_question
from monitor.domain import Platform
from monitor.settings import load_settings
from tests.answerkit import knowledge_base_dir
from tests.conftest import REPO, SHARED

NOV = datetime(2026, 11, 20, 12, tzinfo=UTC)
DEC = datetime(2026, 12, 20, 12, tzinfo=UTC)
TWEETS = SHARED / "data" / "vader-groundtruth" / "tweets_GroundTruth.txt"
_QUOTED = re.compile(r'"([^"\n]{6,300})"')


def shipped_kb() -> KnowledgeBase:
    settings = load_settings(REPO / "config" / "inchannel.yaml")
    config = settings.answers
    path = settings.resolve(config.path)
    return load_knowledge_base(path, brand=settings.brand.name, products=config.products)


def sample_texts() -> list[str]:
    """Questions that get an answer and many that do not: the labelled sets, the
    sample mentions, the docs' quoted questions, the answer tests' strings, every
    entry's own examples, and the VADER tweets."""
    texts = [
        line.split("\t")[3]
        for path in sorted((REPO / "bench" / "data").glob("answers_*.tsv"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        texts += _QUOTED.findall(path.read_text(encoding="utf-8"))
    texts += (REPO / "config" / "samples" / "mentions.jsonl").read_text().splitlines()
    for path in sorted((REPO / "tests").glob("test_answers_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        texts += [
            n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) is str
        ]
    texts += [q for e in shipped_kb().entries for q in e.questions]
    rows = TWEETS.read_text(encoding="utf-8").splitlines()
    return texts + ["@acme " + row.split("\t", 2)[2] for row in rows if row.strip()]


def test_indexed_assessments_equal_ranking_every_question(tmp_path: Path) -> None:
    texts = sample_texts()
    assert len(texts) > 6000
    kits = [shipped_kb(), load_knowledge_base(knowledge_base_dir(tmp_path), brand="Acme")]
    skipped = 0
    for kb in kits:
        indexed = Answerer(kb, answer_at=0.35, draft_at=0.15)
        every = Answerer(kb, answer_at=0.35, draft_at=0.15, indexed=False)
        for now in (NOV, DEC):
            for text in texts:
                assert indexed.assess(text, now=now) == every.assess(text, now=now), text
        for text in texts:
            words = set(tokens(own_words(text)))
            skipped += is_question(own_words(text)) and not indexed.retriever.index.may_match(words)
    assert skipped > 1000  # the index does turn questions away before ranking


# --- what the index requires of a question ------------------------------------------


def entry(entry_id: str, **lists: frozenset[str]) -> Entry:
    return Entry(entry_id, ("q",), {Platform.X: "a", Platform.REDDIT: "a"}, **lists)  # type: ignore[arg-type]


def test_an_entry_with_keywords_needs_one_and_an_example_word() -> None:
    index = EntryIndex(
        [entry("ship", keywords=frozenset({"ship", "countri"}))],
        {"ship": frozenset({"ship", "spain"})},
    )
    assert index.may_match({"ship", "spain"})
    assert index.may_match({"ship"})
    assert not index.may_match({"spain"})  # an example word, but no keyword
    assert not index.may_match({"countri"})  # a keyword no example question has


def test_an_entry_with_requires_needs_one_of_them_too() -> None:
    fryer = entry("fryer", keywords=frozenset({"clean"}), requires=frozenset({"fryer", "basket"}))
    index = EntryIndex([fryer], {"fryer": frozenset({"clean", "dishwash", "fryer"})})
    assert index.may_match({"clean", "basket"})
    assert not index.may_match({"clean", "dishwash"})


def test_an_entry_without_keywords_needs_a_word_of_its_examples() -> None:
    index = EntryIndex([entry("hours")], {"hours": frozenset({"open", "hour"})})
    assert index.may_match({"hour", "sunday"})
    assert not index.may_match({"sunday", "parcel"})


def test_an_entry_no_example_question_reaches_is_never_a_candidate() -> None:
    index = EntryIndex([entry("silent", keywords=frozenset({"ship"}))], {})
    assert not index.may_match({"ship"})


def test_any_entry_that_fits_is_enough() -> None:
    index = EntryIndex(
        [entry("a", keywords=frozenset({"x"})), entry("b", keywords=frozenset({"y"}))],
        {"a": frozenset({"x"}), "b": frozenset({"y", "z"})},
    )
    assert index.may_match({"y"})
    assert not index.may_match({"z"})
