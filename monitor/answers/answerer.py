"""From a mention to a proposed knowledge-base answer, with a confidence.

Above ``answer_at`` the answer is posted; between ``draft_at`` and ``answer_at`` it is a
draft a person approves; below, nothing is proposed. Only English questions are
answered: the entries are written in English, and a wrong-language answer in public is
worse than a person's answer a little later.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.answers.model import Entry, KnowledgeBase
from monitor.answers.normalise import MAX_QUESTION_CHARS, tokens
from monitor.answers.questions import is_question
from monitor.answers.retriever import Hit, Retriever

# How much a close runner-up from another entry lowers the confidence: two entries
# that fit equally well mean the question is ambiguous.
AMBIGUITY = 0.6
# How much the question words only the runner-up entry knows lower the confidence: a
# question a fifth about another entry's topic keeps 60% of its confidence. Chosen on
# the tuning set (bench/answers.py), with the thresholds.
RIVAL_EVIDENCE = 2.0
# Codes platforms use for "no language" (X: und, zxx, qme, qht, ...).
NO_LANGUAGE = frozenset({"", "und", "zxx", "qme", "qht", "qam", "qct", "qst"})


@dataclass(frozen=True, slots=True)
class Assessment:
    """Why a mention did or did not get an answer; ``rules test`` and ``answers test``
    show it."""

    confidence: float
    hit: Hit | None
    runner_up: Hit | None = None
    reason: str = ""  # why nothing is proposed: "not a question", "not English", ...


@dataclass(frozen=True, slots=True)
class Proposal:
    entry: Entry
    confidence: float
    draft: bool  # between draft_at and answer_at: a person approves it first


class Answerer:
    def __init__(self, kb: KnowledgeBase, *, answer_at: float, draft_at: float) -> None:
        self.kb = kb
        self.answer_at = answer_at
        self.draft_at = draft_at
        self._retriever: Retriever | None = None
        self._seasonal = tuple(e for e in kb.entries if e.supersedes)

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:  # built on first use: check-config never needs it
            self._retriever = Retriever(self.kb.entries)
        return self._retriever

    def assess(self, text: str, *, now: datetime, lang: str = "") -> Assessment:
        if not self.kb.entries:
            return Assessment(0.0, None, reason="the knowledge base is empty")
        if lang.lower().split("-")[0] not in NO_LANGUAGE | {"en"}:
            return Assessment(0.0, None, reason=f"not English ({lang})")
        if not is_question(text):
            return Assessment(0.0, None, reason="not a question")
        query = tokens(text)
        words = set(query)
        hits = [
            h
            for h in self.retriever.search(query)
            if h.entry.admits(words) and self._usable(h.entry, now)
        ]
        if not hits:
            return Assessment(0.0, None, reason="no entry matches")
        first, second = hits[0], (hits[1] if len(hits) > 1 else None)
        rival = self.retriever.rival_share(query, first.entry, second.entry) if second else 0.0
        return Assessment(confidence(first, second, rival=rival), first, second)

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
        # A text longer than the matcher reads is more than a quick question: a person
        # looks at the answer first.
        draft = found.confidence < answer_at or len(text) > MAX_QUESTION_CHARS
        return Proposal(found.hit.entry, found.confidence, draft)

    def _usable(self, entry: Entry, now: datetime) -> bool:
        if not entry.valid_at(now):
            return False
        return not any(
            entry.id in other.supersedes and other.valid_at(now) for other in self._seasonal
        )


def confidence(first: Hit, second: Hit | None, *, rival: float = 0.0) -> float:
    """The best similarity, lowered when another entry fits almost as well, and lowered
    by the share ``rival`` of the question that only the runner-up entry knows."""
    close = second.similarity if second else 0.0
    penalty = AMBIGUITY * max(0.0, close - 0.5 * first.similarity)
    kept = max(0.0, 1.0 - RIVAL_EVIDENCE * rival)
    return round(max(0.0, first.similarity - penalty) * kept, 4)
