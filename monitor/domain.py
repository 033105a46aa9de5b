"""Domain objects shared by every layer.

They are frozen and slotted: a Mention read from a platform is a fact, and passing it
through scoring, rules and the outbox must never change it behind the caller's back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

# Mention text is hostile input (DESIGN rule 8). Anything longer is cut before it is
# stored or scored; the longest legitimate Reddit comment is 10,000 characters.
MAX_TEXT_CHARS = 40_000

# Language codes that name no language, so the text itself must tell. X sends "und"
# (undetermined), "zxx" (no text), "qme" (media only), "qht" (hashtags only), "qam"
# (mentions only), "qct" (cashtags only), "qst" (very short text) and "art" (emoji only);
# "mul" is ISO 639's "several languages". The scorer and the answerer share this set: a
# code one of them read as a language sent short English tweets to the wrong team.
NO_LANGUAGE = frozenset({"", "und", "zxx", "qme", "qht", "qam", "qct", "qst", "art", "mul"})

# A case tag, whoever adds it (a rule or a person): the dashboard splits what people type
# on spaces and commas and lower-cases it, so a tag outside this could not be removed.
TAG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TAG_RULE = "up to 32 of a-z 0-9 _ -, starting with a letter or digit"
# The tag "Mark as spam" puts on the case it closes; a rule may add it only to ignore.
SPAM_TAG = "spam"
# A response SLA of at most 30 days (of business minutes). Unbounded, a typo such as
# 600000 passed check-config and every escalation then failed to set its deadline:
# the business calendar looks two years ahead at most.
MAX_SLA_MINUTES = 30 * 24 * 60
# The longest wait, interval or window any config value sets (a year). Unbounded, a
# typo such as 1e12 or an .inf meant as "never" passed check-config and then overflowed
# the date arithmetic: check-config itself crashed, or every poll or send failed.
MAX_WAIT_SECONDS = 365 * 24 * 3600
MAX_WAIT_MINUTES = MAX_WAIT_SECONDS // 60
MAX_WAIT_HOURS = MAX_WAIT_SECONDS // 3600
# Source, team and channel names are stored in 64-character columns (the source of a
# message, a case's team, a notification's channel): a longer one passed check-config
# and PostgreSQL refused every poll or escalation that wrote it.
NAME_CHARS = 64
# An escalation's reason is the headline of its notification (title line, e-mail
# subject, the push or SMS preview): a rule's unbounded `reason:` made every alert it
# sent that long, and a pager or SMS channel refused or split it.
REASON_CHARS = 200
# The most a notification (title and body together) is sent with, and the range of a
# channel's `max_chars`: the cut takes the customer's words first and keeps the headline
# and the case link (monitor.notifications.fit). 60 still holds a headline and a link.
NOTIFY_CHARS = 1000
MIN_NOTIFY_CHARS = 60


class Platform(StrEnum):
    X = "x"
    REDDIT = "reddit"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    # Fetched only to show a thread (a parent comment, the submission); never acted on.
    CONTEXT = "context"


class MessageKind(StrEnum):
    """How a message reached us; rules match on it."""

    MENTION = "mention"  # names the brand account directly
    REPLY = "reply"  # a reply inside a thread the brand is already part of
    KEYWORD = "keyword"  # found by a search or keyword watch
    OWN = "own"  # written by one of the brand's accounts


class Label(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    UNSCORED = "unscored"


class CaseState(StrEnum):
    NEW = "new"
    AUTO_REPLIED = "auto_replied"
    AWAITING_HUMAN = "awaiting_human"
    AWAITING_APPROVAL = "awaiting_approval"
    REPLIED = "replied"
    WAITING_CUSTOMER = "waiting_customer"
    RESOLVED = "resolved"


class ActionKind(StrEnum):
    REPLY = "reply"  # a public post in the customer's thread
    NOTIFY = "notify"  # an escalation message to the social team's channels


class ActionStatus(StrEnum):
    DRAFT = "draft"  # a proposed reply waiting for a human's approval; never claimed
    REJECTED = "rejected"  # a draft a human turned down
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"  # temporary failure, will be retried at next_attempt_at
    DEAD = "dead"  # permanent failure or retries exhausted; a human takes over
    # What the bot would have done for a mention imported by `inchannel backfill`; never
    # claimed (dispatch only claims pending, failed and stale sending actions).
    SUPPRESSED = "suppressed"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def primary_subtag(code: str) -> str:
    """``pt-BR``, ``pt_br`` and ``PT`` are all ``pt``: languages are compared on this."""
    return code.strip().lower().replace("_", "-").split("-")[0]


def declared_language(lang: str | None) -> str | None:
    """The platform's language code, reduced to its primary subtag; None if it names none."""
    if lang is None:
        return None
    primary = primary_subtag(lang)
    return None if primary in NO_LANGUAGE else primary


def ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts "²" and other digits that ``int`` refuses
    (a ValueError, and a 500 for ``?page=²``)."""
    return text.isascii() and text.isdigit()


def bound_text(text: str) -> str:
    """Cut text to MAX_TEXT_CHARS; replace lone surrogates and drop NUL characters, which
    PostgreSQL text columns reject."""
    return storable(text[:MAX_TEXT_CHARS])


def storable(text: str) -> str:
    """``text`` without NUL characters (PostgreSQL refuses them) and with lone surrogates
    replaced (neither driver encodes them)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


# customers.followers is a 32-bit integer: a count past it failed its page's insert.
MAX_FOLLOWERS = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    handle: str
    display_name: str = ""
    followers: int | None = None
    verified: bool = False
    # When the account was created, where the platform says (X does; Reddit's replay
    # feeds may not). Rules on account age never match an unknown age.
    account_created_at: datetime | None = None

    def __post_init__(self) -> None:
        # A name is whatever its author typed: one a column refused failed the insert of
        # its whole page, at every poll, and no mention on it was stored.
        object.__setattr__(self, "display_name", storable(self.display_name))


def handle_unknown(platform: Platform, author_id: str, handle: str) -> bool:
    """Whether ``handle`` is an X user id standing in for a handle X did not send: it
    leaves suspended, withheld and protected authors (and some under load) out of
    includes.users, or sends a username no handle can be."""
    return platform is Platform.X and handle == author_id


def x_refuses_unmentioned(kind: str, reply_allowed: bool) -> bool:
    """Whether X's API refuses a reply to this post: a search hit stored as taking no
    reply, a keyword hit, one naming only a brand account that does not post the
    replies, or one answering that account's post (kind reply: left out, a person's
    reply to it was queued and refused by X at the send)."""
    refused = (MessageKind.KEYWORD.value, MessageKind.MENTION.value, MessageKind.REPLY.value)
    return kind in refused and not reply_allowed


def unmentioned_reason(own_handles: frozenset[str], kind: str) -> str:
    """Why a reply to a search hit on X goes to a person; X's own app can still answer.
    A hit that names a brand account is told apart: "do not mention @acme" beside a post
    saying "@acme" would read as a fault of ours."""
    if kind == MessageKind.MENTION.value:
        return (
            "X refuses replies to posts that do not mention the account the replies come "
            "from, whichever other brand account they name; answer from X's app"
        )
    if kind == MessageKind.REPLY.value:
        return (
            "X refuses replies to posts that neither mention the account the replies come "
            "from nor answer its posts, whichever other brand account they answer; answer "
            "from X's app"
        )
    named = " or ".join(f"@{h}" for h in sorted(own_handles)) or "the brand's X account"
    return f"X refuses replies to posts that do not mention {named}; answer from X's app"


@dataclass(frozen=True, slots=True)
class Mention:
    platform: Platform
    external_id: str
    author: Author
    text: str
    created_at: datetime
    conversation_id: str
    in_reply_to: str | None = None
    url: str | None = None
    lang: str | None = None
    reply_allowed: bool = True
    kind: MessageKind = MessageKind.MENTION

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", utc(self.created_at))
        object.__setattr__(self, "text", bound_text(self.text))


def written_order(mention: Mention) -> tuple[datetime, int, str]:
    """Sort key: the order the mentions were written in.

    Processing decides messages in id order, and ids follow the order of the insert.
    X (and Reddit) answer newest first: stored as served, a customer's later post was
    decided before the one it follows up. Ties (X times are to the second) go by id,
    compared as numbers (X's ids are decimal, Reddit's base 36: a longer id is newer).
    Here, not in ingest, so ``rules test`` orders its sample as ingest stores a poll.
    """
    return mention.created_at, len(mention.external_id), mention.external_id


@dataclass(frozen=True, slots=True)
class Score:
    compound: float
    pos: float
    neu: float
    neg: float
    label: Label
    lang: str | None = None
    reason: str | None = None  # why a text is unscored, e.g. "language:de"
    alert: bool = False  # compound at or below scoring.negative_alert


@dataclass(frozen=True, slots=True)
class PlannedReply:
    rule: str
    text: str
    draft: bool = False  # True: a human approves it before it is posted
    answer: str | None = None  # the knowledge-base entry the text comes from
    confidence: float | None = None  # how sure the match with that entry is, 0..1


@dataclass(frozen=True, slots=True)
class Escalation:
    rule: str
    team: str
    priority: Priority = Priority.NORMAL
    reason: str = ""
    channels: tuple[str, ...] = ()
    sla_minutes: int | None = None  # minutes to the first human response


@dataclass(frozen=True, slots=True)
class Decision:
    """What the rules decided for one inbound message."""

    matched: tuple[str, ...] = ()
    reply: PlannedReply | None = None
    escalation: Escalation | None = None
    tags: tuple[str, ...] = ()
    ignored: bool = False
    notes: tuple[str, ...] = field(default=())  # guard explanations, for the audit trail
    assignee: str | None = None
    priority: Priority | None = None  # set_priority: the case priority, over the escalation's


@dataclass(frozen=True, slots=True)
class Action:
    """An outbox row as the responders see it."""

    id: int
    kind: ActionKind
    platform: Platform | None  # None: an operations alert to the team's channels
    case_ref: str
    target_external_id: str
    conversation_id: str
    text: str
    idempotency_key: str
    attempts: int = 0
    channel: str | None = None  # the notification channel of a NOTIFY action
    # The text is the brand's markdown (a rule's template or an answer, values already
    # escaped) rather than a person's plain words; only Reddit renders it.
    markdown: bool = False
    # An earlier attempt failed. Kept apart from ``attempts``, which a retry a person
    # asks for (a dead action) starts again from zero: that attempt may have posted too.
    failed_before: bool = False
    # What the outbox knows: False when every earlier attempt was refused for sure (a
    # rate limit posts nothing), True when one may have posted; None when it does not
    # say (a row older than migration 0008): then any earlier attempt may have.
    may_have_posted: bool | None = None

    @property
    def retry(self) -> bool:
        """Whether an earlier attempt may have posted: look before posting again."""
        return earlier_may_have_posted(
            self.may_have_posted, attempts=self.attempts, failed_before=self.failed_before
        )


def earlier_may_have_posted(flag: bool | None, *, attempts: int, failed_before: bool) -> bool:
    """Whether an earlier attempt of an outbox action may have posted: what the outbox
    recorded (``may_have_posted``), or for a row older than migration 0008 (None), any
    earlier attempt or failure."""
    if flag is not None:
        return flag
    return attempts > 1 or failed_before
