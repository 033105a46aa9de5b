"""Emoji that VADER 3.3.2 misreads, and the expansion of emoji into words.

VADER replaces each emoji code point with its CLDR name and scores the words of the
name, so 😡 ("pouting face") and 👍 ("thumbs up") score 0 and 🔥 ("fire") scores negative
(shared/notes/vader.md §3.6). The curated table below names each emoji by a lexicon word
that carries the sentiment a brand mention means by it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

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
_GUARD = " _ _ _ "

# Code points VADER names, plus ours. Multi-code-point entries (flags, ZWJ sequences)
# never match VADER's per-character lookup either, so single characters are enough.
_Table = dict[str, str]


def emoji_table(vader_emojis: Mapping[str, str]) -> _Table:
    table = {ch: name for ch, name in vader_emojis.items() if len(ch) == 1 and not ch.isascii()}
    table.update(CURATED_EMOJI)
    return table


def emoji_pattern(table: _Table) -> re.Pattern[str]:
    return re.compile("[" + "".join(re.escape(ch) for ch in sorted(table)) + "]")


def expand_emoji(text: str, table: _Table, pattern: re.Pattern[str]) -> str:
    """Replace every known emoji by guarded words, with spaces on both sides.

    VADER adds no space after an emoji's name, so "😊good" loses "good"; ours does.
    """
    if text.isascii():
        return text
    return pattern.sub(lambda m: _GUARD + table[m.group(0)] + " ", text)
