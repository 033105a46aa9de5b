"""What went wrong talking to Reddit, in our own terms (no praw types past this point)."""

from __future__ import annotations

from enum import StrEnum


class FailureKind(StrEnum):
    AUTH = "auth"  # credentials, token or scope: retrying cannot help
    TEMPORARY = "temporary"  # 5xx, timeouts, connection errors: back off and retry
    RATE_LIMITED = "rate_limited"  # wait ``retry_after_seconds`` (if known)
    UNAVAILABLE = "unavailable"  # a banned, private or missing subreddit or thing
    REJECTED = "rejected"  # Reddit answered with API error codes (``codes``)


class RedditFailure(Exception):
    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        retry_after_seconds: float | None = None,
        codes: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after_seconds = retry_after_seconds
        self.codes = codes
