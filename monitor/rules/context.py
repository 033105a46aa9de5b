"""What a rule may look at: the Context the pipeline builds, and the per-mention Facts.

Facts flattens mention, score and context into plain attributes once per mention, so
each of a hundred rules reads a slot instead of walking objects (see bench/rules.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from monitor.domain import CaseState, Mention, Score

# Regexes never see more than this: a Reddit comment is at most 10,000 characters, and
# a bounded input keeps even a slow pattern's cost bounded.
MAX_MATCHED_CHARS = 10_000


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
    earlier_cases: int = 0  # the author's other cases, before this one
    escalated_before: bool = False  # any case of this author went to a human before
    last_bot_reply_in_thread_at: datetime | None = None


class Facts:
    """One mention's values, read by the compiled checks."""

    __slots__ = (
        "account_age_minutes",
        "bot_replies",
        "case_state",
        "compound",
        "context",
        "earlier_cases",
        "escalated_before",
        "followers",
        "handle",
        "kind",
        "label",
        "lang",
        "lowered",
        "memo",
        "mention",
        "minutes_since_bot_reply",
        "now",
        "platform",
        "score",
        "source",
        "text",
        "unscored_reason",
        "verified",
    )

    def __init__(self, mention: Mention, score: Score, context: Context) -> None:
        self.mention, self.score, self.context = mention, score, context
        self.platform = mention.platform.value
        self.kind = mention.kind.value
        self.source = context.source or ""
        self.text = mention.text[:MAX_MATCHED_CHARS]
        self.lowered = self.text.lower()
        self.label = score.label.value
        self.compound = score.compound
        self.unscored_reason = score.reason or ""
        self.lang = (score.lang or mention.lang or "").lower().split("-")[0]
        author = mention.author
        self.handle = author.handle.lower().lstrip("@")
        self.followers = author.followers
        self.verified = author.verified
        self.account_age_minutes = _minutes(author.account_created_at, context.now)
        self.earlier_cases = context.earlier_cases
        self.escalated_before = context.escalated_before
        self.case_state = context.case_state.value
        self.bot_replies = context.bot_replies_in_thread
        # No bot reply yet counts as infinitely long ago, so "> 60" passes.
        since_reply = _minutes(context.last_bot_reply_in_thread_at, context.now)
        self.minutes_since_bot_reply = math.inf if since_reply is None else since_reply
        self.now = context.now
        # Text checks shared by several rules are searched once per mention.
        self.memo: dict[str, str | None] = {}


def _minutes(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else (now - since).total_seconds() / 60
