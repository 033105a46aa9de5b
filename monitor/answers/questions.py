"""Is this mention a question? Only questions get a knowledge-base answer: a complaint
that merely says "shipping" must not be told the shipping policy."""

from __future__ import annotations

import re

from monitor.answers.normalise import clean, without_noise

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
    r"let me know|tell me (?:if|how|when|where|whether)|"
    # Asked mid-sentence, often after a comma and with no question mark: "moving to
    # Canada, will my kettle work there", "paid by PayPal, how quick is the refund".
    r"how (?:quick|quickly|soon|fast|often)|what (?:do|does|should|can) (?:i|we)|what now|"
    r"what happens|do i|will (?:my|it|i|you|the|this|that)|next steps|or nah|or is it|"
    r"is it just me|(?:wat|wot) (?:does|do|is|are)|"
    r"is (?:that|this|it) (?:normal|possible|right|ok|okay)|(?:are|r) (?:you|u) open)\b",
    re.IGNORECASE,
)
_QUESTION_MARK = re.compile(r"[?\uff1f\u061f]")
# "Why does it take 5 days??" asks someone to account for a failure: a complaint for a
# person, not a question an FAQ entry answers. So do the other rhetorical forms of
# English: "how come ...", "how is this still ...", "what's the point of ...", "who
# decided ...", "are you serious?". Kept to idioms that are not ways of asking an FAQ.
# The clause from the opener to the end of its sentence is set aside; what else the post
# asks still counts.
_RHETORICAL = (
    r"why|how come|how (?:is|was|can|could) (?:this|that|it) (?:still|even)|"
    r"what(?:'s| is) the point|who (?:decided|thought|designed|approved)|"
    r"are you (?:serious|kidding|joking)|what (?:do|did) you expect"
)
_COMPLAINT_CLAUSE = re.compile(rf"\b(?:{_RHETORICAL})\b[^.?!\n]*[.?!\uff1f]*", re.IGNORECASE)
_LETTER = re.compile(r"[^\W\d_]")
# A sentence with its closing punctuation; "." in a price or a domain splits too, which
# only costs a fragment of a sentence its asking status.
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")


def is_question(text: str) -> bool:
    """True when ``text`` asks something: a question mark after some words, an opening
    interrogative, or an asking phrase ("how do I", "can I", "do you")."""
    body = clean(text).strip()
    if len(_LETTER.findall(body)) < 3:
        return False  # emoji, handles or punctuation only
    body = _COMPLAINT_CLAUSE.sub(" ", body)
    if _QUESTION_MARK.search(body):
        return True
    return bool(_OPENING.search(body) or _ASKING.search(body))


def asking_sentences(text: str) -> tuple[list[str], bool]:
    """The sentences of ``text`` that ask something (case kept, URLs and handles out),
    or all of them when none does; and whether other sentences were left out. "Is the
    Manchester store wheelchair accessible?" is what the customer wants to know; "Nurse
    here, looking at the stand mixer" around "do you do an NHS discount?" is context,
    and the answer need not mention it."""
    sentences = [s.strip() for s in _SENTENCE.findall(without_noise(text))]
    asking = [s for s in sentences if _asks(s)]
    if not asking or len(asking) == len(sentences):
        return sentences, False
    return asking, True


def _asks(sentence: str) -> bool:
    return bool(
        _QUESTION_MARK.search(sentence) or _OPENING.search(sentence) or _ASKING.search(sentence)
    )
