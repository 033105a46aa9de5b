"""From a mention to a proposed knowledge-base answer, with a confidence.

Above ``answer_at`` the answer is posted; between ``draft_at`` and ``answer_at`` it is a
draft a person approves; below, nothing is proposed. Only English questions are
answered: the entries are written in English, and a wrong-language answer in public is
worse than a person's answer a little later.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from monitor.answers.model import Entry, KnowledgeBase
from monitor.answers.normalise import is_cut, names, own_words, tokens
from monitor.answers.questions import asking_sentences, is_question
from monitor.answers.retriever import Hit, Retriever
from monitor.domain import declared_language

# How much a close runner-up from another entry lowers the confidence: two entries
# that fit equally well mean the question is ambiguous.
AMBIGUITY = 0.6
# How much the question words only the runner-up entry knows lower the confidence: a
# question a fifth about another entry's topic keeps 60% of its confidence. Chosen on
# the tuning set (bench/answers.py), with the thresholds.
RIVAL_EVIDENCE = 2.0
# What each name in the question that no entry mentions keeps of the confidence: "can I
# pay with Clearpay?" is a payment question, but nobody wrote an answer about Clearpay.
# A round value inside the range that measured alike (0.4-0.7) on the labelled sets
# (docs/answers.md, "The abstention study").
UNKNOWN_NAME = 0.5
# Similarities closer than this are the same fit: identical examples score identically,
# up to the rounding of the arithmetic.
TIE = 1e-9


@dataclass(frozen=True, slots=True)
class Assessment:
    """Why a mention did or did not get an answer; ``rules test`` and ``answers test``
    show it."""

    confidence: float
    hit: Hit | None
    runner_up: Hit | None = None
    reason: str = ""  # why nothing is proposed: "not a question", "not English", ...
    # The asking sentences' words the best entry does not know (examples, keywords and
    # answer text), and the names in them no entry knows: what lowered the confidence.
    uncovered: tuple[str, ...] = ()
    unknown_names: tuple[str, ...] = ()

    @property
    def tied(self) -> bool:
        """Another entry fits exactly as well (the same example in both, most often):
        which of the two is right is a guess, so a person chooses."""
        if self.hit is None or self.runner_up is None:
            return False
        return self.runner_up.similarity >= self.hit.similarity - TIE


@dataclass(frozen=True, slots=True)
class Proposal:
    entry: Entry
    confidence: float
    draft: bool  # between draft_at and answer_at: a person approves it first


class Answerer:
    def __init__(
        self, kb: KnowledgeBase, *, answer_at: float, draft_at: float, indexed: bool = True
    ) -> None:
        """``indexed=False`` ranks every question: the reference the entry index is
        checked against (tests/test_answers_index.py)."""
        self.kb = kb
        self.indexed = indexed
        self.answer_at = answer_at
        self.draft_at = draft_at
        self._retriever: Retriever | None = None
        self._seasonal = tuple(e for e in kb.entries if e.supersedes)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:  # built on first use: check-config never needs it
            self._retriever = Retriever(self.kb.entries, products=self.kb.products)
        return self._retriever

    def assess(self, text: str, *, now: datetime, lang: str = "") -> Assessment:
        if not self.kb.entries:
            return Assessment(0.0, None, reason="the knowledge base is empty")
        if declared_language(lang) not in (None, "en"):
            return Assessment(0.0, None, reason=f"not English ({lang})")
        text = own_words(text)
        if not is_question(text):
            return Assessment(0.0, None, reason="not a question")
        query = tokens(text)
        words = set(query)
        if self.indexed and not self.retriever.index.may_match(words):
            # Most questions name no entry's keywords: ranking them found nothing, and
            # cost more than the rest of the lookup.
            return Assessment(0.0, None, reason="no entry matches")
        ranked = self.retriever.search(query)
        hits = self._in_force(ranked, words, now)
        if not hits:
            return Assessment(0.0, None, reason="no entry matches")
        first = hits[0]
        second = self._ahead(ranked, first, words, now) or (hits[1] if len(hits) > 1 else None)
        rival = self.retriever.rival_share(query, first.entry, second.entry) if second else 0.0
        # Only the sentences that ask are checked against the entry: the context around
        # a question ("nurse here", "moving house on Saturday") is not what it asks.
        sentences, context_left_out = asking_sentences(text)
        asked = (set(tokens(" ".join(sentences))) or words) if context_left_out else words
        missing, counted = self.retriever.uncovered(asked, first.entry)
        strange = self._unknown_names(sentences)
        found = confidence(
            first,
            second,
            rival=rival,
            uncovered=len(missing) / counted if counted else 0.0,
            unknown_names=len(strange),
        )
        return Assessment(
            found, first, second, uncovered=tuple(missing), unknown_names=tuple(strange)
        )

    def propose(
        self,
        text: str,
        *,
        now: datetime,
        lang: str = "",
        answer_at: float | None = None,
        draft_at: float | None = None,
    ) -> Proposal | None:
        found = self.assess(text, now=now, lang=lang)
        answer_at = self.answer_at if answer_at is None else answer_at
        draft_at = min(answer_at, self.draft_at if draft_at is None else draft_at)
        if found.hit is None or found.confidence < draft_at:
            return None
        # A text longer than the matcher reads is more than a quick question, and two
        # entries that fit alike are a coin toss: a person looks at the answer first.
        # Longer as read, not as written: a text unfolding past the limit under NFKC
        # had its end cut unread and was answered in public.
        draft = found.confidence < answer_at or is_cut(text) or found.tied
        return Proposal(found.hit.entry, found.confidence, draft)

    def _ahead(self, hits: list[Hit], first: Hit, words: set[str], now: datetime) -> Hit | None:
        """An entry out of its validity window that fits the question better than
        ``first``: the question is most likely its topic ("are you open on Boxing Day?"
        in November is one for the Christmas hours, not the returns policy's "box"), so
        it is the runner-up, and a person answers."""
        return next(
            (
                h
                for h in hits
                if h.similarity > first.similarity + TIE
                and not h.entry.valid_at(now)
                and h.entry.admits(words)
            ),
            None,
        )

    def _unknown_names(self, sentences: list[str]) -> list[str]:
        """The (stemmed) names in ``sentences`` that no entry mentions."""
        found = [name for s in sentences for name in names(s, brand=self.kb.brand)]
        # One stemming call for all of them: this runs for every question.
        return self.retriever.unknown(tokens(" ".join(found))) if found else []

    def _in_force(self, hits: list[Hit], words: set[str], now: datetime) -> list[Hit]:
        """The hits (best first) of the entries in force at ``now``, still best first and
        one per entry. A hit on a superseded entry counts for the seasonal entry
        replacing it: in December "what time do you close on Saturday?" is a question
        for the Christmas hours, whose own examples are about Christmas."""
        found: dict[str, Hit] = {}
        for hit in hits:
            entry = self._in_place_of(hit.entry, now) if hit.entry.admits(words) else None
            if entry is not None and entry.id not in found:
                found[entry.id] = hit if entry is hit.entry else replace(hit, entry=entry)
        return list(found.values())  # in insertion order: the hits' order

    def _in_place_of(self, entry: Entry, now: datetime) -> Entry | None:
        """The entry answering in ``entry``'s place at ``now``: itself, the valid
        seasonal entry superseding it (or the one superseding that), or None when it is
        out of its window."""
        if not entry.valid_at(now):
            return None
        # Followed to the end of the chain: a seasonal entry may itself be superseded
        # (Christmas Eve's hours over December's), and an entry in the middle is not in
        # use that day (KnowledgeBase.in_force). ``seen`` ends a cycle check-config missed.
        seen = {entry.id}
        while True:
            later = next(
                (s for s in self._seasonal if entry.id in s.supersedes and s.valid_at(now)), None
            )
            if later is None or later.id in seen:
                return entry
            seen.add(later.id)
            entry = later


def confidence(
    first: Hit,
    second: Hit | None,
    *,
    rival: float = 0.0,
    uncovered: float = 0.0,
    unknown_names: int = 0,
) -> float:
    """The best similarity, lowered when another entry fits almost as well, lowered by
    the share ``rival`` of the question that only the runner-up entry knows, multiplied
    by the share of the asking words the entry knows (1 - ``uncovered``) and by
    UNKNOWN_NAME for each name no entry mentions."""
    close = second.similarity if second else 0.0
    penalty = AMBIGUITY * max(0.0, close - 0.5 * first.similarity)
    kept = max(0.0, 1.0 - RIVAL_EVIDENCE * rival) * UNKNOWN_NAME**unknown_names
    # A question the entry's examples match but whose other words the entry never uses
    # is most often an on-topic question it does not answer ("can I pay with
    # Clearpay?" against a payment list without Clearpay): half the words unknown, half
    # the confidence. Plain proportion, no tuned constant: a steeper curve tuned per
    # fold measured no better (docs/answers.md, "The abstention study").
    covered = 1.0 - uncovered
    return round(max(0.0, first.similarity - penalty) * kept * covered, 4)
