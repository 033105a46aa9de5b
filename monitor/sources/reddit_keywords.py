"""Keyword and phrase matching for the subreddit watch."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from monitor.rules.textmatch import as_read

# A markdown backslash escape of ASCII punctuation: Reddit's rich-text editor saves
# "acme_support" as "acme\_support", and "acme" matched it as a word of its own.
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


class KeywordMatcher:
    """Case-insensitive whole-word match of any keyword; inner spaces match any whitespace.

    One compiled alternation of escaped literals: mention text is hostile, so nothing
    from it or from the config is ever treated as a pattern. The text is matched as it
    reads, as the rules read it (styled and full-width letters folded, invisible
    characters dropped, typographic apostrophes as "'"), without its markdown escapes.
    """

    def __init__(self, keywords: Sequence[str]) -> None:
        words = [as_read(k).split() for k in keywords]
        # A keyword that reads as nothing (invisible characters only) matches nothing.
        parts = [r"\s+".join(map(re.escape, w)) for w in words if w] or [r"(?!)"]
        self._pattern = re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)

    def matches(self, text: str) -> bool:
        return self._pattern.search(_ESCAPED.sub(r"\1", as_read(text))) is not None


def names_account(text: str, accounts: frozenset[str]) -> bool:
    """Whether ``text`` names one of ``accounts`` as Reddit notifies a username mention:
    ``u/name`` or ``/u/name`` standing as a word of its own, not inside a link such as
    ``reddit.com/u/name`` nor as the start of a longer name."""
    names = frozenset(name for name in accounts if name)
    if not names:
        return False
    return _mention_pattern(names).search(_ESCAPED.sub(r"\1", text)) is not None


@lru_cache(maxsize=16)
def _mention_pattern(accounts: frozenset[str]) -> re.Pattern[str]:
    # Literals only: the names come from the config, and the text searched is hostile.
    names = "|".join(re.escape(name) for name in sorted(accounts))
    return re.compile(r"(?<![\w/])/?u/(?:" + names + r")(?![\w-])", re.IGNORECASE)
