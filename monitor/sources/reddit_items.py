"""Reddit things as plain frozen values, and how they become Mentions.

monitor/sources/reddit.py copies what we need out of praw's lazy objects into a
RedditItem, so nothing past it can trigger a hidden network fetch by reading an
attribute that a listing did not carry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from unicodedata import normalize

from monitor.domain import Author, Mention, MessageKind, Platform

# Reddit shows these in place of the text of a deleted or moderator-removed item.
GONE_TEXTS = frozenset({"[deleted]", "[removed]"})
# What Reddit's admins put in place of a comment removed for its content policy (the
# author is kept): "[ Removed by Reddit ]", or a sentence "[ Removed by Reddit on account
# of violating the [content policy](/help/contentpolicy). ]".
_REMOVED_BY_REDDIT = re.compile(r"\[ Removed by Reddit\b.*\]", re.DOTALL)
_LINE_END_SPACE = re.compile(r"[ \t]+\n")
_LINK_IN_CONTEXT = re.compile(r"/comments/([a-z0-9]+)/", re.IGNORECASE)


class Skip(StrEnum):
    """Why an item was read but not stored; counted per poll in PollResult.problems."""

    OWN = "own"
    DELETED = "deleted"
    NO_MATCH = "no keyword match"
    UNDATED = "without a creation time"


@dataclass(frozen=True, slots=True)
class RedditItem:
    fullname: str  # t1_… (comment) or t3_… (submission)
    author: str | None  # None: the account was deleted
    created_utc: float  # 0: Reddit sent none we could read (see ``dated``)
    body: str = ""  # comment text or submission selftext
    title: str = ""  # submissions only
    link_id: str | None = None  # the submission a comment belongs to
    parent_id: str | None = None
    subreddit: str = ""
    permalink: str = ""
    link_title: str = ""
    locked: bool = False
    archived: bool = False
    unread: bool = False  # inbox items only: Reddit's ``new`` flag

    @property
    def dated(self) -> bool:
        return self.created_utc > 0

    @property
    def is_comment(self) -> bool:
        return self.fullname.startswith("t1_")

    @property
    def text(self) -> str:
        if self.is_comment:
            return self.body
        # A post kept for its title: Reddit's placeholder is not its author's words.
        if not self.body or _gone(self.body):
            return self.title
        return f"{self.title}\n\n{self.body}".strip()

    @property
    def conversation_id(self) -> str:
        """A thread is one conversation: the submission's fullname."""
        if not self.is_comment:
            return self.fullname
        if self.link_id:
            return self.link_id
        # Inbox items carry no link_id; their context permalink names the submission.
        found = _LINK_IN_CONTEXT.search(self.permalink)
        return f"t3_{found.group(1).lower()}" if found else (self.parent_id or self.fullname)


def skip_reason(item: RedditItem, own_handles: frozenset[str]) -> Skip | None:
    if item.author is None or item.author.lower() in {"[deleted]", "[removed]"}:
        return Skip.DELETED
    if _gone(item.body) and (item.is_comment or not item.title):
        return Skip.DELETED
    if item.author.lower() in own_handles:
        return Skip.OWN
    return None


def _gone(body: str) -> bool:
    text = body.strip()
    return text in GONE_TEXTS or _REMOVED_BY_REDDIT.fullmatch(text) is not None


def to_mention(item: RedditItem, kind: MessageKind, web_url: str) -> Mention:
    assert item.author is not None
    permalink = item.permalink.split("?", 1)[0]
    return Mention(
        platform=Platform.REDDIT,
        external_id=item.fullname,
        author=Author(id=item.author.lower(), handle=item.author),
        text=item.text,
        created_at=datetime.fromtimestamp(item.created_utc, UTC),
        conversation_id=item.conversation_id,
        in_reply_to=item.parent_id if item.is_comment else None,
        url=web_url.rstrip("/") + permalink if permalink.startswith("/") else None,
        reply_allowed=not (item.locked or item.archived),
        kind=kind,
    )


def same_text(theirs: str, ours: str) -> bool:
    """Reddit's copy of a comment (unescaped as it is read) against what we sent. NFC on
    both sides: a form Reddit may normalise to does not make our reply a stranger; nor
    do the spaces that end our lines (markdown line breaks), should Reddit drop them."""
    return _compared(theirs) == _compared(ours)


def _compared(text: str) -> str:
    return _LINE_END_SPACE.sub("\n", normalize("NFC", text.strip()))
