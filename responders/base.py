"""The Responder protocol and the one error type responders raise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from monitor.domain import Action


@dataclass(frozen=True, slots=True)
class SendResult:
    external_id: str  # id of the post the platform created


class ResponderError(Exception):
    """A send failed.

    ``permanent``: retrying cannot help (post deleted, replies restricted, auth revoked);
    the case goes to a human. Otherwise the dispatcher retries with backoff, not before
    ``retry_after`` when the platform said when (a rate-limit reset).

    ``rate_limited``: the platform (or our own budget) refused to take any post for now,
    a 429 or Reddit's RATELIMIT: nothing was posted and nothing is wrong with the reply.
    With a ``retry_after`` the dispatcher does not count the attempt toward
    ``dispatch.max_attempts``: a spent quota would otherwise hand sound replies to a person.

    ``refused``: the platform surely posted nothing (a rate limit, a usage cap, a 4xx
    refusal, a check before any request); by default a rate limit or a permanent error.
    Otherwise (a timeout, a 5xx after the request went out) the reply may be in the
    thread, and the next attempt looks for it first (DESIGN rule 2).
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: datetime | None = None,
        rate_limited: bool = False,
        refused: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        self.refused = rate_limited or permanent if refused is None else refused


class RateLimitWait:
    """A platform's last rate limit on a post, until it ends. The limit is the account's
    (X's posting window or usage cap, Reddit's RATELIMIT), and the rest of a dispatch
    batch was posted into it regardless, one refused request per reply."""

    def __init__(self) -> None:
        self._refused: ResponderError | None = None

    def note(self, error: ResponderError) -> None:
        if error.retry_after is not None:
            self._refused = error

    def check(self, now: datetime) -> None:
        """Refuse as the platform did while its last rate limit lasts."""
        refused = self._refused
        if refused is None or refused.retry_after is None or refused.retry_after <= now:
            return
        raise ResponderError(
            str(refused),
            retry_after=refused.retry_after,
            rate_limited=refused.rate_limited,
            refused=True,  # no request was made
        )


class Responder(Protocol):
    def send(self, action: Action) -> SendResult:
        """Post ``action.text`` in reply to ``action.target_external_id``."""
        ...

    def find_own_reply(self, action: Action) -> str | None:
        """Id of a post we already made for this action, if one exists.

        Called before re-sending an action whose outcome is unknown (the process died
        between "sending" and "sent"), so a crash never makes us post twice.
        """
        ...
