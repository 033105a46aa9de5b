"""Is this mention a question? Only questions get a knowledge-base answer: a complaint
that merely says "shipping" must not be told the shipping policy."""

from __future__ import annotations

import re

from monitor.answers.normalise import clean

_OPENERS = (
    r"how|what|when|where|which|who|why|whats|what's|whens|where's|wheres|is|are|am|was|"
    r"were|do|does|did|can|could|will|would|should|shall|may|might|has|have|any|anyone|"
    r"anybody|is there|are there"
)
# An interrogative at the start of the text or of a sentence, after the @handles.
_OPENING = re.compile(rf"(?:^|[.!?\n]\s*)(?:{_OPENERS})\b", re.IGNORECASE)
# Asking without a question mark or an opening interrogative.
_ASKING = re.compile(
    r"\b(?:how (?:do|can|long|much|many|does|would|should)|can (?:i|you|we)|could (?:i|you)|"
    r"do you|does (?:it|the|your)|is it possible|is there|are there|i (?:was )?wonder(?:ing)?|"
    r"wondering (?:if|whether|how|when|where)|"
    r"any (?:idea|way)|what (?:is|are|time|if)|when (?:do|does|will|are|is)|"
    r"where (?:do|can|is)|which (?:countries|stores)|need to know|not sure (?:if|how|whether)|"
    r"let me know|tell me (?:if|how|when|where|whether))\b",
    re.IGNORECASE,
)
_QUESTION_MARK = re.compile(r"[?\uff1f\u061f]")
# "Why does it take 5 days??" asks someone to account for a failure: a complaint for a
# person, not a question an FAQ entry answers.
# The clause from "why" to the end of its sentence is set aside; what else the post asks
# still counts.
_WHY_CLAUSE = re.compile(r"\bwhy\b[^.?!\n]*[.?!\uff1f]*", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")


def is_question(text: str) -> bool:
    """True when ``text`` asks something: a question mark after some words, an opening
    interrogative, or an asking phrase ("how do I", "can I", "do you")."""
    body = clean(text).strip()
    if len(_LETTER.findall(body)) < 3:
        return False  # emoji, handles or punctuation only
    body = _WHY_CLAUSE.sub(" ", body)
    if _QUESTION_MARK.search(body):
        return True
    return bool(_OPENING.search(body) or _ASKING.search(body))
