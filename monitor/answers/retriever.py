"""Lexical retrieval over the entries' example questions with bm25s.

BM25 finds the candidate examples; its raw score has no fixed scale, so each
candidate's similarity is the geometric mean of two coverages in 0..1:

- how much of the example the question covers: BM25(question, example) divided by
  BM25(example, example), the best score that example can get;
- how much of the question the example covers: the IDF weight of the question's words
  found in the example over the weight of all its words (a word no example uses counts
  with UNKNOWN_WEIGHT, so "do you ship to Mars" still looks like a shipping question,
  but a long question about something else does not).

What an entry "knows" is every word of its example questions, its keywords and its
answer texts: the answer says what the entry covers (the stores it lists, the payment
methods it names). Three measures use it:

- ``rival_share``, evidence for another entry: how much of the question (by IDF) only
  the runner-up entry knows. "What does next day delivery cost?" fits the
  delivery-times example "Do you have next day delivery?" well, but "cost" is a word of
  the delivery-cost entry: the question is as much about the other entry.
- ``uncovered``, evidence that no entry answers it: the question's words the entry does
  not know at all. "Is there a store in Cardiff?" matches the store-list example "Is
  there a store in Dublin?" closely, but the list in the answer has no Cardiff.
- ``unknown``, the same against every entry at once: a name no entry mentions
  ("Clearpay", "Newcastle") is most likely something nobody wrote an answer about.

The brand's products (``answers.products``) are known to every entry that is not about
particular products (its ``products:``): "how long is the guarantee on kettles?" is a
warranty question even though the warranty answer never says "kettle", but "can I
descale the espresso machine?" is not a question for the kettle's descaling entry.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.answers.index import EntryIndex
from monitor.answers.model import Entry
from monitor.answers.normalise import is_detail, text_tokens, tokens

CANDIDATES = 12  # examples looked at per question: enough to find the runner-up entry
UNKNOWN_WEIGHT = 1.2  # an IDF for a word no example uses; a common word is about 1-2


@dataclass(frozen=True, slots=True)
class Hit:
    entry: Entry
    similarity: float  # 0..1
    question: str  # the example question that matched best


class Retriever:
    """Built once per knowledge base; ``search`` is read-only and thread-safe."""

    def __init__(self, entries: Sequence[Entry], *, products: frozenset[str] = frozenset()) -> None:
        import bm25s  # lazily: numpy and scipy cost ~0.3 s, paid only when answers exist

        self._owner: list[tuple[Entry, str]] = []
        corpus: list[list[str]] = []
        for entry in entries:
            for question in entry.questions:
                found = tokens(question)
                if found:
                    self._owner.append((entry, question))
                    corpus.append(found)
        # An entry's keywords count as its words too when measuring question coverage.
        self._sets = [
            frozenset(t) | e.keywords | e.requires
            for t, (e, _) in zip(corpus, self._owner, strict=True)
        ]
        self._bm25: Any = None
        self._vocab: dict[str, int] = {}
        if corpus:
            self._bm25 = bm25s.BM25()
            self._bm25.index(corpus, show_progress=False)
            self._vocab = dict(self._bm25.vocab_dict)
            self._self = [float(self._bm25.get_scores(t)[i]) for i, t in enumerate(corpus)]
        self._idf = _idf([frozenset(t) for t in corpus])
        examples: dict[str, frozenset[str]] = {}
        for found, (entry, _) in zip(corpus, self._owner, strict=True):
            examples[entry.id] = examples.get(entry.id, frozenset()) | frozenset(found)
        self.index = EntryIndex(entries, examples)
        # Every word an entry knows: its examples' words, its keywords and its answers'
        # words, tokenised once per knowledge base.
        self._known: dict[str, frozenset[str]] = {}
        for entry in entries:
            if entry.id in examples:  # an entry no question reaches is never a hit
                its = entry.keywords | entry.requires | _answer_words(entry)
                learnt = self._known.get(entry.id, examples[entry.id])
                self._known[entry.id] = learnt | its | (entry.products or products)
        # A seasonal entry stands in for the entries it supersedes while it is valid
        # (Answerer.assess), so their questions' words are its words too, down the whole
        # chain: Christmas Eve's hours stand in for December's and so for the usual ones.
        own = dict(self._known)
        superseded = {e.id: e.supersedes for e in entries}
        for entry in entries:
            if entry.id not in own:
                continue
            seen, todo = {entry.id}, list(entry.supersedes)
            while todo:
                other = todo.pop()
                if other not in seen:
                    seen.add(other)
                    self._known[entry.id] |= own.get(other, frozenset())
                    todo.extend(superseded.get(other, ()))
        self._everything = frozenset().union(*self._known.values())

    def search(self, query: list[str]) -> list[Hit]:
        """Entries by similarity to the tokenised question, best first (one hit each)."""
        words = set(query)
        known = [t for t in words if t in self._vocab]
        if not known:
            return []
        scores = self._bm25.get_scores(known)
        count = min(CANDIDATES, len(scores))
        order = scores.argpartition(-count)[-count:] if count < len(scores) else range(count)
        weight = sum(self._idf.get(t, UNKNOWN_WEIGHT) for t in words)
        best: dict[str, Hit] = {}
        for index in order:
            score = float(scores[index])
            if score <= 0:
                continue
            covered = sum(self._idf.get(t, UNKNOWN_WEIGHT) for t in words & self._sets[index])
            similarity = math.sqrt(min(1.0, score / self._self[index]) * covered / weight)
            entry, question = self._owner[index]
            if entry.id not in best or best[entry.id].similarity < similarity:
                best[entry.id] = Hit(entry, similarity, question)
        return sorted(best.values(), key=lambda h: -h.similarity)

    def rival_share(self, query: list[str], best: Entry, rival: Entry) -> float:
        """The IDF share of the question's words that ``rival`` knows and ``best`` does
        not (0..1)."""
        words = set(query)
        weight = sum(self._idf.get(t, UNKNOWN_WEIGHT) for t in words)
        if not weight:
            return 0.0
        theirs = self._known.get(rival.id, frozenset()) - self._known.get(best.id, frozenset())
        return sum(self._idf.get(t, UNKNOWN_WEIGHT) for t in words & theirs) / weight

    def uncovered(self, words: Iterable[str], entry: Entry) -> tuple[list[str], int]:
        """The question's words ``entry`` does not know, and how many words were
        counted. Numbers are left out: an order number, a price or a date is a detail of
        the customer's case, which the answer rarely repeats. A product word is a word:
        "AF300" is not the AF200 an entry is about, nor "Przelewy24" a payment method
        it names."""
        counted = [t for t in words if not is_detail(t)]
        known = self._known.get(entry.id, frozenset())
        return sorted(t for t in counted if t not in known), len(counted)

    def unknown(self, words: Iterable[str]) -> list[str]:
        """The ``words`` no entry knows (examples, keywords or answers)."""
        return sorted({t for t in words if t not in self._everything})


def _answer_words(entry: Entry) -> frozenset[str]:
    return frozenset().union(*(text_tokens(text) for text in entry.texts.values()))


def _idf(documents: list[frozenset[str]]) -> dict[str, float]:
    """Lucene's BM25 IDF, the one bm25s uses by default."""
    frequency: dict[str, int] = {}
    for document in documents:
        for token in document:
            frequency[token] = frequency.get(token, 0) + 1
    total = len(documents)
    return {t: math.log(1 + (total - df + 0.5) / (df + 0.5)) for t, df in frequency.items()}
