"""The deflection guard: reply templates must not send the customer somewhere else.

This is the product's promise (DESIGN rule 1): the customer is helped where they wrote.
``check-config`` rejects a template that matches any pattern below unless the rule sets
``allow_redirect: true`` with a ``redirect_reason``.
"""

from __future__ import annotations

import re
import unicodedata

from monitor.scoring.text import INVISIBLE

# Top-level domains a support address is written with; a word-dot-word typo
# ("ready.See") is not a link. Endings that are common words ("in", "at", "no") are
# left out, as a missing space before one is a typo ("sorry.In the meantime"), but
# any domain followed by a path is a link whatever its ending ("acme.in/support").
_TLDS = (
    r"com|net|org|io|co|uk|ie|eu|us|ca|au|nz|de|fr|es|it|nl|info|biz|app|help|support|"
    r"shop|store|online|site|link|ly|gl|me|ch|se|dk|fi|pl|pt|jp|br|mx|ai|dev|tv|gg|xyz|"
    r"edu|gov"
)
_NOT_A_NOUN = r"(?<!the\s)(?<!a\s)(?<!your\s)(?<!our\s)(?<!this\s)(?<!that\s)"
# Dates, times and the numbers of orders, cases and parcels: digits a care reply names
# all the time, and no phone number. They are blanked before the patterns look.
_NOT_A_PHONE = re.compile(
    r"\b\d{4}-\d{1,2}-\d{1,2}(?:[t\s]\d{1,2}:\d{2}(?::\d{2})?)?\b"
    r"|\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"
    r"|\b(?:order|case|ticket|tracking|parcel|invoice|reference|ref|item|sku)s?"
    r"(?:\s+(?:number|no\.?|id))?\s*[:#]?\s*#?[\w-]*\d[\w-]*",
    re.IGNORECASE,
)
# A placeholder but the customer's own handle: its value can be anyone's name.
_OTHER_VALUE = r"\{(?!author\})\w+\}"
# The pages a customer is sent to instead of being answered.
_WEBSITE = r"(?:web\s?site|site|web\s?page|knowledge\s*base)"
# The people a customer is told to go and talk to.
_STAFF = r"(?:team|staff|agents?|advis[eo]rs?|specialists?|representatives?|reps?|support|care)"
# Those the brand itself emails about a case ("we'll email the courier"), not a thing
# (the label, the form) that an email takes to the customer.
_PARTY = (
    rf"(?:{_STAFF}|couriers?|carriers?|depots?|warehouses?|drivers?|suppliers?|manufacturers?"
    r"|partners?|stores?|shops?)"
)
_EMAILS_A_PARTY = rf"\be[-\s]?mail(?:s|ing)?\s+(?:our|the)\s+(?:\w+\s+)?{_PARTY}\b"
# The same errand with the noun, "we'll send an email to our warehouse team". The bare
# "email" lets it through, and it is judged from the word before on, whatever the verb
# ("send", "drop", "pop"), so "Drop an email to our team" said to the customer is caught.
_AN_EMAIL_TO_A_PARTY = rf"e[-\s]?mail\s+to\s+(?:our|the)\s+(?:\w+\s+)?{_PARTY}\b"
_SENDS_AN_EMAIL_TO_A_PARTY = rf"\b\w+\s+(?:an?\s+)?(?:\w+\s+)?{_AN_EMAIL_TO_A_PARTY}"
# What "call our/the" dials when it is the customer's or a support line, not a third party.
_A_LINE = r"\s+(?:\w+\s+)?(?:number|mobile|phone|landline|cell|line|hotline|helpline)\b"
# The brand as the subject right before an errand verb: "I'll speak to our warehouse team",
# "we're going to message the courier team", "our team will send a note to the depot".
# Only helpers lead to the verb, so "we'd like you to message our team" (the customer
# sent away) and "we can't here; please speak to our support team" stay redirects; nor
# a bare "I'd" or "would", which is advice: "if I were you, I'd speak to our support team".
_BRAND = (
    rf"(?:\b(?:we|i)|\blet\s+(?:me|us)|\b(?:our|the)\s+(?:\w+\s+)?{_STAFF})"
    r"(?:['\u2019](?:ll|re|ve|m)|(?:['\u2019]d|\s+would)\s+(?:like|love)\s+to)?"
    r"(?:\s+(?:will|shall|can|must|am|are|is|have|has|also|just|now|then|first|personally"
    r"|(?:going|about|have|has|needs?|want|wants|be\s+able)\s+to))*\s+"
)
_BRAND_SUBJECT = re.compile(_BRAND + "$", re.IGNORECASE)
# After "did" the brand asks about a call made, not one to come: "did we call you?".
_NOT_ASKED_IF_DONE = r"(?<!\bdid\s)(?<!\bdidn['\u2019]t\s)(?<!\bdidnt\s)"
# A call to the customer, or to their own line: "call you", "ring your mobile".
_CALLS_THE_CUSTOMER = rf"(?:call|phone|ring)\s+(?:you\b|your{_A_LINE})"
# An ideographic full stop between the parts of an address: browsers read "acme。com"
# as "acme.com" (NFKC has already made "．" a "." and "｡" a "。"). Only between ASCII,
# so a Japanese sentence's full stop before "It ..." is no domain.
_IDEOGRAPHIC_DOT = re.compile(r"(?<=[A-Za-z0-9}-])\u3002(?=[A-Za-z0-9{])")
# Cyrillic and Greek letters drawn like Latin ones, which NFKC leaves alone: "Call u" with
# a Cyrillic dze (U+0455) reads "Call us". Folded only in a word made of Latin letters and
# these, so a Russian or Greek word (which has letters of its own) stays as written; in a
# Russian or Greek text, a word of look-alikes only is a word of that language (Russian
# "so", U+0421 U+043E, after a full stop with no space would read as a ".co" link).
_LOOKALIKES = str.maketrans(
    "\u0430\u0441\u0435\u043e\u0440\u0445\u0443\u0456\u0458\u0455\u0501\u04bb\u051b\u051d\u04cf"
    "\u0410\u0412\u0421\u0415\u041d\u0406\u0408\u041a\u041c\u041e\u0420\u0405\u0422\u0425\u0423"
    "\u03bf\u03bd\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a7\u03a5",
    "aceopxyijsdhqwlABCEHIJKMOPSTXYovABEZHIKMNOPTXY",
)
_LOOK = "".join(map(chr, _LOOKALIKES))
# A whole word of Latin letters, digits and look-alikes, taken as one run: a pattern
# cutting it around a look-alike tried every cut of a long word ended by another letter
# (seconds for 20,000 characters). A word with no look-alike folds to itself.
_FOLDABLE_WORD = re.compile(rf"(?<!\w)[A-Za-z0-9_{_LOOK}]+(?!\w)")
_LATIN_LETTER = re.compile(r"[A-Za-z]")
_CYRILLIC_OR_GREEK = re.compile(rf"(?![{_LOOK}])[\u0370-\u052f]")

# Each entry: (what it catches, pattern). Patterns are searched case-insensitively in
# the template after NFKC and without invisible characters, placeholders included.
_PATTERNS: tuple[tuple[str, str], ...] = (
    # Not the time of day: "see you at 5 pm". The verb's forms too, as people spell
    # them: "try DMing us", "DMming", "we DMd you".
    (
        "private message",
        r"(?<!\d\s)(?<!\d)\b(?:dm|pm)(?:s|d|m?ed|m?ing)?\b(?:\s+(?:us|me|our\s+team))?",
    ),
    # Spaced or dotted past the pattern above ("D M us", "D.M. us"): only before "us" or
    # "me", as "p. m." alone is the time of day.
    (
        "private message",
        r"(?<!\d\s)(?<!\d)\b[dp](?:\s*[.-]\s*|\s+)m\b\.?\s*(?:us|me|our\s+team)\b",
    ),
    ("private message", r"\b(?:direct|private)\s+(?:messag\w*|msgs?\b)"),
    (
        "private message",
        r"\b(?:message|msg|ping)\s+(?:us|me)\b|\binbox\s+us\b|\bslide\s+into\s+our\b",
    ),
    # "Send us a message" is "DM us" in other words.
    (
        "private message",
        r"\b(?:send|drop|shoot|ping)\s+(?:us|our\s+\w+)\s+(?:a\s+)?(?:quick\s+)?"
        r"(?:message|msg|note|line|text)\b",
    ),
    (
        "messaging app",
        r"\b(?:whats\s?app|telegram|messenger|wechat|viber|imessage|snapchat|discord|skype)\b",
    ),
    # Any account but the customer's ("@{author}" posts the customer's handle). Reddit
    # links "/r/name" and "/u/name" as it does "r/name"; a path inside an address
    # ("acme.com/r/x") is not one, and is a link anyway. The guard reads the template
    # before it is filled: "@{first_name}" posts "@Bob", tagging whoever holds it.
    (
        "another account",
        rf"(?<![\w.+-])@(?:\w|{_OTHER_VALUE})+|(?<![\w/])/?[ur]/(?:\w{{3,}}|\w*{_OTHER_VALUE})"
        r"[\w{}]*",
    ),
    (
        "email",
        rf"(?!{_EMAILS_A_PARTY}|{_AN_EMAIL_TO_A_PARTY})\be[-\s]?mail(?:s|ing)?\b(?:\s+(?:us|me|our\s+\w+))?"
        r"|\bmail\s+(?:us|me)\b",
    ),
    # The verb, not the noun: "the text the courier sent", "a call the carrier made".
    # "Call the number on your order" is a call back whoever says it.
    (
        "phone call",
        _NOT_A_NOUN + r"\b(?:call|ring|phone|text)\s+(?:us|me|(?:our|the)\b(?=" + _A_LINE + r"))\b",
    ),
    # A short code: "text HELP to 12345".
    ("phone call", r"\b(?:text|sms)\s+(?:[\"'\u201c]?\w+[\"'\u201d]?\s+)?to\s+\d{3,8}\b"),
    # "Call support" gives no number and no "us", and sends the customer away the same.
    (
        "phone call",
        r"\b(?:call|ring|phone)\s+(?:support|help\s*desk|customer\s+(?:support|services?|care))\b",
    ),
    (
        "phone call",
        rf"\bgive\s+(?:us|me|support|(?:our|the|your){_A_LINE})\s+a\s+(?:call|ring|bell)\b"
        r"|\bcall(?:ing)?\s+\+?\d[\d\s().-]*\d",
    ),
    (
        "phone call",
        r"\b(?:hotline|helpline|call\s*cent(?:er|re)|phone\s+(?:number|lines?)|toll[- ]free)\b",
    ),
    # A call back moves the conversation to the phone all the same, whoever of the brand
    # makes it ("I'm going to call you", "our team will ring your mobile"); not "we will
    # never call you" (a scam warning) nor "the driver will call you". Nor a question about
    # a call made ("did we call you earlier?"), which offers none; "can we call you?" does.
    (
        "phone call",
        r"\b(?:we(?:'ll|\s+will|'d|\s+would|\s+can|\s+could)|someone\s+will|an?\s+(?:agent|"
        r"advis[eo]r|specialist|colleague|member\s+of\s+(?:our|the)\s+team)\s+will)\s+"
        rf"{_CALLS_THE_CUSTOMER}|{_NOT_ASKED_IF_DONE}{_BRAND}{_CALLS_THE_CUSTOMER}"
        r"|\bgive\s+you\s+a\s+(?:call|ring|bell)\b",
    ),
    # The call back told from the customer's side; not "did you get a call from us?" (a
    # call made) nor "expect a call from the driver".
    (
        "phone call",
        r"(?<!\bdid\syou\s)\b(?:expect|get|receive)\s+an?\s+(?:\w+\s+)?(?:call|ring|phone\s+call)"
        rf"(?:\s*back)?\s+from\s+(?:us|me|our\s+(?:\w+\s+)?{_STAFF})\b",
    ),
    ("phone number", r"(?<![\w(+-])[+(]?\d[\d\s().-]{6,}\d(?![\w-])"),
    # US toll-free prefixes before a number or a word ("1-800 FLOWERS"); not "1850 W".
    ("phone number", r"\b1-?8(?:00|33|44|55|66|77|88)\b(?=[\s-]*[a-z0-9]{3})"),
    # From the start of the run only: the match found is the same, and a long word with
    # no "@" is read once, not once from each of its letters. A placeholder may stand for
    # the domain ("support@{brand}.com"): the link pattern below no longer starts inside it.
    ("email address", r"(?<![\w.+-])[\w.+-]+@[\w{}-]+\.[a-z][\w.-]*"),
    # From the start of a run of words and placeholders only: starting again after each
    # brace read "{x}{x}{x}..." once from every placeholder in it.
    (
        "support link",
        rf"(?:https?://|www\.)\S*|(?<![\w.@{{}}-])(?:[\w{{}}-]+\.)+(?:{_TLDS})\b(?:/\S*)?"
        r"|(?<![\w.@{}-])(?:[\w{}-]+\.)+[a-z]{2,24}/\S*",
    ),
    # "See our FAQ", "visit our website": where to look it up, not the answer. Not "our
    # website is down" (news) nor "tap Forgot password on our site" (the steps).
    (
        "website",
        r"\bfaqs?\b|\b(?:visit|see|check(?:\s+out)?|head\s+(?:over\s+)?to|go\s+to|look\s+at"
        rf"|refer\s+to|browse|read)\s+(?:our|the)\s+(?:\w+\s+)?{_WEBSITE}\b"
        rf"|\bfind\s+(?:\w+\s+){{0,3}}?(?:on|at|in)\s+(?:our|the)\s+(?:\w+\s+)?{_WEBSITE}\b"
        r"|\b(?:details|info(?:rmation)?|instructions|steps|everything)\s+(?:are\s+|is\s+)?"
        rf"(?:on|at|in)\s+(?:our|the)\s+(?:\w+\s+)?{_WEBSITE}\b",
    ),
    # Spelled out to get past a filter: "returns at acme dot com", "acme[dot]co[dot]uk".
    # From the start of a hyphenated run only (leading hyphens are in the phrase): from
    # each word in it, "1-1-1-..." was read once per hyphen (seconds at 10,000 characters).
    ("spelled-out address", rf"(?<![\w-])-*\w[\w-]*\s*(?:\s|\[|\()dot(?:\s|\]|\))\s*(?:{_TLDS})\b"),
    (
        "contact elsewhere",
        r"\bcontact\s+(?:us|customer|support|service)\w*"
        r"|\breach\s+out\s+to\b(?!\s+(?:our|the)\b)|\bget\s+in\s+touch\b(?!\s+with\s+(?:our|the)\b)"
        r"|\bwrite\s+(?:to\s+)?us\b"
        # Only with a channel named: "reach us by replying here" is the thread itself.
        r"|\breach\s+(?:us|me)\s+(?:by|via|on|over|through)\s+(?:the\s+)?"
        r"(?:tele)?(?:phone|post|mail|chat|text|sms|instagram|facebook|linkedin|tiktok)\b"
        r"|\b(?:ask|join)\s+us\s+(?:on|over\s+on)\b",
    ),
    # A contact page's slug.
    ("contact elsewhere", r"\bcontact[-_]?us\b"),
    (
        "contact elsewhere",
        r"\b(?:open|submit|raise|file|log|create)\s+a\s+(?:support\s+)?(?:ticket|request|case)\b"
        r"|\b(?:help|support)\s*(?:cent(?:er|re)|portal|desk|page|site)\b"
        r"|\b(?:live\s+chat|chat\s+with\s+us|contact\s+(?:form|page))\b"
        r"|\b(?:post|ask|raise|share)\s+(?:it\s+|this\s+)?(?:in|on)\s+(?:our|the)\s+"
        r"(?:\w+\s+)?(?:forums?|community)\b",
    ),
)
# Things the brand also does itself, which pass after a brand subject (``_BRAND_SUBJECT``).
_ERRANDS: tuple[tuple[str, str], ...] = (
    (
        "private message",
        r"\b(?:send|drop|shoot)\s+(?:a\s+)?(?:quick\s+|short\s+)?"
        rf"(?:message|msg|note|line|text)\s+to\s+(?:us\b|(?:our|the)\s+(?:\w+\s+)?{_STAFF}\b)",
    ),
    ("email", _EMAILS_A_PARTY),
    ("email", _SENDS_AN_EMAIL_TO_A_PARTY),
    # Not "the message the courier left": only a verb "message", to people.
    (
        "private message",
        r"(?<!the\s)(?<!a\s)(?<!your\s)(?<!our\s)(?<!this\s)(?<!that\s)"
        r"\b(?:message|inbox)\s+(?:our|the)\s+(?:\w+\s+)?"
        r"(?:team|page|account|staff|agents?|people|store|shop)\b",
    ),
    # Calling or contacting a third party ("we'll call the courier"), unless it is a line.
    (
        "phone call",
        _NOT_A_NOUN + r"\b(?:call|ring|phone|text)\s+(?:our|the)\b(?!" + _A_LINE + r")",
    ),
    # "Give our team a ring" said to the customer; a line is caught above whoever says it.
    ("phone call", r"\bgive\s+(?:our|the)\s+(?:\w+\s+)?\w+\s+a\s+(?:call|ring|bell)\b"),
    (
        "contact elsewhere",
        r"\bcontact\s+(?:our|the)\w*|\breach\s+out\s+to(?=\s+(?:our|the)\b)"
        r"|\bget\s+in\s+touch(?=\s+with\s+(?:our|the)\b)",
    ),
    # A person to talk or write to elsewhere, a team or a third party as "call the courier"
    # is; not "speak to you soon".
    (
        "contact elsewhere",
        r"\b(?:(?:talk|speak)\s+(?:to|with)\s+|write\s+(?:to\s+)?)(?:(?:our|the)\s+(?:\w+\s+)?"
        rf"{_PARTY}|an?\s+(?:\w+\s+)?(?:agent|advis[eo]r|representative|human|person))\b",
    ),
)
_COMPILED = tuple(
    (kind, re.compile(pattern, re.IGNORECASE), errand)
    for patterns, errand in ((_PATTERNS, False), (_ERRANDS, True))
    for kind, pattern in patterns
)


def find_redirect(template: str, *, customer: str = "") -> tuple[str, str] | None:
    """The first redirect in ``template`` as (kind, offending phrase), or None.

    The earliest phrase in the text wins so the message points where a reader looks first.
    ``customer`` is the handle of the person replied to, when known: a filled-in reply
    or a person's text may name them ("Thanks @jane_doe"), which sends no one elsewhere.
    """
    text = _NOT_A_PHONE.sub(_blank, _visible(template))
    if customer:
        text = _customer_as_placeholder(text, customer)
    hits = []
    for kind, pattern, errand in _COMPILED:
        found = _first(pattern, text) if errand else pattern.search(text)
        if found:
            hits.append((found.start(), -len(found.group(0)), kind, found.group(0).strip()))
    if not hits:
        return None
    _, _, kind, phrase = min(hits)
    return kind, phrase


def _first(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The first match of ``pattern`` that is not the brand's own errand: the same verb
    can be both in one reply ("we'll message our warehouse team; message our team too")."""
    for found in pattern.finditer(text):
        # A subject stands a few words before its verb; a longer look back only costs time.
        if not _BRAND_SUBJECT.search(text, max(0, found.start() - 120), found.start()):
            return found
    return None


def _blank(found: re.Match[str]) -> str:
    # The same length, so the offsets that decide the earliest phrase do not move.
    return " " * len(found.group(0))


def _visible(text: str) -> str:
    """``text`` as a reader sees it: "DM us" in full-width letters, with a zero-width
    space inside or with a Cyrillic "M" (U+041C) must not slip past the patterns. NFKC folds wide
    and styled letters; format characters (zero-width spaces and joiners, soft hyphens)
    are dropped, as the scorer drops them; look-alike letters are folded (one for one,
    so offsets stay)."""
    folded = unicodedata.normalize("NFKC", text).translate(INVISIBLE)
    return _IDEOGRAPHIC_DOT.sub(".", _fold_lookalikes(folded))


def _fold_lookalikes(text: str) -> str:
    mixed_only = _CYRILLIC_OR_GREEK.search(text) is not None
    return _FOLDABLE_WORD.sub(lambda word: _folded(word.group(0), mixed_only), text)


def _folded(word: str, mixed_only: bool) -> str:
    # In a Russian or Greek text only a word with a Latin letter is folded (above).
    if mixed_only and _LATIN_LETTER.search(word) is None:
        return word
    return word.translate(_LOOKALIKES)


def _customer_as_placeholder(text: str, customer: str) -> str:
    handle = customer.removeprefix("@").removeprefix("/").removeprefix("u/")
    named = re.compile(rf"(?<![\w.+-])(?:@|/?u/){re.escape(handle)}(?!\w)", re.IGNORECASE)
    return named.sub("{author}", text)
