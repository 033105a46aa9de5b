"""The requests side of the X client: host redirect, timeout, rate-limit headers.

tweepy hard-codes ``https://api.twitter.com`` and sets no timeout. Instead of patching
tweepy we mount an adapter on the public ``client.session`` (see notes/clients.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter

OFFICIAL_HOST = "https://api.twitter.com"
# X's longest window is a day (the 24-hour posting limits), and an hour for clocks apart.
LONGEST_WAIT = timedelta(hours=25)


class RedirectAdapter(HTTPAdapter):
    """Rewrites the official host to ``base_url`` and always applies a timeout."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        if request.url and request.url.startswith(OFFICIAL_HOST):
            request.url = self.base_url + request.url[len(OFFICIAL_HOST) :]
        # Session.request resolved HTTP(S)_PROXY against the *original* host; applied to
        # the rewritten URL it would send local test traffic through a proxy.
        kwargs["proxies"] = {}
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def mount_redirect(session: requests.Session, base_url: str, timeout: float) -> None:
    adapter = RedirectAdapter(base_url, timeout)
    session.mount(OFFICIAL_HOST + "/", adapter)
    session.trust_env = False
    # X's API never redirects: one comes from a wrong api_base_url or a proxy, and
    # following it sent our credentials elsewhere, or turned a POST into a GET. With no
    # redirect allowed, requests raises TooManyRedirects holding the 3xx answer.
    session.max_redirects = 0


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int | None
    remaining: int | None
    reset_at: datetime | None

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def reset_by(self, now: datetime) -> datetime | None:
        """``reset_at``, unless it lies further ahead than any X window reaches: then
        unknown. A garbled header years ahead parked a source, or held every reply,
        until then, where an unknown reset backs off and asks again."""
        if self.reset_at is None or self.reset_at > now + LONGEST_WAIT:
            return None
        return self.reset_at

    def as_details(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset_at": self.reset_at.isoformat() if self.reset_at else None,
        }


# The 24-hour limits X sends beside the 15-minute window on POST /2/tweets.
DAY_LIMITS = ("x-user-limit-24hour", "x-app-limit-24hour")


def rate_limit_from(headers: Mapping[str, str] | None) -> RateLimit:
    """Read ``x-rate-limit-*``; missing or garbled values become None.

    A spent 24-hour limit binds instead: its 429 still carries the 15-minute window's
    reset, and waiting for that only met the same refusal every 15 minutes."""
    headers = headers or {}
    window = RateLimit(
        limit=_int(headers.get("x-rate-limit-limit")),
        remaining=_int(headers.get("x-rate-limit-remaining")),
        reset_at=_epoch(_int(headers.get("x-rate-limit-reset"))),
    )
    for prefix in DAY_LIMITS:
        day = RateLimit(
            limit=_int(headers.get(f"{prefix}-limit")),
            remaining=_int(headers.get(f"{prefix}-remaining")),
            reset_at=_epoch(_int(headers.get(f"{prefix}-reset"))),
        )
        if day.exhausted and _binds(day.reset_at, window):
            window = day
    return window


def _binds(day_reset: datetime | None, window: RateLimit) -> bool:
    """Whether a spent 24-hour limit ending at ``day_reset`` holds longer than the window."""
    if day_reset is None:
        return False
    return not window.exhausted or window.reset_at is None or day_reset > window.reset_at


def _epoch(seconds: int | None) -> datetime | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):  # a garbled header, not a real time
        return None


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
