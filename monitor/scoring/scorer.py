"""Scorer: text in, Score out, for any input, in bounded time."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from monitor.domain import Label, Score, declared_language
from monitor.scoring import emoji, lexicon, text
from monitor.scoring.language import LanguageGate
from monitor.settings import ScoringConfig

EMPTY = "empty"
NO_SIGNAL = "no-signal"

_Polarity = Mapping[str, float]
_RATIOS = ("pos", "neu", "neg")


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
        self._vader = lexicon.configured_analyzer(
            self._config.lexicon, use_default=self._config.default_lexicon
        )
        self._words = lexicon.known_words(self._vader)
        self._emoji = emoji.emoji_table(self._vader.emojis)
        self._emoji_re = emoji.emoji_pattern(self._emoji)
        self._keep = text.kept_emoji(self._emoji)
        self._praise = emoji.praise(self._emoji, self._vader.lexicon)
        self._gate = (
            LanguageGate(
                self._config.languages, self._config.language_confidence, self._vader.lexicon
            )
            if self._config.detect_language
            else None
        )

    @property
    def config(self) -> ScoringConfig:
        return self._config

    def score(self, text: str | bytes | None, *, lang: str | None = None) -> Score:
        raw = coerce(text)
        given = declared_language(lang)
        if given is not None and given != "en":
            return _unscored(given, f"language:{given}")
        if raw is None or not raw.strip():
            return _unscored(given, EMPTY)
        cleaned = _text_clean(raw, self._words, self._keep)
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
        parts = text.pieces(text.idioms(cleaned, self._vader.lexicon), self._expand)
        results = [self._vader.polarity_scores(p) for p in parts]
        compound, pos, neu, neg = _combine(results)
        if not (pos or neg):
            # VADER met no lexicon word, emoticon or emoji: it could not read the text.
            return _unscored(lang, NO_SIGNAL)
        alert = compound <= self._config.negative_alert
        return Score(compound, pos, neu, neg, self.label(compound), lang, alert=alert)

    def label(self, compound: float) -> Label:
        if compound >= self._config.positive_threshold:
            return Label.POSITIVE
        if compound <= self._config.negative_threshold:
            return Label.NEGATIVE
        return Label.NEUTRAL

    def _expand(self, part: str) -> str:
        return emoji.expand_emoji(part, self._emoji, self._emoji_re, self._praise)


def _text_clean(raw: str, words: frozenset[str], keep: re.Pattern[str] | None) -> str:
    # A module function: inside Scorer.score, "text" is the argument, not the module.
    return text.clean(text.sanitize(raw), words, keep)


def _unscored(lang: str | None, reason: str) -> Score:
    return Score(0.0, 0.0, 1.0, 0.0, Label.UNSCORED, lang, reason)


def _combine(results: Sequence[_Polarity]) -> tuple[float, float, float, float]:
    """One score for a text VADER read in pieces.

    compound is the mean over the pieces that carry sentiment, so neutral sentences do
    not dilute a complaint; pos/neu/neg are means over all pieces.
    """
    if len(results) == 1:
        only = results[0]
        return only["compound"], only["pos"], only["neu"], only["neg"]
    signal = [r["compound"] for r in results if r["pos"] or r["neg"]]
    compound = sum(signal) / len(signal) if signal else 0.0
    pos, neu, neg = (round(sum(r[k] for r in results) / len(results), 4) for k in _RATIOS)
    return round(min(1.0, max(-1.0, compound)), 4), pos, neu, neg
