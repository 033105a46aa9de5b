"""What a rule may look at: the Context the pipeline builds, and the per-mention Facts.

Facts flattens mention, score and context into plain attributes once per mention, so
each of a hundred rules reads a slot instead of walking objects (see bench/rules.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from monitor.domain import CaseState, Label, Mention, Score, primary_subtag
from monitor.rules.textmatch import as_read, one_space, words_of

# Regexes never see more than this: a Reddit comment is at most 10,000 characters, and
# a bounded input keeps even a slow pattern's cost bounded. Words and the other plain
# text checks are linear, so they read the whole (already bounded) mention: a safety
# rule must not miss "lawyer" in a long self-post.
MAX_MATCHED_CHARS = 10_000

# The only characters that re.IGNORECASE equates with an ASCII letter but str.lower()
# does not map to it (found by checking every code point). Folding them first keeps
# the lower-cased fast paths exactly equal to the case-insensitive regexes.
_AS_REGEX_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s"})


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a rule may look at besides the mention and its score."""

    now: datetime
    case_ref: str
    own_post: bool = False
    bot_replies_in_thread: int = 0
    last_bot_reply_to_author_at: datetime | None = None
    source: str | None = None
    case_state: CaseState = CaseState.NEW
    earlier_cases: int = 0  # the author's other cases so far (not only older ones)
    escalated_before: bool = False  # any case of this author went to a human before
    last_bot_reply_in_thread_at: datetime | None = None


class Facts:
    """One mention's values, read by the compiled checks.

    What nearly every rule reads is computed once up front; the rest are properties,
    computed only for the few rules that ask.
    """

    __slots__ = (
        "compound",
        "context",
        "kind",
        "label",
        "lowered",
        "memo",
        "mention",
        "now",
        "platform",
        "regex_text",
        "score",
        "tags",
        "text",
        "words",
    )

    def __init__(self, mention: Mention, score: Score, context: Context) -> None:
        self.mention, self.score, self.context = mention, score, context
        self.platform = mention.platform.value
        self.kind = mention.kind.value
        self.text = as_read(mention.text)
        self.regex_text = self.text[:MAX_MATCHED_CHARS]
        text = self.text if self.text.isascii() else self.text.translate(_AS_REGEX_FOLDS)
        # For the literal prefilters, each whitespace run as one space (one_space).
        self.lowered = one_space(text.lower())
        self.words = words_of(self.lowered)
        self.label = score.label.value
        # An unscored mention's 0.0 is no reading: as 0.0 it passed "compound: > -0.5"
        # for a calm one. NaN passes no comparison, so only "~compound" matches it.
        self.compound = math.nan if score.label is Label.UNSCORED else score.compound
        self.now = context.now
        # Text checks shared by several rules are searched once per mention.
        self.memo: dict[str, str | None] = {}
        # The tags of the rules that matched so far: the engine replaces the set as
        # rules match, so a ``tagged:`` check sees only the rules that ran before it.
        self.tags: frozenset[str] = frozenset()

    @property
    def source(self) -> str:
        return self.context.source or ""

    @property
    def unscored_reason(self) -> str:
        return self.score.reason or ""

    @property
    def lang(self) -> str:
        return primary_subtag(self.score.lang or self.mention.lang or "")

    @property
    def handle(self) -> str:
        return self.mention.author.handle.lower().lstrip("@")

    @property
    def followers(self) -> int | None:
        return self.mention.author.followers

    @property
    def verified(self) -> bool:
        return self.mention.author.verified

    @property
    def account_age_minutes(self) -> float | None:
        return _minutes(self.mention.author.account_created_at, self.now)

    @property
    def earlier_cases(self) -> int:
        return self.context.earlier_cases

    @property
    def escalated_before(self) -> bool:
        return self.context.escalated_before

    @property
    def case_state(self) -> str:
        return self.context.case_state.value

    @property
    def bot_replies(self) -> int:
        return self.context.bot_replies_in_thread

    @property
    def minutes_since_bot_reply(self) -> float:
        # No bot reply yet counts as infinitely long ago, so "> 60" passes.
        since = _minutes(self.context.last_bot_reply_in_thread_at, self.now)
        return math.inf if since is None else since


def _minutes(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else (now - since).total_seconds() / 60
