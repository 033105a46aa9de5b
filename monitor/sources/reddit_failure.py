"""What went wrong talking to Reddit, in our own terms (no praw types past this point)."""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    AUTH = "auth"  # credentials, token or scope: retrying cannot help
    TEMPORARY = "temporary"  # 5xx, 408, timeouts, connection errors: back off and retry
    RATE_LIMITED = "rate_limited"  # wait ``retry_after_seconds`` (if known)
    UNAVAILABLE = "unavailable"  # a banned, private, missing or legally blocked subreddit or thing
    REJECTED = "rejected"  # Reddit answered with API error codes (``codes``)
    REFUSED = "refused"  # 400, 409, 413, other 4xx: the same request gets the same answer


# Reddit will not serve this subreddit (or thing) as asked, and asking again gets the
# same answer: a subreddit source stops reading that one subreddit for a while.
NOT_SERVED = frozenset({FailureKind.UNAVAILABLE, FailureKind.REFUSED, FailureKind.REJECTED})


class RedditFailure(Exception):
    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        codes: tuple[str, ...] = (),
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_seconds = retry_after_seconds
        self.codes = codes
        self.status = status  # the HTTP status, where Reddit answered with one
