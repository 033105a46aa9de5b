"""Which language a mention is in, and whether VADER may read it.

VADER reads English only and returns a silent 0.0 for anything else (shared/notes/
vader.md §3.7). A false "non-English" is worse than a false "English", though: it drops a
real complaint from scoring. So a text is declared non-English only when py3langid is
confident *and* the text carries no distinctively English function word; short, slangy
English ("ur app is broken af") is what detectors get wrong (bench/langid.py).
"""

from __future__ import annotations

import string
from collections.abc import Container, Sequence
from dataclasses import dataclass
from functools import lru_cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

# Frequent English words that are not also frequent words of the other candidate
# languages ("a", "in", "is", "me", "no", "so", "we", "was", "will", "also", "hell" are
# left out). Function words first, then support vocabulary and English-only slang.
_MARKER_WORDS = """the and my your you i i'm im it it's its this that for with are have has not
    but just what why how can can't cant don't dont won't doesn't didn't isn't to of on at
    be they get got from been were would should could did does our their there when who
    after again still now about if out up off by any some ever never really too very
    thanks thank please pls plz u ur thx lol omg wtf smh tbh idk gonna wanna order refund
    account customer delivery shipping package as more most than then here where which
    while because only over into through nothing something anything everything every
    each other another such those these them him her his she he us yet though whose
    shall might must need want make think going today tonight tomorrow yesterday day
    night time people good great love hate happy new best worst bad sucks yay yeah yes
    hey"""
ENGLISH_MARKERS = frozenset(_MARKER_WORDS.split())
# Words are split on whitespace and stripped of ASCII punctuation: non-ASCII letters must
# stay inside their word ("déçu" must not yield the marker "u"), and a regex is slower.
_PUNCT = string.punctuation + "…“”‘’«»¿¡"
# py3langid is linear in length; the start of a post decides its language.
_DETECT_CHARS = 300


@dataclass(frozen=True, slots=True)
class Verdict:
    lang: str | None  # ISO 639-1, or None when there was nothing to tell
    readable: bool  # False: VADER cannot read it, the score is "language:<lang>"


def has_english_marker(text: str) -> bool:
    return not ENGLISH_MARKERS.isdisjoint(word.strip(_PUNCT) for word in text.lower().split())


def mostly_sentiment_words(text: str, lexicon: Container[str]) -> bool:
    """Whether at least half the words of ``text`` are VADER lexicon words.

    Two-word complaints such as "Ridiculous prices" or "Outrageous charges!" hold no
    marker word, and py3langid calls them French, Spanish or Polish with confidence.
    VADER can read such a text, so it is English enough; no line of the foreign short
    set (tests/data/lang_short.tsv) is made half of lexicon words.
    """
    words = [w for w in (w.strip(_PUNCT) for w in text.lower().split()) if w.isalpha()]
    return bool(words) and 2 * sum(w in lexicon for w in words) >= len(words)


class LanguageGate:
    def __init__(
        self, languages: Sequence[str], confidence: float, lexicon: Container[str] = ()
    ) -> None:
        self._identifier = _identifier(tuple(sorted(set(languages))))
        self._confidence = confidence
        self._lexicon = lexicon

    def verdict(self, text: str) -> Verdict:
        # One English marker word outvotes the detector; it also spares its cost. So does
        # a text VADER can mostly read.
        if has_english_marker(text) or mostly_sentiment_words(text, self._lexicon):
            return Verdict("en", readable=True)
        letters = [ch for ch in text[:_DETECT_CHARS] if ch.isalpha()]
        if not letters:
            return Verdict(None, readable=True)  # emoji, emoticons, numbers: VADER decides
        lang, probability = self._identifier.classify(text[:_DETECT_CHARS])
        # Mostly non-Latin letters: VADER can read none of the words, however unsure the
        # detector is about which language they are.
        if sum(ch > "\u024f" for ch in letters) * 2 > len(letters):
            return Verdict("und" if lang == "en" else str(lang), readable=False)
        if lang == "en" or probability < self._confidence:
            return Verdict("en", readable=True)
        return Verdict(str(lang), readable=False)


@lru_cache(maxsize=4)
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    """py3langid's model takes ~0.7 s to load: once per process and language set."""
    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    unknown = sorted(set(languages) - set(identifier.nb_classes))
    if unknown:
        raise ValueError(f"py3langid does not know languages {unknown}")
    identifier.set_languages(list(languages))
    return identifier
