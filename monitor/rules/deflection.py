"""The deflection guard: reply templates must not send the customer somewhere else.

This is the product's promise (DESIGN rule 1): the customer is helped where they wrote.
``check-config`` rejects a template that matches any pattern below unless the rule sets
``allow_redirect: true`` with a ``redirect_reason``.
"""

from __future__ import annotations

import re

# Each entry: (what it catches, pattern). Patterns are searched case-insensitively in
# the raw template, placeholders included.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("private message", r"\b(?:dm|pm)s?\b(?:\s+(?:us|me|our\s+team))?"),
    ("private message", r"\b(?:direct|private)\s+messag\w*"),
    ("private message", r"\bmessage\s+us\b|\binbox\s+us\b|\bslide\s+into\s+our\b"),
    ("email", r"\be-?mail(?:s|ing)?\b(?:\s+(?:us|me|our\s+\w+))?"),
    ("phone call", r"\b(?:call|ring|phone|text)\s+(?:us|our|the|me)\b"),
    ("phone call", r"\bgive\s+us\s+a\s+(?:call|ring)\b|\bcall(?:ing)?\s+\+?\d[\d\s().-]*\d"),
    ("phone call", r"\b(?:hotline|helpline|call\s*cent(?:er|re)|phone\s+number|toll[- ]free)\b"),
    ("phone number", r"(?<![\w(+-])[+(]?\d[\d\s().-]{6,}\d(?![\w-])"),
    ("phone number", r"\b1-?8[0-9]{2}\b"),
    ("email address", r"[\w.+-]+@[\w-]+\.[a-z][\w.-]*"),
    (
        "support link",
        r"(?:https?://|www\.)\S*|\b[\w-]+\.(?:com|net|org|io|co|help|support)/\S*",
    ),
    (
        "contact elsewhere",
        r"\bcontact\s+(?:us|our|the|customer|support|service)\w*"
        r"|\breach\s+out\s+to\b|\bget\s+in\s+touch\b",
    ),
    (
        "contact elsewhere",
        r"\b(?:open|submit|raise|file)\s+a\s+(?:support\s+)?(?:ticket|request|case)\b"
        r"|\b(?:help|support)\s*(?:cent(?:er|re)|portal|desk|page|site)\b"
        r"|\b(?:live\s+chat|chat\s+with\s+us|contact\s+form)\b",
    ),
)
_COMPILED = tuple((kind, re.compile(pattern, re.IGNORECASE)) for kind, pattern in _PATTERNS)


def find_redirect(template: str) -> tuple[str, str] | None:
    """The first redirect in ``template`` as (kind, offending phrase), or None.

    The earliest phrase in the text wins so the message points where a reader looks first.
    """
    hits = []
    for kind, pattern in _COMPILED:
        found = pattern.search(template)
        if found:
            hits.append((found.start(), -len(found.group(0)), kind, found.group(0).strip()))
    if not hits:
        return None
    _, _, kind, phrase = min(hits)
    return kind, phrase
