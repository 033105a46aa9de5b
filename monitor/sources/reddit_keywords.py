"""Keyword and phrase matching for the subreddit watch."""

from __future__ import annotations

import re
from collections.abc import Sequence

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
