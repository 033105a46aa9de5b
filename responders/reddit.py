"""Reply on Reddit in the customer's thread: ``comment.reply()`` / ``submission.reply()``."""

from __future__ import annotations

import logging
from datetime import timedelta
from itertools import zip_longest
from typing import TYPE_CHECKING

from monitor.clock import Clock, SystemClock
from monitor.domain import Action
from monitor.sources.reddit import RedditConnection
from monitor.sources.reddit_failure import FailureKind, RedditFailure
from monitor.sources.reddit_items import same_text
from monitor.sources.reddit_settings import RedditSettings
from monitor.textlength import REDDIT_LIMIT, reddit_body
from monitor.textlength import escape_markdown as escape_markdown  # re-exported
from responders.base import RateLimitWait, ResponderError, SendResult

if TYPE_CHECKING:
    from monitor.settings import Brand

log = logging.getLogger("inchannel.reddit")

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
# Longest comment Reddit accepts, counted on the escaped body.
MAX_BODY = REDDIT_LIMIT


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
        self._rate_limit = RateLimitWait()

    def send(self, action: Action) -> SendResult:
        body = render(action)
        if len(body) > MAX_BODY:
            # Escaping can make a text under the limit too long; a cut reply would end
            # mid-sentence in public, so a person shortens it instead.
            raise ResponderError(
                f"the reply is {len(body)} characters as Reddit markdown; "
                f"Reddit allows {MAX_BODY}: shorten it",
                permanent=True,
            )
        self._rate_limit.check(self.clock.now())
        try:
            return SendResult(self.connection.reply(action.target_external_id, body))
        except RedditFailure as failure:
            error = self._error(failure)
            if error.rate_limited:
                self._rate_limit.note(error)
            raise error from None

    def find_own_reply(self, action: Action) -> str | None:
        """Our reply under the target with exactly this text, if the last send got through.

        Looked for among the account's newest comments first, whatever the target's depth
        in its thread; then in the thread, for a reply older than those or one Reddit does
        not list in the account's history yet."""
        body = render(action)
        found = self._in_history(action.target_external_id, body)
        if found is not None:
            return found
        try:
            replies = self.connection.replies_to(action.target_external_id)
        except RedditFailure as failure:
            raise _look_failed(self._error(failure)) from None
        same = [reply for reply in replies if same_text(reply.body, body)]
        for reply in same:
            if (reply.author or "").lower() in self.own_handles:
                return reply.fullname
        if not same:
            return None
        # Our text by an account the config does not list: it is ours if we logged in as
        # it (a refresh token names no account). Asked only then: one request, remembered.
        try:
            login = self.connection.login_name()
        except RedditFailure as failure:
            raise _look_failed(self._error(failure)) from None
        mine = [reply for reply in same if login and (reply.author or "").lower() == login]
        return mine[0].fullname if mine else None

    def _in_history(self, target: str, body: str) -> str | None:
        """Our reply to ``target`` among the account's newest comments, if there. Any
        failure to read them leaves it to the thread read: a token without the
        ``history`` scope failed every retry's lookup for good, though the thread read
        finds most replies; a failure that also stops the thread read is raised there."""
        try:
            mine = self.connection.own_replies_to(target)
        except RedditFailure as failure:
            log.warning("reddit: the account's comments could not be read: %s", failure)
            return None
        return next((reply.fullname for reply in mine if same_text(reply.body, body)), None)

    def _error(self, failure: RedditFailure) -> ResponderError:
        if failure.kind == FailureKind.RATE_LIMITED:
            now = self.clock.now()
            wait = failure.wait_seconds(now)
            retry_after = None if wait is None else now + timedelta(seconds=wait)
            # A 429 or RATELIMIT: Reddit took nothing (a reply's POST included).
            message = f"Reddit rate limit: {failure}"
            return ResponderError(message, retry_after=retry_after, rate_limited=True)
        if failure.kind == FailureKind.TEMPORARY:
            return ResponderError(f"Reddit {failure}")
        if failure.kind == FailureKind.REJECTED:
            reasons = "; ".join(_reasons(failure)) or str(failure)
            return ResponderError(f"Reddit refused the reply: {reasons}", permanent=True)
        if failure.kind == FailureKind.UNAVAILABLE:
            why = "blocked where the daemon runs" if failure.status == 451 else None
            message = f"Reddit refused the reply ({failure}): {why or 'banned, private or gone'}"
            return ResponderError(message, permanent=True)
        if failure.kind == FailureKind.REFUSED:
            message = f"Reddit refused the reply ({failure}): a retry gets the same answer"
            return ResponderError(message, permanent=True)
        return ResponderError(f"Reddit refused our credentials: {failure}", permanent=True)


def _look_failed(error: ResponderError) -> ResponderError:
    """The look that failed is made only when an earlier attempt may have posted: a
    reply in a quarantined subreddit, which Reddit creates without returning it, is
    looked for in a thread Reddit then refuses to show (403). The case goes to a person,
    who must know first that the bot's reply may be there, or answers under it."""
    if not error.permanent:
        return error  # retried, and the retry looks again
    note = "the bot's reply may already be in the thread, check before answering"
    return ResponderError(f"{note} ({error})", permanent=True)


def _reasons(failure: RedditFailure) -> list[str]:
    """A listed code in our words; any other with Reddit's own explanation, which is all
    the team has to go on for a code we have not met."""
    paired = zip_longest(failure.codes, failure.explanations[: len(failure.codes)], fillvalue="")
    return [
        PERMANENT_CODES.get(code) or (f"{code}: {theirs}" if theirs else code)
        for code, theirs in paired
    ]


def render(action: Action) -> str:
    """The body posted for ``action``; never cut: ``send`` refuses one over MAX_BODY.

    A rule's template or an answer is the brand's markdown (its values were escaped when
    filled) and goes as written; a person's reply is escaped to show as typed."""
    return action.text.strip() if action.markdown else reddit_body(action.text)


def build_reddit_responder(reddit: RedditSettings, brand: Brand) -> RedditResponder:
    own = brand.own_handles("reddit") | reddit.login_names()
    return RedditResponder(RedditConnection(reddit), own)
