"""Sentiment scoring with VADER.

One analyzer per process: construction reads the 7,500-line lexicon (about 6 ms).
"""

from __future__ import annotations

from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from monitor.domain import Label, Score
from monitor.settings import ScoringConfig

# VADER's cost grows quadratically with tokens; cap what one mention may cost.
MAX_SCORED_CHARS = 2_000


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


class Scorer:
    def __init__(self, config: ScoringConfig | None = None) -> None:
        self._config = config or ScoringConfig()
        self._vader = _analyzer()

    def score(self, text: str, *, lang: str | None = None) -> Score:
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        if lang and not lang.startswith("en") and lang not in ("und", "zxx", "qme", "qht"):
            return Score(0.0, 0.0, 1.0, 0.0, Label.UNSCORED, lang, f"language:{lang}")
        if not text.strip():
            return Score(0.0, 0.0, 1.0, 0.0, Label.UNSCORED, lang, "empty")
        raw = self._vader.polarity_scores(text[:MAX_SCORED_CHARS])
        compound = float(raw["compound"])
        return Score(compound, raw["pos"], raw["neu"], raw["neg"], self._label(compound), lang)

    def _label(self, compound: float) -> Label:
        if compound >= self._config.positive_threshold:
            return Label.POSITIVE
        if compound <= self._config.negative_threshold:
            return Label.NEGATIVE
        return Label.NEUTRAL
