"""What went wrong talking to Reddit, in our own terms (no praw types past this point)."""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum


class FailureKind(StrEnum):
    AUTH = "auth"  # credentials, token or scope: retrying cannot help
    TEMPORARY = "temporary"  # 5xx, 408, timeouts, connection errors: back off and retry
    RATE_LIMITED = "rate_limited"  # wait as long as ``wait_seconds()`` says (if known)
    UNAVAILABLE = "unavailable"  # a banned, private, missing or legally blocked subreddit or thing
    REJECTED = "rejected"  # Reddit answered with API error codes (``codes``)
    REFUSED = "refused"  # 400, 409, 413, other 4xx: the same request gets the same answer


# Reddit will not serve this subreddit (or thing) as asked, and asking again gets the
# same answer: a subreddit source stops reading that one subreddit for a while.
NOT_SERVED = frozenset({FailureKind.UNAVAILABLE, FailureKind.REFUSED, FailureKind.REJECTED})
# The longest wait taken from Reddit. A longer one is a broken header, not a plan: it
# would park a source for years (status shows that as stopped) or a reply with it.
MAX_WAIT_SECONDS = 24 * 60 * 60.0


class RedditFailure(Exception):
    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        retry_at: datetime | None = None,
        codes: tuple[str, ...] = (),
        explanations: tuple[str, ...] = (),
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_seconds = retry_after_seconds
        self.retry_at = retry_at  # a Retry-After given as a date (timezone-aware)
        self.codes = codes
        # Reddit's own sentence for each of ``codes``, in the same order.
        self.explanations = explanations
        self.status = status  # the HTTP status, where Reddit answered with one

    def wait_seconds(self, now: datetime) -> float | None:
        """How long to wait from ``now``, within 0 s to a day; None if Reddit did not say
        (or said nothing readable). A date already past means no wait."""
        if self.retry_at is not None:
            wait = (self.retry_at - now).total_seconds()
        elif self.retry_after_seconds is not None and math.isfinite(self.retry_after_seconds):
            wait = self.retry_after_seconds
        else:
            return None
        return min(max(wait, 0.0), MAX_WAIT_SECONDS)
