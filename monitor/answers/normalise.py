"""Light text normalisation for matching questions: handles, URLs and noise out,
synonyms folded, words stemmed.

Mention text is hostile input: only the first MAX_QUESTION_CHARS characters are read,
so a 10,000-character comment costs no more than a tweet.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import pairwise

from monitor.rules.textmatch import APOSTROPHES
from monitor.scoring.text import INVISIBLE, STYLE_MARKS

# Zero-width spaces, soft hyphens and underline or "zalgo" marks split a word into
# pieces no entry knows ("sh\u200bip"); the scorer and the deflection guard drop them.
_HIDDEN = INVISIBLE | STYLE_MARKS

MAX_QUESTION_CHARS = 1_000

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
# An @handle not inside a word or a path, and a Reddit u/name or r/name. Two patterns:
# as one, its lookbehind and word boundary were tried at every character, which cost
# more than the rest of question detection. Opening with "@", the first is searched
# for that character alone (the lookbehind then checks the one before it).
_AT_HANDLE = re.compile(r"@(?<![\w/]@)\w+")
_REDDIT_NAME = re.compile(r"\b[ur]/\w+", re.IGNORECASE)
# Letters of any script: read as a-z only, "Łódź" was "d" (a stopword) and "Zürich"
# "z" and "rich", so a place no entry knows vanished from the question.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# A word of letters then a few digits names a product or a service: a model ("AF300",
# "km4000"), "PS5", "iPhone15", "Przelewy24", "Windows11". It is a word like any other,
# and a name however it is written. What is not: a word that starts with a digit (a
# number, a price, a time, a quantity: "77812", "3pm", "2nd", "10kg") and a reference,
# which has five digits or more in a row or letters and digits in turns ("A1234567",
# "x7f3a9"): those are details of the customer's case.
PRODUCT_WORD = re.compile(r"[^\W\d_]+\d{1,4}[^\W\d_]*")
_DIGIT = re.compile(r"\d")
_HYPHENATED_CODE = re.compile(r"\b([a-z]{1,4})-(\d{2,4}[a-z]?)\b")
# A word as written, for telling names: letters, digits, inner apostrophes, hyphens
# and dots ("Wi-Fi", "Sainsbury's").
_NAME_WORD = re.compile(r"(?:[^\W_]|[£€$])[\w'\-.]*\w|[^\W_]")
# Words after which a capitalised word is the person addressed, not a name asked about.
_GREETINGS = frozenset({"hi", "hey", "hello", "dear", "thanks", "cheers", "morning"})
# More than this share of a sentence's letters in capitals: written in capitals.
_SHOUTING = 0.6
# "us" is a stopword, as the pronoun ("send us", "tell us"), but "the US", "U.S." and
# "US" in capitals in a text not shouted are the country: dropped, "can I use it in the
# US?" was only "use" and got no answer, and "is the US store open?" the store hours.
_THE_US = re.compile(r"\b(the\s+)us\b", re.IGNORECASE)
_US_DOTTED = re.compile(r"\bu\.s\.(?:a\b\.?)?", re.IGNORECASE)
_US_CAPITALS = re.compile(r"\bUS\b")
# {first_name} and the other placeholders of an answer text are not words of the answer.
_PLACEHOLDER = re.compile(r"\{\w+\}")
# A markdown blockquote: a line opening with ">" (after at most 3 spaces) and the lines
# after it up to a blank one, which Reddit shows inside the quote too.
_QUOTE = re.compile(r"^ {0,3}>[^\n]*(?:\n[ \t]*\S[^\n]*)*", re.MULTILINE)

# Words too common in questions to tell one answer from another. Interrogatives are
# removed here because questions.py has already used them.
_STOPWORDS = """a an the and or but if of to in on at by for with from as is are was were be been
    being am do does did doing have has had having i me my mine we us our you your yours he
    she it its they them their this that these those there here what which who whom whose
    when where why how can could would should will shall may might must just so than then
    too very also any some all about into over again please hi hey hello thanks thank
    anyone someone guys folks know tell wondering wonder quick question im i'm i've i'd
    you're it's what's there's whats let get got need want like one way still yet u ur
    pls plz ya yall y'all wanna gonna gotta lol ok okay"""
# The rest of NLTK's English list, less the words that tell topics apart here: "down"
# (an outage), "not"/"no" (the folded negations), "off" (drop off), "out" (sold out),
# "only" (UK only), "before"/"after" (cancel before it ships).
_FUNCTION_WORDS = """above against ain aren aren't because below between both couldn couldn't
    d didn didn't doesn doing don each few further hadn hadn't hasn hasn't haven haven't her
    hers herself him himself his isn isn't itself ll m ma mightn mightn't more most mustn
    mustn't myself needn needn't nor now o once other ours ourselves own re s same shan
    shan't she's should've shouldn shouldn't such t that'll theirs themselves through under
    until up ve wasn wasn't weren weren't while won wouldn wouldn't y you'd you'll you've
    yourself yourselves"""
# Words that say how something is asked, not what: "is there actually a way", "how am I
# supposed to", "usually", "two questions". Left in, they counted as words an entry does
# not know and lowered the confidence of questions it answers.
_FILLERS = """actually already anywhere somewhere anything something everything thing things
    whether instead rather whole usually usual normally normal generally basically really
    literally honestly exactly even ever maybe perhaps probably possible possibly supposed
    meant idea question questions two anyway though although mean guess think sure bit lot
    lots many every"""
STOPWORDS = frozenset(" ".join((_STOPWORDS, _FUNCTION_WORDS, _FILLERS)).split())

# The brand's own name says nothing about which answer fits ("does Acme ship to
# Norway?"), yet customers write it everywhere. Set by the knowledge base's loader from
# brand.name: one brand per process, like the config it comes from.
_BRAND_WORDS: set[str] = set()


def use_brand(name: str) -> None:
    """Leave the words of ``name`` out of every question and entry from now on."""
    _BRAND_WORDS.clear()
    _BRAND_WORDS.update(_WORD.findall(name.lower()))


# Folded before stemming: spellings and words customers use for the same thing. Kept
# short and general; an entry's own example questions carry the rest.
SYNONYMS: dict[str, str] = {
    "deliver": "ship", "delivers": "ship", "delivery": "ship", "delivering": "ship",
    "shipping": "ship", "shipped": "ship", "shiping": "ship", "shippin": "ship",
    "dispatch": "ship", "dispatches": "ship",
    "countries": "country", "abroad": "international", "overseas": "international",
    "worldwide": "international",
    "guarantee": "warranty", "warrenty": "warranty", "warranty's": "warranty",
    "waranty": "warranty",
    "modify": "change", "edit": "change", "amend": "change", "alter": "change",
    "opening": "open", "closing": "close", "closes": "close", "opens": "open",
    "refunded": "refund", "refunds": "refund",
    "exchange": "return", "exchanges": "return", "returning": "return",
    "adress": "address", "addres": "address",
    "cancelled": "cancel", "canceled": "cancel", "cancelling": "cancel", "canceling": "cancel",
    "outage": "down", "offline": "down", "outages": "down",
    "tracking": "track", "tracked": "track",
    # The stemmer makes "instalment" and "installation" one word ("instal").
    "instalment": "finance", "instalments": "finance", "installment": "finance",
    "installments": "finance",
    "can't": "cannot", "won't": "not", "doesn't": "not", "don't": "not",
}  # fmt: skip


@lru_cache(maxsize=1)
def _stemmer() -> object:
    import Stemmer

    return Stemmer.Stemmer("english")


@lru_cache(maxsize=64)  # question detection and tokens() both clean the same text
def clean(text: str) -> str:
    """Lower-cased text without URLs and @handles/u/names, bounded in length."""
    # Python lowers "İ" to "i" and a combining dot above, which split "İstanbul" into
    # "i" and "stanbul"; without_noise has already dropped every other such mark.
    return _the_us(without_noise(text)).lower().replace("\u0307", "")


def _the_us(text: str) -> str:
    """``text`` with the country "US" written "USA", which no stopword list holds."""
    if _US_CAPITALS.search(text) and not _shouts(text):
        text = _US_CAPITALS.sub("usa", text)
    return _US_DOTTED.sub(" usa ", _THE_US.sub(r"\1usa", text))


def _shouts(text: str) -> bool:
    """Whether ``text`` is written in capitals, where a capital tells nothing."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) > _SHOUTING * len(letters)


@lru_cache(maxsize=64)  # clean() and the sentence split of the same mention share it
def without_noise(text: str) -> str:
    """``text`` without URLs and @handles/u/names, bounded in length, case kept (a
    capital letter tells a name). NFKC folds full-width and styled letters into the
    words they spell ("ｓｈｉｐ" is "ship"), as the deflection guard reads them; cut
    again after it, as one character can unfold into many. Invisible characters and
    style marks are dropped, as the scorer drops them."""
    text = unicodedata.normalize("NFKC", text[:MAX_QUESTION_CHARS])
    # Neither table maps an ASCII character: most mentions skip both passes.
    if not text.isascii():
        text = text.translate(_HIDDEN)
    text = text[:MAX_QUESTION_CHARS]  # ASCII too: NFKC makes "…" three characters
    text = without_handles(without_urls(text))
    return text if text.isascii() else text.translate(APOSTROPHES)


def without_handles(text: str) -> str:
    """``text`` with each @handle and u/ or r/ name a space."""
    # One after the other drops what one pass of both did: a handle holds no "/" and a
    # name no "@", and a handle's \w+ runs to a non-word character, which no name's
    # [ur] can be.
    if "@" in text:
        text = _AT_HANDLE.sub(" ", text)
    return _REDDIT_NAME.sub(" ", text) if "/" in text else text


def without_urls(text: str) -> str:
    """``text`` with each URL a space."""
    # Most mentions have none, and the case-insensitive search for one tried both
    # openings at every character. Only "W" and "w" match "w" case-insensitively (and
    # ":", "/" and "." only themselves), so text.lower() keeps any "www." there is.
    if "://" in text or "www." in text.lower():
        return _URL.sub(" ", text)
    return text


def own_words(text: str) -> str:
    """``text`` without the lines it quotes: a Reddit comment quotes what it replies to
    ("> does Acme ship to Ireland?", then "yes, got mine in Cork"), and a question in
    the quote is someone else's, often one the commenter goes on to answer."""
    return _QUOTE.sub("\n", text) if ">" in text else text


def is_cut(text: str) -> bool:
    """Whether the matcher reads less than the whole of ``text``: it is longer than
    MAX_QUESTION_CHARS as written, or becomes so once NFKC unfolds it (each "\u2026" is
    three characters, "\ufdfa" eighteen), and without_noise cuts its end."""
    if len(text) > MAX_QUESTION_CHARS:
        return True
    unfolded = unicodedata.normalize("NFKC", text).translate(_HIDDEN)
    return len(unfolded) > MAX_QUESTION_CHARS


def words(text: str) -> list[str]:
    """The informative words of ``text``, synonyms folded, not yet stemmed."""
    out = []
    for word in _WORD.findall(_HYPHENATED_CODE.sub(r"\1\2", clean(text))):
        word = SYNONYMS.get(word, word)
        if word.endswith("'s"):
            word = word[:-2]
        if word not in STOPWORDS and word not in _BRAND_WORDS:
            out.append(word)
    return out


def tokens(text: str) -> list[str]:
    """Stemmed, synonym-folded tokens for retrieval."""
    found = words(text)
    if not found:
        return []
    stemmed: list[str] = _stemmer().stemWords(found)  # type: ignore[attr-defined]
    return [SYNONYMS.get(s, s) for s in stemmed]


def names(sentence: str, *, brand: str = "") -> list[str]:
    """The words of ``sentence`` written with a capital letter that do not start it and
    are not the brand's name: a place, a shop, a payment provider, another brand.
    A product word ("AF300", "af-300", "PS5", "Przelewy24") is a name however it is
    written; other words with digits (an order number, a price) and stopwords ("I",
    "I'm") are not, nor is the word after a greeting ("Hi Steve, ..."): that is the
    person addressed. A
    sentence in capitals has no names to tell: "DO YOU SHIP TO IRELAND" shouts."""
    if _shouts(sentence):
        return []
    found = _NAME_WORD.findall(sentence)
    brand = brand.lower()
    return [
        word
        for before, word in pairwise(found)
        if _product_word(word)
        or (
            word[0].isupper()
            and before.lower() not in _GREETINGS
            and not _DIGIT.search(word)
            and word.lower() not in STOPWORDS
            and not _brands(word, brand)
        )
    ]


def _brands(word: str, brand: str) -> bool:
    """Whether ``word`` as written is the (lower-cased) ``brand``, alone or in a form of
    its own ("Acme's", "Acme-branded", "AcmeCare"). A word that merely starts with it is
    another word: brand "Go" is not "Google" or "Gosport", which no entry may know."""
    if not brand or word[: len(brand)].lower() != brand:
        return False
    rest = word[len(brand) :]
    return not rest or not rest[0].islower()


def is_detail(word: str) -> bool:
    """Whether ``word`` (as written or as a token) is a number, a quantity or a
    reference rather than a word: it has a digit and is not a product word."""
    return bool(_DIGIT.search(word)) and not PRODUCT_WORD.fullmatch(word)


def _product_word(written: str) -> bool:
    """Whether a word as written is a product word: "AF-300" is the model AF300, and
    "PS5's" the PS5."""
    return PRODUCT_WORD.fullmatch(written.replace("-", "").removesuffix("'s")) is not None


def text_tokens(text: str) -> frozenset[str]:
    """The stemmed tokens of a whole entry text (an answer), placeholders left out.

    Read line by line in MAX_QUESTION_CHARS pieces: that bound is for hostile mention
    text, and an answer longer than it must still count in full."""
    found: set[str] = set()
    for line in _PLACEHOLDER.sub(" ", text).splitlines():
        for start in range(0, len(line), MAX_QUESTION_CHARS):
            found.update(tokens(line[start : start + MAX_QUESTION_CHARS]))
    return frozenset(found)
