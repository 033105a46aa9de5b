"""Is this mention a question? Only questions get a knowledge-base answer: a complaint
that merely says "shipping" must not be told the shipping policy."""

from __future__ import annotations

import re

from monitor.answers.normalise import without_noise


class _AnyCase:
    """A case-insensitive regex written in lower case, searched on ASCII text as a
    case-sensitive copy on the text lower-cased: there str.lower() and re.IGNORECASE
    agree, and the copy runs 2-3 times as fast, as it need not fold each character it
    compares with each alternative at every word start. Other text takes the regex."""

    __slots__ = ("any_case", "lower_case")

    def __init__(self, pattern: str) -> None:
        self.any_case = re.compile(pattern, re.IGNORECASE)
        self.lower_case = re.compile(pattern)

    def found(self, text: str, lowered: str | None) -> bool:
        """``lowered``: the text lower-cased when it is ASCII (:func:`_ascii_lower`), so
        that several regexes searching one text lower-case it once."""
        if lowered is not None:
            return self.lower_case.search(lowered) is not None
        return self.any_case.search(text) is not None


def _ascii_lower(text: str) -> str | None:
    return text.lower() if text.isascii() else None


_OPENERS = (
    r"how|what|when|where|which|who|why|whats|what's|whens|where's|wheres|is|are|do|does|"
    r"can|will|may|might|shall|any|anyone|anybody|is there|are there"
)
# On X the subject is routinely dropped from statements: "Would not recommend", "Was
# told it was ready", "Have been waiting a week". So these auxiliaries open a question
# only when a subject follows them: "was it", "have you", "did the parcel", "would Acme".
_AUXILIARIES = r"was|were|did|could|would|should|has|have|am"
# Not "a"/"an" nor "the worst": after a dropped subject they start what was had or
# what it was ("Have a dead blender", "Was the worst service").
_SUBJECTS = (
    r"i|you|u|we|they|he|she|it|there|this|that|these|those|anyone|anybody|someone|"
    r"somebody|everyone|my|your|ur|our|their|his|her|its|any|"
    r"the(?!\s+(?:worst|best|most|least|only|first|last)\b)"
)
# "Was Told ..." in title case is not a name; "Would Acme match the price" is.
_NOT_SUBJECTS = r"not|never|told|been|just|already|also|really|so|very|be|have|had|got"
_SUBJECT = rf"(?:{_SUBJECTS})\b|(?!(?:{_NOT_SUBJECTS})\b)(?-i:[A-Z][a-z])"
# An interrogative at the start of the text or of a sentence, after the @handles.
_OPENING = re.compile(
    rf"(?:^|[.!?\n]\s*)(?:(?:{_OPENERS})\b|(?:{_AUXILIARIES})\s+(?:{_SUBJECT}))",
    re.IGNORECASE,
)
# Asking without a question mark or an opening interrogative.
_ASKING = _AnyCase(
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
    r"is (?:that|this|it) (?:normal|possible|right|ok|okay)|(?:are|r) (?:you|u) open)\b"
)
_QUESTION_MARK = re.compile(r"[?\uff1f\u061f]")
# "Why does it take 5 days??" asks someone to account for a failure: a complaint for a
# person, not a question an FAQ entry answers. So do the other rhetorical forms of
# English: "how come ...", "how is this still ...", "what's the point of ...", "who
# decided ...", "are you serious?", "how hard is it to ...", "do you even ...". Kept to
# idioms that are not ways of asking an FAQ ("where do you even put the code" asks, so
# "do you even" counts only where it opens a clause). The clause from the opener to the
# end of its sentence is set aside; what else the post asks still counts.
_RHETORICAL = (
    r"why|how come|how (?:is|was|can|could) (?:this|that|it) (?:still|even)|"
    r"how (?:hard|difficult) (?:is it|can it be|could it be)|(?<!\w )do (?:you|u) even|"
    r"what(?:'s| is) the point|who (?:decided|thought|designed|approved)|"
    r"are you (?:serious|kidding|joking)|what (?:do|did) you expect"
)
_COMPLAINT_CLAUSE = re.compile(rf"\b(?:{_RHETORICAL})\b[^.?!\n]*[.?!\uff1f]*", re.IGNORECASE)
# Looked for first, like a sneer: the clause cannot be there without its opener.
_RHETORICAL_OPENER = _AnyCase(rf"\b(?:{_RHETORICAL})\b")
# "Do you do click and collect or do you just lose orders?": the sneer at the end makes
# the whole sentence a complaint, the polite question before it included.
_SNEER = r"or (?:do|did|does|are|will|would) (?:you|u|they|it) (?:just|even|actually)"
_SNEERING_SENTENCE = re.compile(rf"[^.?!\n]*\b{_SNEER}\b[^.?!\n]*[.?!\uff1f]*", re.IGNORECASE)
# Looked for first: the sentence pattern tries every start position in turn, which cost
# more than the rest of question detection on mentions that have no sneer at all.
_SNEERS = _AnyCase(rf"\b{_SNEER}\b")
# Three letters, anywhere: found at the first three, where counting them all read the
# whole text.
_THREE_LETTERS = re.compile(r"[^\W\d_](?:[\W\d_]*[^\W\d_]){2}")
# A sentence with its closing punctuation; "." in a price or a domain splits too, which
# only costs a fragment of a sentence its asking status.
_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]*")


def is_question(text: str) -> bool:
    """True when ``text`` asks something: a question mark after some words, an opening
    interrogative, or an asking phrase ("how do I", "can I", "do you")."""
    # Case kept: a capital after "would" or "did" tells a name asked about.
    body = without_noise(text).strip()
    if _THREE_LETTERS.search(body) is None:
        return False  # emoji, handles or punctuation only
    lowered = _ascii_lower(body)
    if _SNEERS.found(body, lowered):
        body = _SNEERING_SENTENCE.sub(" ", body)
        lowered = _ascii_lower(body)
    if _RHETORICAL_OPENER.found(body, lowered):
        body = _COMPLAINT_CLAUSE.sub(" ", body)
        lowered = _ascii_lower(body)
    if _QUESTION_MARK.search(body):
        return True
    return bool(_OPENING.search(body) or _ASKING.found(body, lowered))


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
        _QUESTION_MARK.search(sentence)
        or _OPENING.search(sentence)
        or _ASKING.found(sentence, _ascii_lower(sentence))
    )
