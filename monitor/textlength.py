"""A reply's length as each platform counts it, and the Reddit body it is measured on.

X counts a *weighted* length (twitter-text config v3, the rule X's own clients use):
after NFC normalisation each code point in 0-4351, 8192-8205, 8208-8223 or 8242-8247
weighs 1 and every other weighs 2 (so CJK text fills a post at 140 characters), a link
counts 23 however long it is (t.co wraps it), and one emoji, even a sequence of several
code points, counts 2. The limit is 280.

Written here rather than taken from PyPI: ``twitter-text-parser`` (the one port of the
rule) has had a single release, carries no type hints and ships the emoji list of 2019.
The rule is small; where we cannot be sure X would see a link (an address whose ending
we do not know, see ``_LINKED_TLDS``, or a bare ``name.de`` X does not link) we count
whichever is longer, 23 or the text itself, so the count can err high, refusing a reply
X might take, but never low, which would end in X refusing a reply the bot already
promised.

Reddit takes 10,000 characters of the markdown body, and the body is the escaped text
(``reddit_body``), which can be much longer than what was typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from monitor.domain import Platform

X_LIMIT = 280
REDDIT_LIMIT = 10_000
REPLY_LIMITS: Mapping[Platform, int] = {Platform.X: X_LIMIT, Platform.REDDIT: REDDIT_LIMIT}
X_URL_LENGTH = 23

# Code points X weighs 2: all but twitter-text v3's "ranges" 0-4351, 8192-8205,
# 8208-8223 and 8242-8247. A regex, because a Python loop over every character cost a
# tenth of the pipeline's time (bench/pipeline.py).
_HEAVY = re.compile("[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]")

# A link as twitter-text finds one: not glued to a word, an @ (an e-mail) or a # / $.
# ASCII only, and ending on a character X keeps, so what we take for a link is never
# longer than what X takes: the rest is counted character by character, which errs high.
_HOST = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?P<tld>[a-z]{2,24})(?![a-z0-9-])"
_PATH = r"(?:/(?:[a-z0-9!*';:=+,.$/%#\[\]~|&@_-]*[a-z0-9=#/+&_-])?)?"
_QUERY = r"(?:\?[a-z0-9!?*'@();:&=+$/%#\[\]_.,~|-]*[a-z0-9_&=#/-])?"
_URL = (
    rf"(?:(?<![a-z0-9@$#＠＃])https?://|(?<![a-z0-9@$#＠＃._/-])){_HOST}(?::\d{{1,5}})?"
    rf"{_PATH}{_QUERY}"
)
# Endings X surely links without a scheme; any other one counts max(23, its length).
_TLDS = (
    "com net org edu gov info biz io co ai app dev me tv ly gl gg shop store help support "
    "link xyz online site tech page blog news cloud us uk de fr eu es it nl be ch at se no "
    "dk fi pl ie pt ca au nz jp in br mx"
)
_LINKED_TLDS = frozenset(_TLDS.split())
# One label and a country code, nothing else: X links it only with a scheme or a path.
_SHORT_DOMAIN = re.compile(r"[a-z0-9-]+\.[a-z]{2}", re.IGNORECASE)
_SPECIAL_CCTLDS = frozenset({"co", "tv"})

# An emoji sequence (flags, keycaps, tag sequences, modifiers, ZWJ joins) counts 2 once.
# The base set is the emoji blocks, a superset of the emoji in them: a symbol there
# that is no emoji weighs 2 by the code point rule anyway.
_EMOJI_BASE = (
    "[\u00a9\u00ae\u203c\u2049\u2122\u2139\u2194-\u2199\u21a9\u21aa\u231a-\u23ff\u24c2"
    "\u25aa-\u27bf\u2934\u2935\u2b05-\u2b55\u3030\u303d\u3297\u3299\U0001f000-\U0001faff]"
)
_EMOJI_MOD = "(?:\ufe0f|[\U0001f3fb-\U0001f3ff])"
_EMOJI = (
    r"[\U0001f1e6-\U0001f1ff]{2}|[0-9#*]\ufe0f?\u20e3"
    r"|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
    rf"|{_EMOJI_BASE}{_EMOJI_MOD}*(?:\u200d{_EMOJI_BASE}{_EMOJI_MOD}*)*"
)
_SPECIAL = re.compile(rf"(?P<url>{_URL})|(?P<emoji>{_EMOJI})", re.IGNORECASE)

# Reddit markdown: characters that format anywhere in a line, and at a line start.
_INLINE = re.compile(r"([\\`*_~^\[\]()<>|#!{}])")
_LINE_START = re.compile(r"^(\s*)([-+=])", re.MULTILINE)
# Four leading spaces make a code block.
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)
_ORDERED_ITEM = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# u/name and r/name (with or without a leading /) become links, and u/ pings the user.
# Reddit links them after punctuation, "_" included: taken for a letter (as \w does),
# "_u/name" in a customer's words pinged that user.
_PING = re.compile(r"(?<![^\W_])(/?[ur])/", re.IGNORECASE)
# One line break is a space in Reddit markdown, and a person's lines ran into one: two
# spaces before it keep it a break. A blank line (a new paragraph) needs none.
_SOFT_BREAK = re.compile(r"(?<!\n)[ \t]*\n(?!\n)")
# A bare address Reddit makes a link of, in the characters an address is made of (no
# brackets, so no markdown link can hide in one). Reddit takes it into the link as it
# stands: escaped, its backslashes and "&amp;" went into the link and broke it.
# Only what Reddit surely links: what it does not is markdown to it, posted unescaped.
# So "www." in lower case after a space or ASCII punctuation, a host from an ASCII
# letter or digit, and no case folding there ("\u017f" is an "s" to re.IGNORECASE).
_BARE_URL = re.compile(
    r"(?:(?<![\w@./-])https?://(?-i:[A-Za-z0-9][A-Za-z0-9-]*)"
    r"|(?<![^\t\n\v\f\r !-/:-@\[-`{-~])(?<![@./-])(?-i:www\.[A-Za-z0-9-]+))"
    r"(?-i:\.[A-Za-z0-9-]+)+[\w\-.~:/?#@!$&'*+,;=%()]*",
    re.IGNORECASE,
)


# Every link _SPECIAL finds has a letter or digit, a dot, and another ("acme.com").
_DOTTED_NAME = re.compile(r"[A-Za-z0-9]\.[A-Za-z0-9]")


def x_length(text: str) -> int:
    """The length X counts for ``text`` (limit ``X_LIMIT``)."""
    # ASCII has no emoji and nothing weighing 2, NFC leaves it as it is, and with no
    # dotted name it has no link: each character counts 1. The full count's search
    # cost ~17 us a reply, tried at every character.
    if text.isascii() and _DOTTED_NAME.search(text) is None:
        return len(text)
    return _counted_length(text)


def _counted_length(text: str) -> int:
    """x_length with no shortcut: links, emoji and heavy code points counted."""
    text = unicodedata.normalize("NFC", text)
    total, done = 0, 0
    for found in _SPECIAL.finditer(text):
        total += _weighted(text[done : found.start()])
        if found.group("url") is None:
            total += 2
        elif _surely_linked(found):
            total += X_URL_LENGTH
        else:
            total += max(X_URL_LENGTH, _weighted(found.group()))
        done = found.end()
    return total + _weighted(text[done:])


def x_has_link(text: str) -> bool:
    """Whether X would make a link of some part of ``text`` (and bill the post at the URL
    price): any address the length count takes for a link, or one with a scheme."""
    text = unicodedata.normalize("NFC", text)
    for found in _SPECIAL.finditer(text):
        url = found.group("url")
        if url is not None and (_surely_linked(found) or "://" in url):
            return True
    return False


def _surely_linked(found: re.Match[str]) -> bool:
    tld = (found.group("tld") or "").lower()
    # X links no bare name.<country code> without a path (twitter-text's
    # invalidShortDomain), .co and .tv aside: it counts such a domain in full.
    return tld in _LINKED_TLDS and not (
        _SHORT_DOMAIN.fullmatch(found.group()) and tld not in _SPECIAL_CCTLDS
    )


def _weighted(text: str) -> int:
    return len(text) + len(_HEAVY.findall(text))


def escape_markdown(text: str) -> str:
    """Make ``text`` render literally on Reddit: no markdown links, pings, headings or
    emphasis. A bare web address stays as typed, the link it was meant to be."""
    text = _INDENT.sub("", text)
    parts, done = [], 0
    for found in _BARE_URL.finditer(text):
        parts += [_escape_inline(text[done : found.start()]), found.group()]
        done = found.end()
    escaped = "".join([*parts, _escape_inline(text[done:])])
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    return _ORDERED_ITEM.sub(r"\1\\.", escaped)


def _escape_inline(text: str) -> str:
    escaped = _INLINE.sub(r"\\\1", text.replace("&", "&amp;"))
    return _PING.sub(r"\1\\/", escaped)


def reddit_body(text: str) -> str:
    """The markdown comment the Reddit responder posts for ``text``."""
    escaped = escape_markdown(text.strip().replace("\r\n", "\n"))
    return _SOFT_BREAK.sub("  \n", escaped)


def reply_length(platform: Platform | str, text: str) -> int:
    """What ``platform`` counts for a reply of ``text`` against ``REPLY_LIMITS``.

    Surrounding whitespace is not counted: the responders do not send it."""
    if Platform(platform) is Platform.REDDIT:
        return len(reddit_body(text))
    return x_length(text.strip())


def brand_text_length(platform: Platform | str, text: str) -> int:
    """The length of a rule's template or an answer once filled, as posted: on Reddit
    the brand's markdown goes as written (the values in it were escaped when filled)."""
    if Platform(platform) is Platform.REDDIT:
        return len(text.strip())
    return x_length(text.strip())


def posted_length(platform: Platform | str, text: str, *, markdown: bool = False) -> int:
    """What ``platform`` counts for ``text`` as it will be posted: the brand's markdown
    (``markdown``) as written, a person's own words escaped."""
    return (brand_text_length if markdown else reply_length)(platform, text)


def reply_length_problem(
    platform: Platform | str, text: str, *, markdown: bool = False
) -> str | None:
    """Why ``text`` is too long to post on ``platform``, or None when it fits.
    ``markdown``: the brand's markdown (a rule's or an answer's text), which Reddit
    gets as written, not escaped."""
    which = Platform(platform)
    length, limit = posted_length(which, text, markdown=markdown), REPLY_LIMITS[which]
    if length <= limit:
        return None
    return f"{length} characters: {which.value} allows {limit}"
