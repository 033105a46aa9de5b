"""The support-domain lexicon overlay and the one VADER analyzer per process.

VADER's lexicon was built for tweets, where "support", "help", "please" and "care" are
warm words. In a customer-care mention they are the vocabulary of a complaint:
"customer support is terrible" scores -0.10 raw because "support" (+1.7) cancels most of
"terrible". Complaint words such as "refund", "late" and "waiting" are missing.

DEFAULT_OVERLAY was tuned on tests/data/support_mentions.tsv (our own examples), never on
the ground-truth corpora; bench/scoring.py shows what it does to them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import lru_cache

from vaderSentiment.vaderSentiment import (
    BOOSTER_DICT,
    N_SCALAR,
    NEGATE,
    SentimentIntensityAnalyzer,
    SentiText,
)

# word -> valence on VADER's -4..+4 scale (raw values in comments).
DEFAULT_OVERLAY: Mapping[str, float] = {
    # Politeness and service words: neutral in a request ("please help", "kindly refund").
    "support": 0.0,  # +1.7
    "help": 0.0,  # +1.7
    "please": 0.0,  # +1.3
    "pls": 0.0,  # +0.3
    "plz": 0.0,  # +0.3
    "kindly": 0.0,  # +2.2
    "care": 0.0,  # +2.2 ("customer care")
    # "thanks" (+1.9) stays: lowering it fixed no example in our tuning set, and most
    # thanks are sincere. "thanks for nothing" is sarcasm, which VADER cannot see.
    # "pay" (-0.4) and "joke" (+1.2) stay too: neutral "pay" cost Amazon and NYT snippets
    # ("you get what you pay for"), negative "joke" cost tweets. monitor.scoring.text's
    # idioms read "pay with/by" and "is a joke" instead (docs/scoring.md, step 7).
    # Complaint vocabulary that VADER lacks or underrates.
    "refund": -1.2,
    "refunds": -1.2,
    "late": -1.3,
    "waiting": -1.0,
    "waited": -1.2,
    "cancelled": -1.5,  # -1.0
    "canceled": -1.5,
    "delayed": -1.3,  # -0.9
    "broken": -1.5,  # absent from VADER: "arrived broken" read as no sentiment
    "crashed": -1.7,
    "crashes": -1.7,
    "crashing": -1.7,
    "overcharged": -2.0,
    "outage": -1.8,
    "buggy": -1.5,
    "garbage": -2.0,
    "trash": -1.8,
    "nightmare": -2.5,
}

# Complaint words that stay complaints when negated. VADER flips a negated word, which
# suits "not late", but the overlay's "refund" is a complaint because the customer wants
# one: "I didn't get a refund", "still no refund" and "never got my refund" scored +0.22,
# praise. Only a negative valence is kept; one a config made positive negates as usual.
NEGATION_PROOF = frozenset({"refund", "refunds"})


class Analyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]
    """vaderSentiment 3.3.2's analyzer minus its emoji step.

    ``polarity_scores`` is 3.3.2's own, less the per-character emoji loop that opens it
    (about 12% of its time on tweets): monitor.scoring.emoji has already replaced every
    emoji by words. For text without emoji the result is identical (tested). Its
    negation and idiom checks are 3.3.2's rules reading only the words they need.
    """

    def polarity_scores(self, text: str) -> dict[str, float]:
        text = text.strip()
        sentitext = SentiText(text)
        words = sentitext.words_and_emoticons
        sentiments: list[float] = []
        for i, item in enumerate(words):
            lowered = item.lower()
            if lowered in BOOSTER_DICT or (
                lowered == "kind" and i < len(words) - 1 and words[i + 1].lower() == "of"
            ):
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
            if lowered in NEGATION_PROOF and self.lexicon.get(lowered, 0) < 0:
                sentiments[-1] = -abs(sentiments[-1])
        sentiments = self._but_check(words, sentiments)
        scores: dict[str, float] = self.score_valence(sentiments, text)
        return scores

    @staticmethod
    def _negation_check(valence: float, words: list[str], start_i: int, i: int) -> float:
        """3.3.2's check of the word ``start_i + 1`` before the lexicon word ``words[i]``
        (``start_i`` is 0, 1 or 2), rule for rule.

        3.3.2 lowercased the whole text and walked its 59 negation words one by one for
        each call, three calls per lexicon word: about a tenth of the scorer's time on
        tweets. Here only the words read are lowercased and a negation is a set lookup.
        """
        one = words[i - 1].lower()
        if start_i == 0:
            return valence * N_SCALAR if _negates(one) else valence
        two = words[i - 2].lower()
        if start_i == 1:
            if two == "never" and one in ("so", "this"):
                return valence * 1.25
            if two == "without" and one == "doubt":
                return valence
            return valence * N_SCALAR if _negates(two) else valence
        three = words[i - 3].lower()
        # 3.3.2's precedence: "so" or "this" right before the word boosts without "never".
        if (three == "never" and two in ("so", "this")) or one in ("so", "this"):
            return valence * 1.25
        if three == "without" and "doubt" in (two, one):
            return valence
        return valence * N_SCALAR if _negates(three) else valence

    # 3.3.2's idiom check lowercases the whole text again on each call, once per lexicon
    # word: work quadratic in a piece's words. It reads at most three words back and two
    # on, so it is given only those.
    @staticmethod
    def _special_idioms_check(valence: float, words: list[str], i: int) -> float:
        near, at = _near(words, i)
        checked: float = SentimentIntensityAnalyzer._special_idioms_check(valence, near, at)
        return checked


_NEGATIONS = frozenset(NEGATE)


def _negates(lowered: str) -> bool:
    """3.3.2's ``negated([word])`` for a lowercased word: a negation, or any "n't"."""
    return lowered in _NEGATIONS or "n't" in lowered


def _near(words: list[str], i: int) -> tuple[list[str], int]:
    """The words around ``i`` that VADER's checks read, and where ``i`` is among them.

    Before the fourth word the whole list is kept: an index below 0 there would read
    from the end of the text in 3.3.2, and must read the same words here.
    """
    if i < 3:
        return words, i
    return words[i - 3 : i + 3], 3


@lru_cache(maxsize=1)
def base_analyzer() -> Analyzer:
    """Construction reads the 7,500-line lexicon (about 6 ms): once per process."""
    return Analyzer()


@lru_cache(maxsize=8)
def analyzer(overlay: tuple[tuple[str, float], ...]) -> Analyzer:
    """A shallow copy of the base analyzer with ``overlay`` merged into its lexicon.

    The copy shares everything but the lexicon dict, so a config reload with a new overlay
    costs a dict copy, not a fresh 6 ms construction, and never mutates the shared one.
    """
    base = base_analyzer()
    if not overlay:
        return base
    lexicon = dict(base.lexicon)
    for word, valence in overlay:
        # A 0.0 entry removes the word: a lexicon word, even a neutral one, still stops
        # VADER applying boosters and negations across it.
        if valence == 0:
            lexicon.pop(word, None)
        else:
            lexicon[word] = valence
    patched = copy.copy(base)
    patched.lexicon = lexicon
    return patched


def merged_overlay(extra: Mapping[str, float], *, use_default: bool) -> dict[str, float]:
    merged = dict(DEFAULT_OVERLAY) if use_default else {}
    merged.update(extra)
    return merged


def configured_analyzer(extra: Mapping[str, float], *, use_default: bool) -> Analyzer:
    """The analyzer a ``scoring:`` section gives: ``extra`` over the shipped overlay
    (unless ``use_default`` is false) over VADER's lexicon."""
    overlay = merged_overlay(extra, use_default=use_default)
    return analyzer(tuple(sorted(overlay.items())))


def known_words(vader: Analyzer) -> frozenset[str]:
    """Every token VADER gives meaning to: lexicon, boosters and negations."""
    return frozenset(vader.lexicon) | frozenset(BOOSTER_DICT) | frozenset(NEGATE)


def scored_words(name: str, vader: Analyzer) -> list[tuple[str, float]]:
    """The words of ``name`` (a brand's name or handle) ``vader`` gives a valence to, read
    as the scorer reads a mention: "Best Buy" gives [("best", 3.2)]."""
    # Imported here: monitor.scoring.text imports this module.
    from monitor.scoring.text import clean, sanitize

    words = SentiText(clean(sanitize(name), known_words(vader), None)).words_and_emoticons
    lowered = dict.fromkeys(str(w).lower() for w in words)
    return [(w, vader.lexicon[w]) for w in lowered if w in vader.lexicon]
