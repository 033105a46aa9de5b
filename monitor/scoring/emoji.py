"""Emoji that VADER 3.3.2 misreads, and the expansion of emoji into words.

VADER replaces each emoji code point with its CLDR name and scores the words of the
name, so 😡 ("pouting face") and 👍 ("thumbs up") score 0 and 🔥 ("fire") scores negative
(shared/notes/vader.md §3.6). The curated table below names each emoji by a lexicon word
that carries the sentiment a brand mention means by it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping

from vaderSentiment.vaderSentiment import BOOSTER_DICT, negated

# emoji -> words VADER scores. Chosen for brand mentions, where 🔥 is praise, not danger.
CURATED_EMOJI: Mapping[str, str] = {
    "😡": "angry",
    "😠": "angry",
    "🤬": "furious",
    "😤": "annoyed",
    "🙄": "annoyed",
    "😒": "annoyed",
    "🤦": "annoyed",
    "😑": "annoyed",
    "🤮": "disgusting",
    "🤢": "disgusting",
    "💩": "crap",
    "🤡": "ridiculous",
    "💔": "heartbroken",
    "😩": "tired",
    "😫": "tired",
    "👎": "bad",
    "👍": "good",
    "👌": "good",
    "🙏": "grateful",
    "🔥": "awesome",
    "💯": "perfect",
    "👏": "applause",
    "🙌": "applause",
    "🥰": "love",
    "😻": "love",
    "🤩": "amazing",
    "🥳": "happy",
    "🎉": "happy",
}

# Three neutral tokens before each emoji's words: VADER looks up to three tokens back
# for negations and boosters, and "still nothing @acme 😠" must not read as "not angry".
# The tokens are in neither the lexicon nor the booster or negation lists, so they
# change no compound score; they only count as neutral words in pos/neu/neg.
FILLER = "_"
_GUARD = f" {FILLER} {FILLER} {FILLER} "
# Far enough back to find the words before a run of emoji.
_LOOK_BACK = 80
# VADER looks this many tokens back for a negation.
_REACH = 3
_PUNCT = string.punctuation + "“”‘’"

# Code points VADER names, plus ours. Multi-code-point entries (flags, ZWJ sequences)
# never match VADER's per-character lookup either, so single characters are enough:
# text.clean reduces a ZWJ sequence to its base emoji and a flag or keycap to FILLER.
_Table = dict[str, str]


def emoji_table(vader_emojis: Mapping[str, str]) -> _Table:
    table = {ch: name for ch, name in vader_emojis.items() if len(ch) == 1 and not ch.isascii()}
    table.update(CURATED_EMOJI)
    return table


def emoji_pattern(table: _Table) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(ch) for ch in sorted(table)) + "]")


def praise(table: _Table, lexicon: Mapping[str, float]) -> _Table:
    """The emoji whose words VADER scores positive on balance (👍, 🔥, 😊, ...), each
    with only its scored words: VADER negates three tokens back, and "smiling face with
    smiling eyes" must be wholly within reach of a "not" before it."""
    out = {}
    for ch, words in table.items():
        scored = [w for w in (w.strip(_PUNCT) for w in words.split()) if lexicon.get(w.lower())]
        if sum(lexicon[w.lower()] for w in scored) > 0:
            out[ch] = " ".join(scored)
    return out


def expand_emoji(text: str, table: _Table, pattern: re.Pattern[str], praise: _Table) -> str:
    """Replace every known emoji by guarded words, with spaces on both sides.

    VADER adds no space after an emoji's name, so "😊good" loses "good"; ours does. The
    guard is left out where a negation (or "no", or a negation and boosters: "not really")
    directly precedes a praise emoji: "not 👍" is read as "not good", a complaint, where
    the guard made it praise and raw VADER 0.0. Negated complaint emoji keep it: "still
    nothing 😠" is a complaint, not "not angry".
    """
    if text.isascii():
        return text
    # The word before a run of emoji is looked up once per run: looked up for each emoji,
    # a post of 20,000 emoji took 130 ms here.
    run_start, run_end = 0, -1
    run_negated: bool | None = None

    def words(match: re.Match[str]) -> str:
        nonlocal run_start, run_end, run_negated
        start, found = match.start(), match.group(0)
        if run_end < 0 or text[run_end:start].strip():
            run_start, run_negated = start, None  # a new run
        run_end = match.end()
        if found in praise:
            if run_negated is None:
                run_negated = _negation_before(text, run_start, pattern)
            if run_negated:
                return " " + praise[found] + " "
        return _GUARD + table[found] + " "

    return pattern.sub(words, text)


def _negation_before(text: str, end: int, pattern: re.Pattern[str]) -> bool:
    """Whether the words before ``end``, over any emoji run ("not 👍👍"), negate it as
    VADER negates a word in that place: a negation or "no" right before it, or before
    boosters only ("not really 👍"). "nothing to fix, 👍" is not negated: VADER would
    read "nothing" as negating a "good" there, which is why the guard exists."""
    before = pattern.sub(" ", text[max(0, end - _LOOK_BACK) : end]).split()[-_REACH:]
    while before and before[-1].lower() in BOOSTER_DICT:
        before.pop()
    return bool(before) and (before[-1].lower() == "no" or bool(negated([before[-1]])))
