"""Reply on Reddit in the customer's thread: ``comment.reply()`` / ``submission.reply()``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

from monitor.clock import Clock, SystemClock
from monitor.domain import Action
from monitor.sources.reddit import RedditConnection
from monitor.sources.reddit_failure import FailureKind, RedditFailure
from monitor.sources.reddit_settings import RedditSettings
from responders.base import ResponderError, SendResult

if TYPE_CHECKING:
    from monitor.settings import Brand

# Reddit API error codes that no retry can fix, with the reason a human reads.
PERMANENT_CODES = {
    "DELETED_COMMENT": "the comment was deleted",
    "DELETED_LINK": "the post was deleted",
    "THREAD_LOCKED": "the thread is locked",
    "TOO_OLD": "the thread is archived (too old to reply)",
    "BANNED_FROM_SUBREDDIT": "the brand account is banned from this subreddit",
    "SUBREDDIT_NOTALLOWED": "the brand account may not post in this subreddit",
    "USER_BLOCKED": "the author blocked the brand account",
}
# Longest comment Reddit accepts.
MAX_BODY = 10_000

# Characters that start markdown formatting anywhere in a line, and at a line start.
_INLINE = re.compile(r"([\\`*_~^\[\]()<>|#!{}])")
_LINE_START = re.compile(r"^(\s*)([-+=])", re.MULTILINE)
# Four leading spaces make a code block.
_INDENT = re.compile(r"^[ \t]+", re.MULTILINE)
_ORDERED_ITEM = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# u/name and r/name (with or without a leading /) become links, and u/ pings the user.
_PING = re.compile(r"(?<!\w)(/?[ur])/", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """Make ``text`` render literally on Reddit: no links, pings, headings or emphasis."""
    escaped = _INLINE.sub(r"\\\1", _INDENT.sub("", text).replace("&", "&amp;"))
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    escaped = _ORDERED_ITEM.sub(r"\1\\.", escaped)
    return _PING.sub(r"\1\\/", escaped)


class RedditResponder:
    def __init__(
        self,
        connection: RedditConnection,
        own_handles: frozenset[str],
        clock: Clock | None = None,
    ) -> None:
        self.connection = connection
        self.own_handles = own_handles
        self.clock = clock or SystemClock()

    def send(self, action: Action) -> SendResult:
        body = render(action.text)
        try:
            return SendResult(self.connection.reply(action.target_external_id, body))
        except RedditFailure as failure:
            raise self._error(failure) from None

    def find_own_reply(self, action: Action) -> str | None:
        """Our reply under the target with exactly this text, if the last send got through."""
        body = render(action.text)
        try:
            replies = self.connection.replies_to(action.target_external_id)
        except RedditFailure as failure:
            raise self._error(failure) from None
        for reply in replies:
            author = (reply.author or "").lower()
            if author in self.own_handles and reply.body.strip() == body.strip():
                return reply.fullname
        return None

    def _error(self, failure: RedditFailure) -> ResponderError:
        if failure.kind == FailureKind.RATE_LIMITED:
            wait = failure.retry_after_seconds
            retry_after = None if wait is None else self.clock.now() + timedelta(seconds=wait)
            return ResponderError(f"Reddit rate limit: {failure}", retry_after=retry_after)
        if failure.kind == FailureKind.TEMPORARY:
            return ResponderError(f"Reddit {failure}")
        if failure.kind == FailureKind.REJECTED:
            reasons = [PERMANENT_CODES.get(code, code) for code in failure.codes] or [str(failure)]
            return ResponderError(f"Reddit refused the reply: {'; '.join(reasons)}", permanent=True)
        if failure.kind == FailureKind.UNAVAILABLE:
            message = f"Reddit refused the reply ({failure}): banned, private or gone"
            return ResponderError(message, permanent=True)
        return ResponderError(f"Reddit refused our credentials: {failure}", permanent=True)


def render(text: str) -> str:
    return escape_markdown(text)[:MAX_BODY]


def build_reddit_responder(reddit: RedditSettings, brand: Brand) -> RedditResponder:
    return RedditResponder(RedditConnection(reddit), brand.own_handles("reddit"))
