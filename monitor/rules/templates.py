"""Reply templates: a fixed whitelist of placeholders, filled once, never re-read.

Mention text is hostile input (DESIGN rule 8). Values taken from it are inserted
verbatim into the already-parsed template, so a customer writing ``{case}`` or
``{author.__class__}`` changes nothing, and each value is bounded and stripped of
``@`` so a display name cannot make the bot tag a third party.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping, Sequence

from monitor.domain import Platform, handle_unknown
from monitor.textlength import REPLY_LIMITS, brand_text_length, escape_markdown

PLACEHOLDERS = frozenset({"author", "first_name", "case", "team", "match", "brand"})
RULE_PLACEHOLDERS = tuple(sorted(PLACEHOLDERS))
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")

# What a platform accepts in one post, measured with ``reply_length``: X weighs CJK
# double and every link as 23; Reddit counts the escaped markdown body.
PLATFORM_LIMITS: Mapping[Platform, int] = REPLY_LIMITS

# The longest value each placeholder can take at run time; the check-time length test
# fills templates with values this long. X handles are at most 15 characters, Reddit
# user names 20; the prefix is "@" or "u/".
MAX_FIRST_NAME = 30
MAX_MATCH = 40
WORST_CASE_LENGTHS = {"author": 22, "first_name": MAX_FIRST_NAME, "case": 12, "match": MAX_MATCH}
# The customer writes the name and the matched words: at worst characters X weighs 2
# (CJK), or on Reddit the one escaping lengthens most, taken from the escaping itself
# ("&" is "&amp;", five; a guess of "doubles" passed templates run time refused).
# Handles are ASCII letters, digits and _.
_HEAVIEST = {
    Platform.X: "\u4e2d",
    Platform.REDDIT: max(string.punctuation, key=lambda c: len(escape_markdown("a" + c))),
}
_CUSTOMER_WORDS = frozenset({"first_name", "match"})
# The placeholders that name the customer: left empty, they go with their comma.
_NAMES = ("author", "first_name")
# {author} carries its own "@" (X) or "u/" (Reddit): a sign the rule author wrote
# before it too ("Hi @{author}", as people tag someone) posted "Hi @@jane_doe".
_SIGNED_AUTHOR = re.compile(r"(?:[@＠]|(?<![\w/])/?u/)\{author\}")

# Letters (any script) with their marks, ' and -: no digits, so a display name cannot
# put a phone number or an order number in the brand's reply; no _ or other markup.
# Marks (accents, vowel signs, viramas) are not \w: without them "प्रिया" was "प".
_NAME_PUNCTUATION = frozenset("'-")
_SPACES = re.compile(r"\s+")
# What makes a name a mention: "@" or X's full-width "＠" (twitter-text counts both), and
# Reddit's "u/" or "/u/" before a username.
_MENTION = re.compile(r"[@＠]|(?<![\w/])/?u/(?=[\w-])")
# A link, or a domain X would make into one ("evil.example/x").
_LINK = re.compile(r"\w+://\S*|\bwww\.\S*|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b/?\S*", re.IGNORECASE)
# What X makes a hashtag or a cashtag of ("#BoycottAcme", "$ACME"): the brand's reply
# would join the customer's campaign or a ticker's feed. Loses its sign; an order
# reference ("#A-1234", "#12345") and a price ("$5") are neither and stay.
_TAG_SIGN = re.compile(
    r"[#＃]+(?=\w*[^\W\d_])(?!\w*-)|\$+(?=[A-Za-z]{1,6}(?:[._][A-Za-z]{1,2})?(?!\w))"
)
# Contact details the customer wrote, which the brand must never repeat in public: an
# e-mail address whole (its user part often names the person), and any run of 7 or
# more digits, separators between them allowed ("+44 20 7946 0958", "555.123.4567"):
# a phone number. Order numbers up to 6 digits ("order 12345", "#A-1234") stay.
_EMAIL = re.compile(r"[\w.+-]+[@＠][\w-]+(?:\.[\w-]+)*")
_PHONE = re.compile(r"[+(]*(?:\d[ \t().+/-]{0,3}){6,}\d\)?")


def template_problems(template: str, allowed: Sequence[str] = RULE_PLACEHOLDERS) -> list[str]:
    """Placeholders a template uses that are not in ``allowed``, and stray braces."""
    problems = [
        f"unknown placeholder {{{name}}}; allowed: {', '.join(allowed)}"
        for name in _PLACEHOLDER.findall(template)
        if name not in allowed
    ]
    # "Hi {first_name! ..." or "{{first_name}}" would be posted with its braces.
    stray = _PLACEHOLDER.sub("", template)
    if "{" in stray or "}" in stray:
        problems.append(
            "a brace that is not part of a placeholder; write placeholders as {first_name} "
            "(one brace each side) and no other braces: they would be posted as they are"
        )
    return problems


def fill(template: str, values: Mapping[str, str], *, platform: Platform) -> str:
    """Fill whitelisted placeholders in one pass; values are never re-read as templates.

    On Reddit the template is the brand's markdown and is posted as it is, so each value
    (a customer's name, the words they wrote) is escaped to show literally. An "@" or
    "u/" written before ``{author}`` is dropped: the value has its own."""
    if platform is Platform.REDDIT:
        values = {name: escape_markdown(value) for name, value in values.items()}
    template = _SIGNED_AUTHOR.sub("{author}", template)
    for name in _NAMES:
        if values.get(name) == "":
            template = _without(template, name)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _without(template: str, name: str) -> str:
    """The template with the placeholder ``name`` taken out, with the comma or spaces
    that set it off: "Hi {first_name}, ..." reads "Hi, ...", "Thanks {first_name}!"
    "Thanks!", and "{first_name}, thanks ..." (or "{first_name}! Thanks", "{author} -
    thanks") at the start "Thanks ..."."""
    token = re.escape("{" + name + "}")
    leading = re.compile(
        rf"^([ \t]*){token}[ \t]*(?:[,;:.!?]+|[-\u2013\u2014](?=[ \t]))?[ \t]*(\w?)", re.MULTILINE
    )
    template = leading.sub(lambda m: m.group(1) + m.group(2).upper(), template)
    return re.sub(rf",?[ \t]*{token}", "", template)


def worst_case_length(
    template: str, *, brand: str, longest_team: int, platform: Platform = Platform.X
) -> int:
    """The template's length on ``platform`` with every placeholder at its longest.

    X by default; a rule's check measures each platform it can reply on."""
    values = longest_values(platform, {**WORST_CASE_LENGTHS, "team": longest_team}, brand)
    return brand_text_length(platform, fill(template, values, platform=platform))


def longest_values(platform: Platform, lengths: Mapping[str, int], brand: str) -> dict[str, str]:
    """Each placeholder at its longest and heaviest, for the check-time length test."""
    plain = "_" if platform is Platform.REDDIT else "x"
    values = {
        name: (_HEAVIEST[platform] if name in _CUSTOMER_WORDS else plain) * size
        for name, size in lengths.items()
    }
    return values | {"brand": brand}


def customer_names(
    platform: Platform, user_id: str, handle: str, display_name: str
) -> dict[str, str]:
    """``{author}`` and ``{first_name}`` for a customer. An X user id standing in for the
    handle fills neither: a reply greeted the customer as "783214", and "@783214" can
    tag whoever holds that handle. ``fill`` then leaves the name out of the text."""
    known = "" if handle_unknown(platform, user_id, handle) else handle
    prefix = "u/" if platform is Platform.REDDIT else "@"
    return {
        "author": prefix + known if known else "",
        "first_name": first_name(display_name, known),
    }


def first_name(display_name: str, handle: str) -> str:
    """The first word of the display name (letters and their marks, ' and -), or the
    handle."""
    name = unicodedata.normalize("NFC", display_name)
    kept = "".join(c if c.isalpha() or c in _NAME_PUNCTUATION or _is_mark(c) else " " for c in name)
    words = [w for w in (_without_leading_marks(w) for w in kept.split()) if w]
    return (words[0] if words else handle)[:MAX_FIRST_NAME]


def _is_mark(char: str) -> bool:
    return unicodedata.category(char)[0] == "M"


def _without_leading_marks(word: str) -> str:
    """A mark belongs to the letter before it: one that starts a word has none."""
    start = 0
    while start < len(word) and _is_mark(word[start]):
        start += 1
    return word[start:]


def matched_text(found: str) -> str:
    """Bound the matched text and defuse mentions, hashtags, cashtags, links, e-mail
    addresses and phone numbers before it goes into a public reply: a broad regex
    (``order \\S+``) can match what the customer wrote to be reached at, and the brand
    must not post it."""
    private = _PHONE.sub(" ", _EMAIL.sub(" ", found))
    unlinked = _TAG_SIGN.sub("", _MENTION.sub("", _LINK.sub("", private)))
    return _SPACES.sub(" ", unlinked).strip()[:MAX_MATCH]
