"""The ``scoring:`` section: VADER's thresholds, the lexicon overlay (each word checked
as the scorer will meet it) and language detection (docs/scoring.md)."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from monitor.settings.base import Strict

# Candidate languages for detection. A closed set is both faster and more accurate on
# short texts than all 97 of py3langid's languages (measured in bench/langid.py).
_LANGUAGE_CODES = (
    "en es de fr pt it nl sv da no fi pl cs ro hu tr el ru uk ar he fa hi id vi th ja ko zh"
)
DEFAULT_LANGUAGES = tuple(_LANGUAGE_CODES.split())
# Every code py3langid's model can detect (its nb_classes; test_scoring.py compares).
# Loading the model to ask takes 0.3 s, too slow for every config load; an unknown code
# passed check-config and then made every scorer build fail.
_LANGID_CODES = """ace af am an ar ary arz as az ba bcl be bg bn br bs ca crh cs cy da de dz
    el en eo es et eu ext fa fi fo fr fuv fy ga gcf gcr gd gl gom grc gu gug guw ha hbo he hi
    hr ht hu hy id ig is it ja jv ka kab kik kk km kn ko ku ky la lb lg lij ln lo lt ltg lv mg
    mk ml mn mr ms mt my ne nl nn no nso oc om or pa pcm pl ps pt qu ro ru rw sa sdh se si sk
    sl sn so sq sr st sv sw ta te tg th tk tl tr tt ug uk ur uz uzs vec vi vo wa wuu xh yo yue
    zh zu zxx"""
LANGID_CODES = frozenset(_LANGID_CODES.split())


def _known_language(code: str) -> str:
    if code not in LANGID_CODES:
        raise ValueError(
            f"unknown language {code!r}; expected a lower-case code py3langid"
            " detects (ISO 639-1 where there is one: en, de, ja, ...)"
        )
    return code


def _readable_lexicon_word(word: str) -> str:
    """A lexicon word as the scorer can meet it: emoji and symbols are replaced by words
    and NFKC folds styled letters before VADER reads the text, so such a key would
    silently do nothing."""
    if any(_replaced(c) for c in word):
        raise ValueError(
            f"lexicon word {word!r} holds an emoji or symbol, which the scorer replaces"
            " by words before VADER reads the text; give those words a valence instead"
            " (docs/scoring.md, emoji table)"
        )
    # Imported here: monitor.scoring imports this module.
    from monitor.scoring.text import TYPOGRAPHIC

    folded = unicodedata.normalize("NFKC", word).translate(TYPOGRAPHIC)
    if folded != word:
        raise ValueError(f"lexicon word {word!r} is read as {folded!r}; write that instead")
    return word


def _reachable_lexicon_word(word: str) -> str:
    """A lexicon word VADER can still meet after the scorer's cleanup and its own
    punctuation stripping; any other key was accepted and silently did nothing."""
    # Imported here: monitor.scoring imports this module.
    from vaderSentiment.vaderSentiment import SentiText

    from monitor.scoring.emoji import FILLER
    from monitor.scoring.text import clean

    if word == FILLER:
        raise ValueError(
            f"lexicon word {word!r} is the filler the scorer puts before each emoji's"
            " words; it would give every emoji that valence"
        )
    # Known to the scorer as itself: a run is kept when that makes a known word.
    cleaned = clean(word, {word}, None).strip()
    if not cleaned:
        raise ValueError(
            f"lexicon word {word!r} is a handle or URL, which the scorer removes before"
            " VADER reads the text"
        )
    if cleaned != word:
        raise ValueError(
            f"lexicon word {word!r} holds a run of repeated characters, which the"
            " scorer shortens before VADER reads the text (docs/scoring.md, step 3)"
        )
    read = str(SentiText._strip_punc_if_word(word))
    if read != word:
        raise ValueError(
            f"lexicon word {word!r} is read as {read!r}: VADER strips the punctuation"
            " around a word; write that instead"
        )
    return word


def _replaced(char: str) -> bool:
    category = unicodedata.category(char)
    symbol = not char.isascii() and category[0] == "S"
    return symbol or category == "Cf" or "\ufe00" <= char <= "\ufe0f"


class ScoringConfig(Strict):
    # Label thresholds on VADER's compound score (the paper's ±0.05).
    positive_threshold: float = Field(default=0.05, ge=-1, le=1)
    negative_threshold: float = Field(default=-0.05, ge=-1, le=1)
    # Deprecated: sets Score.alert, which no rule key, stored score or command reads
    # (rules match `compound`). Accepted so old configs load; check-config warns.
    negative_alert: float = Field(default=-0.5, ge=-1, le=1)
    # Support-domain overlay {word: valence on VADER's -4..4 scale}, merged over the
    # shipped default (monitor/scoring/lexicon.py) unless default_lexicon is false.
    lexicon: dict[str, float] = Field(default_factory=dict)
    default_lexicon: bool = True
    # Language detection for mentions whose platform gave no language.
    detect_language: bool = True
    languages: list[Annotated[str, AfterValidator(_known_language)]] = Field(
        default_factory=lambda: list(DEFAULT_LANGUAGES)
    )
    # A text is declared non-English only when the detector is at least this sure.
    language_confidence: float = Field(default=0.5, gt=0, le=1)

    @field_validator("lexicon")
    @classmethod
    def _lexicon_words(cls, lexicon: dict[str, float]) -> dict[str, float]:
        for word, valence in lexicon.items():
            if not word or word != word.strip().lower() or any(c.isspace() for c in word):
                raise ValueError(f"lexicon word {word!r} must be one lower-case token")
            if not -4 <= valence <= 4:
                raise ValueError(f"lexicon valence for {word!r} must be within -4..4")
            _readable_lexicon_word(word)
            _reachable_lexicon_word(word)
        return lexicon

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, languages: list[str]) -> list[str]:
        if "en" not in languages:
            raise ValueError("languages must include 'en'")
        return languages

    @model_validator(mode="after")
    def _ordered_thresholds(self) -> ScoringConfig:
        # negative_alert is not ordered with them: it changes nothing, and its default
        # refused `negative_threshold: -0.6` written alone.
        if not self.negative_threshold < self.positive_threshold:
            raise ValueError("need negative_threshold < positive_threshold")
        return self
