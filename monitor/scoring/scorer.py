"""Scorer: text in, Score out, for any input, in bounded time."""

from __future__ import annotations

import math
from collections.abc import Mapping

from monitor.domain import Label, Score
from monitor.scoring import emoji, lexicon, text
from monitor.scoring.language import LanguageGate, declared
from monitor.settings import ScoringConfig

EMPTY = "empty"
NO_SIGNAL = "no-signal"

_Polarity = Mapping[str, float]


def coerce(value: object) -> str | None:
    """The text of ``value``; None for a missing one. Other types are a caller's bug."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    raise TypeError(f"text must be str or bytes, not {type(value).__name__}")


class Scorer:
    """VADER with preprocessing, an overlay lexicon and a language gate.

    Build one per process (or per config reload) and share it; ``score`` is thread-safe.
    """

    def __init__(self, config: ScoringConfig | None = None) -> None:
        self._config = config or ScoringConfig()
        overlay = lexicon.merged_overlay(
            self._config.lexicon, use_default=self._config.default_lexicon
        )
        self._vader = lexicon.analyzer(tuple(sorted(overlay.items())))
        self._words = lexicon.known_words(self._vader)
        self._emoji = emoji.emoji_table(self._vader.emojis)
        self._emoji_re = emoji.emoji_pattern(self._emoji)
        self._gate = (
            LanguageGate(self._config.languages, self._config.language_confidence)
            if self._config.detect_language
            else None
        )

    @property
    def config(self) -> ScoringConfig:
        return self._config

    def score(self, text: str | bytes | None, *, lang: str | None = None) -> Score:
        raw = coerce(text)
        given = declared(lang)
        if given is not None and given != "en":
            return _unscored(given, f"language:{given}")
        if raw is None or not raw.strip():
            return _unscored(given, EMPTY)
        cleaned = _text_clean(raw, self._words)
        if not cleaned.strip():
            return _unscored(given, EMPTY)
        found = given
        if found is None and self._gate is not None:
            verdict = self._gate.verdict(cleaned)
            if not verdict.readable:
                return _unscored(verdict.lang, f"language:{verdict.lang}")
            found = verdict.lang
        return self._polarity(cleaned, found)

    def _polarity(self, cleaned: str, lang: str | None) -> Score:
        parts = text.pieces(cleaned, self._expand)
        results = [self._vader.polarity_scores(part) for part in parts]
        signal = [r for r in results if r["pos"] or r["neg"]]
        if not signal:
            return _unscored(lang, NO_SIGNAL)
        compound = _clamp(sum(r["compound"] for r in signal) / len(signal))
        pos, neu, neg = (_mean(results, key) for key in ("pos", "neu", "neg"))
        return Score(
            compound,
            pos,
            neu,
            neg,
            self.label(compound),
            lang,
            alert=compound <= self._config.negative_alert,
        )

    def label(self, compound: float) -> Label:
        if compound >= self._config.positive_threshold:
            return Label.POSITIVE
        if compound <= self._config.negative_threshold:
            return Label.NEGATIVE
        return Label.NEUTRAL

    def _expand(self, part: str) -> str:
        return emoji.expand_emoji(part, self._emoji, self._emoji_re)


def _text_clean(raw: str, words: frozenset[str]) -> str:
    return text.clean(text.sanitize(raw), words)


def _unscored(lang: str | None, reason: str) -> Score:
    return Score(0.0, 0.0, 1.0, 0.0, Label.UNSCORED, lang, reason)


def _mean(results: list[_Polarity], key: str) -> float:
    return round(sum(r[key] for r in results) / len(results), 4)


def _clamp(value: float) -> float:
    return round(min(1.0, max(-1.0, value)), 4)
