"""Preprocessing that keeps what VADER reads and bounds what it costs.

Measured in shared/notes/vader.md §3.5: lowercasing, stripping punctuation or emoticons
and collapsing doubled letters all lose accuracy, so none of that happens here. Removing
handles and URLs and collapsing runs of three or more characters is harmless, and
removing U+FE0F makes ❤️ score; other invisible characters are removed for the same reason.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable, Container, Iterable, Iterator

from vaderSentiment.vaderSentiment import negated

from monitor.scoring.emoji import FILLER
from monitor.scoring.lexicon import NEGATION_PROOF

# VADER is quadratic in tokens (§3.4): a text is scored in pieces of at most PIECE_CHARS,
# and at most MAX_SCORED_CHARS of it are scored at all.
RAW_CHARS = 20_000  # cut before any regex runs
SPLIT_CHARS = 1_000  # a longer sentence is cut before its emoji are expanded
PIECE_CHARS = 300
# A text of at most PIECE_CHARS (every tweet) is scored whole while its emoji's words keep
# it under this; VADER takes at most about 12 ms on that many characters.
WHOLE_CHARS = 1_000
MAX_SCORED_CHARS = 4_000


def _invisible() -> dict[int, None]:
    """Code points that glue onto the word or emoji before them and hide it from VADER.

    Format characters (category Cf: LRM/RLM from RTL keyboards, zero-width space and
    joiners, word joiner, BOM, soft hyphen, emoji tag characters) turn "terrible" into a
    token the lexicon misses; U+FE0E/FE0F and skin tones do the same to an emoji. The
    emoji table is per code point (emoji.py), and ZWJ sequences, flags and keycaps are
    resolved before these are removed (``_SEQUENCE``), so nothing needs them after. Planes
    2-13, 15 and 16 hold ideographs and private use only: scanning them too would cost
    about 50 ms more per import and find nothing.
    """
    planes = (range(0x0000, 0x20000), range(0xE0000, 0xF0000))
    found = [cp for plane in planes for cp in plane if unicodedata.category(chr(cp)) == "Cf"]
    return dict.fromkeys([*found, 0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)])


INVISIBLE = _invisible()
# Control characters that are not whitespace (NUL, BEL, ESC, DEL, C1 controls): VADER
# splits words at whitespace only, so "\x1bterrible" was no word it knew. Each becomes a
# space, which parts two words and hides none.
# A terminal colour code (ESC [ 31 m, or its one-character form CSI 31 m) goes whole: only
# the ESC made a space, and "[31mterrible" was still no word VADER knew.
# A lone CSI needs a parameter: "\x9bterrible" is a control glued to a word, not CSI t.
_CONTROL = re.compile(
    "(?:\x1b\\[[0-?]*|\x9b[0-?]+)[ -/]*[@-~]|[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]"
)
# Typographic apostrophes and quotes, which phone keyboards type by default: VADER knows
# negations spelled with "'" and strips only ASCII punctuation from a word, so
# "I don’t love it" read as praise and “terrible” was no word at all.
TYPOGRAPHIC = {ord("‘"): "'", ord("’"): "'", ord("ʼ"): "'", ord("“"): '"', ord("”"): '"'}
_UNGLUE = {**INVISIBLE, **TYPOGRAPHIC}
# Combining marks of the generic diacritic blocks that are left after NFKC: it composes
# every accent that forms a letter ("cafe\u0301" -> "café"), so what remains are the
# underline, strikethrough and "zalgo" marks text generators put after each letter, which
# hide "terrible" from VADER. Script-specific marks (Devanagari, Arabic, Hebrew, Thai) are
# in other blocks and stay; so does U+20E3, the keycap of an emoji.
STYLE_MARKS = dict.fromkeys(
    [*range(0x0300, 0x0370), *range(0x1AB0, 0x1B00), *range(0x1DC0, 0x1E00), *range(0xFE20, 0xFE30)]
)
# Runs of CJK words and punctuation (。、「」), which are written without spaces: VADER
# splits words at whitespace and strips only ASCII punctuation, so the English word
# glued to one ("terrible。", "最悪。terrible") was no word it knew. Such a run gets a
# space on each side. Checked after NFKC, which makes fullwidth letters and "！" ASCII.
_CJK_RUN = re.compile(
    "[\u1100-\u11ff\u3000-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\U00020000-\U0002fa1f]+"
)
# Emoji made of several code points. The emoji table is per code point (emoji.py), so a
# ZWJ sequence read as its parts gained words ("🤦‍♀️" -> "annoyed female sign", "❤️‍🔥" ->
# "red heart awesome"), and flags and keycaps, which no table entry names, glued the
# words on either side into one token VADER does not know ("great🇬🇧service").
# A symbol excludes the modifiers, so a long run of them costs one pass, not one per start.
_MODIFIERS = "\ufe0e\ufe0f\U0001f3fb-\U0001f3ff"
_SYMBOL = f"[^\\s\u200d{_MODIFIERS}][{_MODIFIERS}]*"
_SEQUENCE = re.compile(
    "[\U0001f1e6-\U0001f1ff]{1,2}"  # a flag is a pair of regional indicators
    "|[0-9#*]\ufe0f?\u20e3"  # keycap
    f"|({_SYMBOL})(?:\u200d{_SYMBOL})+"  # ZWJ sequence
)
_NEUTRAL = f" {FILLER} "
# An X handle (and its possessive), a Reddit user or community ("u/name", "/r/name")
# or a URL.
_HANDLE_OR_URL = re.compile(
    r"(?<![\w@/])(?:@\w+|/?[ur]/[\w-]+)(?:['’]s\b)?|https?://\S+|\bwww\.\S+", re.ASCII
)
_SPACES = re.compile(r"(\s+)")
_ONE_SPACE = re.compile(r"\s")
_WORD_CHAR = re.compile(r"\w")
# What a removed handle leaves that is still the customer's: sentence punctuation and
# emphasis, which VADER counts in the whole text ("EVER, @acme!" -> "EVER,!").
_KEPT_PUNCT = ".,!?;:…"
_RUN = re.compile(r"(.)\1\1+", re.DOTALL)
_LETTER_RUN = re.compile(r"([^\W\d_])\1{2,}")
# A whole word holding a run. Tried only where a word starts, so a long word without a
# run is read once, not once per character.
_RUN_WORD = re.compile(r"(?<!\S)\S*?(\S)\1\1\S*")
_RUN_IN_WORD = re.compile(r"(\S)\1\1")
_PUNCT = string.punctuation
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def sanitize(text: str) -> str:
    """Cut to RAW_CHARS and replace lone surrogates, which no encoder accepts."""
    text = text[:RAW_CHARS]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean(text: str, words: Container[str], keep: re.Pattern[str] | None) -> str:
    """Make control characters spaces, drop invisible characters, make typographic
    quotes ASCII, fold styled letters (but not the emoji ``keep`` finds), drop style
    marks, space out CJK runs, drop handles and URLs; collapse 3+ character runs."""
    if not text.isprintable():  # any control character, but also a line break
        text = _CONTROL.sub(" ", text)
    if not text.isascii():
        text = _SEQUENCE.sub(_sequence, text)
        text = fold(text.translate(_UNGLUE), keep).translate(STYLE_MARKS)
        text = _CJK_RUN.sub(r" \g<0> ", text)
    if "@" in text or "/" in text or "www." in text:
        text = drop_handles(text, words)
    return collapse_runs(text, words)


def collapse_runs(text: str, words: Container[str]) -> str:
    """Collapse the runs of 3+ characters in each word that holds one (_collapse_token)."""
    # Only the words holding a run are visited: a run of spaces, or one "sooo", sent
    # every word of the text through _collapse_token, which leaves a word without a
    # run as it is.
    # Most texts hold no run in a word, and this plain scan is cheaper than _RUN_WORD.
    if not _RUN_IN_WORD.search(text):
        return text
    return _RUN_WORD.sub(lambda m: _collapse_token(m.group(0), words), text)


def drop_handles(text: str, words: Container[str]) -> str:
    """Remove handles and URLs as if the customer had not written them.

    They are not the customer's writing, and VADER boosts ALL-CAPS words only in a
    mixed-case text: the "(", ")" or ":" a handle left as tokens of their own made
    "@acme: WORST SERVICE EVER" mixed case. So a token that was a handle with only
    punctuation around it goes, its sentence punctuation joins the word before (or
    after, at the start), and an emoticon glued to it ("@acme:)") stays a token.
    """
    # Only the words up to the last one holding "@", "/" or "www." can change: a
    # mention opens with "@brand", and walking all its other words was a tenth of the
    # scorer's time. The rest is kept as it is, but for punctuation held for it.
    end = _marked_end(text)
    out, held = _without_handles(text[:end], words)
    rest = text[end:]
    if held and rest.strip():
        start = len(rest) - len(rest.lstrip())
        rest = rest[:start] + held + rest[start:]
    return "".join(out) + rest


def _marked_end(text: str) -> int:
    """Where the word holding the last "@", "/" or "www." ends (0 when none does)."""
    last = max(text.rfind("@"), text.rfind("/"), text.rfind("www."))
    if last < 0:
        return 0
    space = _ONE_SPACE.search(text, last)
    return len(text) if space is None else space.start()


def _without_handles(text: str, words: Container[str]) -> tuple[list[str], str]:
    """drop_handles' parts of ``text``, and the punctuation held for the first word
    after them (a handle's, when no word came before it)."""
    out: list[str] = []
    last_word, held = -1, ""
    for part in _SPACES.split(text):
        # Most words hold none of "@", "/" or "www.": no regex for them.
        maybe = "@" in part or "/" in part or "www." in part
        rest = _HANDLE_OR_URL.sub(" ", part) if maybe else part
        if rest != part and not (_WORD_CHAR.search(rest) or rest.strip() in words):
            kept = "".join(ch for ch in rest if ch in _KEPT_PUNCT)
            if last_word < 0:
                held += kept
            else:
                out[last_word] += kept
            # A space where the handle was, as before: the language gate's verdict on a
            # short text moves with its whitespace.
            out.append(" ")
            continue
        if held and rest.strip():
            rest, held = held + rest, ""
        if rest.strip():
            last_word = len(out)
        out.append(rest)
    return out, held


def _sequence(match: re.Match[str]) -> str:
    """A ZWJ sequence of emoji becomes its base emoji (🤦‍♀️ -> 🤦, ❤️‍🔥 -> ❤), which says
    what it means; a flag or keycap becomes a neutral token between spaces.

    A ZWJ next to a letter is no emoji sequence but an invisible character hiding a
    word ("ter\u200drible"), and is left for INVISIBLE to remove.
    """
    base = match.group(1)
    if base is None:
        return _NEUTRAL
    base = base[0]
    # INVISIBLE holds the joiner, the variation selectors and the skin tones.
    symbols = [ch for ch in match.group(0) if ord(ch) not in INVISIBLE]
    if all(unicodedata.category(ch) == "So" for ch in symbols):
        return base
    return match.group(0)


# "thanks" is +1.9 in VADER, so the complaint "thanks for nothing" scored +0.44; the two
# Amazon snippets holding it are rated -2.8 and -1.85 by people. "nothing short of" and
# "nothing but" are praise, not the idiom.
_THANKS_FOR_NOTHING = re.compile(
    r"\bthank(?:s| you)(?: so much)? for nothing\b(?!\s+(?:short|but)\b)",
    # ASCII folding only, so every match holds "othing" once lowered (the pre-check).
    re.IGNORECASE | re.ASCII,
)


# VADER negates after "no one" ("no one cares" -0.57) but knows no "nobody": "nobody
# cares" scored +0.46 and "on hold and nobody helps" +0.15. Both spellings mean the same.
_NOBODY = re.compile(r"\b(?:nobody|no-?one)\b", re.IGNORECASE | re.ASCII)
# What never came: no sentiment word, so "my parcel never arrived" was unscored
# (no-signal). "never" becomes "missing", which VADER scores -1.2 as it does a bare "no"
# ("no reply"). Only arrival and answer verbs: "never had a problem" is VADER's to read,
# and so is a word VADER negates within its reach in the same clause (_never_came).
_NEVER_CAME = re.compile(
    r"\bnever(?=\s+(?:arrived|came|showed|turned up|shipped|delivered|called|replied"
    r"|responded|answered|received|heard back|got back|emailed|refunded)\b)",
    re.IGNORECASE | re.ASCII,
)


# "never had such bad service" is emphasis, not negation: VADER flips the "bad" after
# "never" (+0.43), and "never had such good service" read -0.34. Only after an
# experience verb and a degree word ("such", "so", a comparative): "never had a
# problem" is a real negation and stays VADER's to read.
_NEVER_SUCH = re.compile(
    r"\bnever\s+(?=(?:ever\s+)?(?:had|seen|experienced|received|got|gotten|been|felt"
    r"|encountered|met|dealt with|heard|tasted)\s+(?:such|so|a\s+(?:worse|better|more|less)"
    r"|worse|better|happier|angrier|more|less|anything\s+(?:so|as|like|this|that))\b)",
    re.IGNORECASE | re.ASCII,
)


# VADER rates "pay" -0.4, so "can I pay with paypal?" scored -0.10 and was escalated as
# a complaint. Before a payment method "pay" is a question about paying; it becomes
# "paying", which VADER does not know. Elsewhere "pay" stays: people rate "you get what
# you pay for" negative, and a neutral "pay" everywhere cost accuracy on the Amazon and
# NYT corpora. "pay through the nose" is a complaint, so not "through".
_PAY_WITH = re.compile(r"\bpay(?=\s+(?:with|by|via|using)\b)", re.IGNORECASE | re.ASCII)
# VADER rates "joke" +1.2, so "shipping on my last order was a joke" scored +0.30,
# praise. Called a joke ("is/are/was a joke", "what a joke", "such a joke", "an absolute
# joke"), a service is ridiculed: "joke" becomes "ridiculous" (-1.5). A joke told ("that
# was a sick joke! Lol", "a great joke") stays VADER's: "joke" -1.5 everywhere cost two
# ground-truth tweets.
_A_JOKE = re.compile(
    r"((?:\b(?:is|are|was|were|what|such)|'s)\s+an?\s+"
    r"(?:(?:complete|total|absolute|actual|bloody|utter)\s+)?)(joke)\b",
    re.IGNORECASE | re.ASCII,
)


def _ridiculous(match: re.Match[str]) -> str:
    return match.group(1) + ("RIDICULOUS" if match.group(2).isupper() else "ridiculous")


# The overlay rates "refund" -1.2 and VADER "cancel" -1.0, so "how long does a refund
# take?" and "how do I cancel my order?" scored -0.30 and -0.25, and the shipped
# complaint-to-human rule opened a case for a question the knowledge base answers. In a
# clause that asks (it opens with a question word or an inverted auxiliary) the word
# names the topic, not a grievance: it becomes an unknown "-ing" form, as "pay with" does.
# A clause holding a negation ("did my refund not go through?", "how come I haven't got
# my refund?") keeps it, and so does every other clause: "I want a refund" and the
# ground truth's "yup, right back for a refund!" are complaints people rate negative.
_CLAUSE = re.compile(r"[^.,;:!?…\n]+")
_ASKS = re.compile(
    r"\s*(?:how|what|what's|whats|when|when's|which|can|could|do|does|did|is|are|will"
    r"|would|may|should)\b",
    re.IGNORECASE | re.ASCII,
)
_TOPIC = re.compile(r"\b(?:refunds?|cancel)\b", re.IGNORECASE | re.ASCII)


def _asked_topic(match: re.Match[str]) -> str:
    clause = match.group(0)
    words = [w.strip(_PUNCT) for w in clause.split()]
    if not _ASKS.match(clause) or negated(words) or "no" in (w.lower() for w in words):
        return clause
    return _TOPIC.sub(_topic_word, clause)


def _topic_word(match: re.Match[str]) -> str:
    word = match.group(0)
    neutral = {"refund": "refunding", "refunds": "refunding", "cancel": "canceling"}
    return neutral[word.lower()].upper() if word.isupper() else neutral[word.lower()]


# VADER rates "mistake" and "accidentally" -1.4, so "can I still cancel order 61200?
# ordered it by mistake" read as a complaint (-0.34), though the slip is the customer's
# own order and the knowledge base answers it. Only right after (or, for the adverb,
# right before) an ordering verb, within one clause: "you charged me twice by mistake"
# and "big mistake" stay complaints. No ground-truth text holds such a phrase.
_SLIP_VERB = r"(?:ordered|bought|purchased|booked|placed|subscribed|selected|added)"
_OWN_SLIP = re.compile(
    rf"(\b{_SLIP_VERB}(?:\s+[\w'-]+){{0,4}}?\s+)by\s+(?:mistake|accident)\b"
    rf"|\b(?:accidentally|mistakenly)(?=\s+{_SLIP_VERB}\b)",
    re.IGNORECASE | re.ASCII,
)


def _unintended(match: re.Match[str]) -> str:
    word = "UNINTENTIONALLY" if match.group(0).isupper() else "unintentionally"
    return (match.group(1) or "") + word


# VADER negates a word up to three tokens after a negation.
_NEGATION_REACH = 3
_CLAUSE_END = tuple(".,;:!?…")


def _never_came(match: re.Match[str], lexicon: Container[str]) -> str:
    """ "missing" for "never", unless a word VADER negates follows within its reach in
    the same clause: "never received a damaged item" is praise and "never received a
    good answer" a complaint, as VADER reads them; as "missing" the first was a complaint
    and the second praise. A negation-proof word ("never received my refund") is no
    such word: VADER does not flip it, and the complaint is what never came.
    """
    after = match.string[match.end() : match.end() + 200].split(maxsplit=_NEGATION_REACH)
    for token in after[:_NEGATION_REACH]:
        word = token.strip(_PUNCT).lower()
        if word in lexicon and word not in NEGATION_PROOF:
            return match.group(0)
        if token.endswith(_CLAUSE_END):
            break
    return "MISSING" if match.group(0).isupper() else "missing"


def idioms(text: str, lexicon: Container[str]) -> str:
    """Replace idioms VADER misreads by the complaint they mean; ``lexicon`` holds the
    words VADER scores."""
    # Any case ("thanks for NOthing"). One lower() and a substring test per idiom cost
    # less than the regexes, which most texts never need (measured for the first).
    lowered = text.lower()
    if "othing" in lowered:
        text = _THANKS_FOR_NOTHING.sub("useless", text)
    if "nobody" in lowered or "noone" in lowered or "no-one" in lowered:
        text = _NOBODY.sub(lambda m: "NO ONE" if m.group(0).isupper() else "no one", text)
    if "never" in lowered:
        # Emphasis first: "never received such fast delivery" is praise, not what never came.
        text = _NEVER_SUCH.sub("", text)
        text = _NEVER_CAME.sub(lambda m: _never_came(m, lexicon), text)
    if "pay" in lowered:
        text = _PAY_WITH.sub(lambda m: "PAYING" if m.group(0).isupper() else "paying", text)
    if "joke" in lowered:
        text = _A_JOKE.sub(_ridiculous, text)
    if "mistake" in lowered or "accident" in lowered:
        text = _OWN_SLIP.sub(_unintended, text)
    if "refund" in lowered or "cancel" in lowered:
        text = _CLAUSE.sub(_asked_topic, text)
    return text


def kept_emoji(emoji: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern for the emoji that NFKC turns into letters ("🈚" -> "無", "™" -> "TM"):
    a CJK letter would make the language gate call an English text Chinese."""
    changed = sorted(ch for ch in emoji if unicodedata.normalize("NFKC", ch) != ch)
    return re.compile("([" + "".join(map(re.escape, changed)) + "])") if changed else None


def fold(text: str, keep: re.Pattern[str] | None) -> str:
    """NFKC, except for what ``keep`` matches.

    X users style text with generators: mathematical bold "𝐓𝐞𝐫𝐫𝐢𝐛𝐥𝐞" and fullwidth
    "ｔｅｒｒｉｂｌｅ" are English that neither VADER nor the language gate can read
    until NFKC maps them to ASCII; unfolded, the gate called them Korean or Chinese.
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    if keep is None or not keep.search(text):
        return unicodedata.normalize("NFKC", text)
    # split() with a group keeps the matches at the odd positions.
    parts = keep.split(text)
    return "".join(p if i % 2 else unicodedata.normalize("NFKC", p) for i, p in enumerate(parts))


def _collapse_token(token: str, words: Container[str]) -> str:
    """ "sooo"->"so", "goooood"->"good", "grrrrr"->"grrr", "!!!!!"->"!!!".

    A letter run becomes two letters when that makes a known word, else three when that
    does, else one; punctuation and emoji runs keep three, because VADER reads "!!!" and
    repeated emoji as emphasis.
    """
    if not _RUN.search(token):
        return token
    token = _RUN.sub(lambda m: m.group(0) if m.group(1).isalpha() else m.group(1) * 3, token)
    if not _LETTER_RUN.search(token):  # "...", "!!!": nothing below would change them
        return token
    # Three letters too: VADER knows "grrr", "zzz" and "yeees", and none with two.
    for repeat in (r"\1\1", r"\1\1\1"):
        known = _LETTER_RUN.sub(repeat, token)
        if known.lower().strip(_PUNCT) in words:
            return known
    return _LETTER_RUN.sub(r"\1", token)


def pieces(text: str, expand: Callable[[str], str]) -> list[str]:
    """The parts of ``text`` VADER scores, each short, together at most MAX_SCORED_CHARS.

    Short texts stay whole, exactly as the paper scored them. A longer one is split into
    sentences, and consecutive sentences share a piece while it stays under PIECE_CHARS:
    a cut at a space inside a sentence can part "not" from "good" (a Reddit comment of
    400 characters read "...is not" and "good at all" as praise). Only a sentence longer
    than PIECE_CHARS is still cut at a space. Emoji are expanded per sentence, since one
    emoji becomes several words.
    """
    if len(text) <= PIECE_CHARS:
        # Emoji words can push a tweet past PIECE_CHARS, and a cut at a space there can
        # part "not" from "good". Only text made mostly of emoji grows past WHOLE_CHARS.
        whole = expand(text)
        if len(whole) <= WHOLE_CHARS:
            return [whole] if whole.strip() else []
    packer = _Packer()
    for sentence in _SENTENCE_END.split(text):
        for raw in _chunks(sentence, SPLIT_CHARS):
            if packer.add(expand(raw)):
                return packer.out
    return packer.finish()


class _Packer:
    """Sentences into pieces of at most PIECE_CHARS, until MAX_SCORED_CHARS are taken."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self._total = 0
        self._open = ""

    def add(self, sentence: str) -> bool:
        """Take a sentence; True once MAX_SCORED_CHARS are taken (``out`` is complete)."""
        if not sentence.strip():
            return False
        if self._open and len(self._open) + 1 + len(sentence) <= PIECE_CHARS:
            self._open = f"{self._open} {sentence}"
            return False
        if self._open.strip() and self._close(self._open):
            return True
        *full, self._open = _chunks(sentence, PIECE_CHARS)
        return any(self._close(piece) for piece in full if piece.strip())

    def finish(self) -> list[str]:
        if self._open.strip():
            self._close(self._open)
        return self.out

    def _close(self, piece: str) -> bool:
        self.out.append(piece)
        self._total += len(piece)
        return self._total >= MAX_SCORED_CHARS


def _chunks(text: str, size: int) -> Iterator[str]:
    """Cut ``text`` into pieces of at most ``size`` characters, at a space if one is near."""
    while len(text) > size:
        cut = text.rfind(" ", size // 2, size)
        cut = cut if cut > 0 else size
        yield text[:cut]
        text = text[cut:]
    yield text
