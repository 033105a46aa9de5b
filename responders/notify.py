"""Escalation and SLA notifications to the social team, through apprise.

Channels are named in the config (``channels: {care-slack: {url: ${SLACK_URL}}}``) and
referenced by teams and rules. A notification is an outbox action like a reply, so a
channel that is down is retried with backoff and never blocks the case.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

import apprise
from apprise.plugins.email import NotifyEmail

from monitor.clock import Clock, SystemClock
from monitor.domain import NOTIFY_CHARS, Action
from monitor.logs import redact_apprise_urls
from monitor.notifications import fit
from responders.base import ResponderError, SendResult

log = logging.getLogger("inchannel.notify")

# apprise gives no HTTP status; its plugins name the one they failed on in their warning
# ("Failed to send Discord notification: Not Found, error=404.").
_STATUS = re.compile(r"\berror=(\d{3})\b")
# A deleted webhook (404, 410) or a revoked token (401, 403) answers every retry the
# same: retried for notify_retry_hours, the escalations behind it reached nobody.
GONE = frozenset({401, 403, 404, 410})
# A channel that refuses this one message (400 malformed for it, 413 too long, 422 a
# field it does not take) refuses every retry of it too: it was re-sent about 36 times
# a day for all of notify_retry_hours. It is dead at once, and `inchannel status` and
# the Health page show which channel refused it and why; a 5xx is still retried.
REFUSED = frozenset({400, 413, 422})
TOO_MANY = 429
# The longest a plugin may sleep in our worker for a wait a server named (a Matrix
# server's "retry_after_ms"): a dispatcher thread sends every reply and alert in turn.
MAX_FORCED_WAIT = 1.0
# The longest wait a rate limit's reset is honoured for: a server naming a reset days
# away (a broken clock) would hold the notification unsent, and unreported as dead,
# past notify_retry_hours.
MAX_HONOURED_WAIT = 3600.0


def _without_forced_waits(throttle: Callable[..., Any], asked: list[float]) -> Callable[..., Any]:
    """A plugin's throttle that sleeps at most MAX_FORCED_WAIT for the wait a rate limit
    names: the Discord plugin slept until Discord's reset, plus 10 s for clock skew (an
    hour's reset held the worker an hour). A 429 then fails the send, and the dispatcher
    retries it after the wait, noted in ``asked``."""

    def throttle_briefly(last_io: Any = None, wait: float | None = None) -> None:
        if wait is not None:
            asked.append(wait)
        throttle(last_io=last_io, wait=None if wait is None else min(wait, MAX_FORCED_WAIT))

    return throttle_briefly


class Notifier:
    def __init__(
        self,
        channels: dict[str, str],
        clock: Clock | None = None,
        max_chars: dict[str, int] | None = None,
    ) -> None:
        self._urls = channels
        # Per channel (its `max_chars`); notifications.NOTIFY_CHARS for the others.
        self._max_chars = max_chars or {}
        self._clock = clock or SystemClock()
        redact_apprise_urls()
        # The statuses are read from apprise's warnings, which a logging.level of ERROR
        # would not create; the handlers still print nothing below their level.
        apprise_log = logging.getLogger("apprise")
        if apprise_log.getEffectiveLevel() > logging.WARNING:
            apprise_log.setLevel(logging.WARNING)

    def send(self, action: Action) -> SendResult:
        name = action.channel or ""
        url = self._urls.get(name)
        if url is None:
            raise ResponderError(f"unknown notification channel {name!r}", permanent=True)
        target = apprise.Apprise()
        if not target.add(url):
            # Never log the URL: webhook URLs carry their secret in the path.
            raise ResponderError(f"channel {name!r} has an invalid apprise URL", permanent=True)
        asked: list[float] = []  # the waits a rate limit named during this send
        for plugin in target:
            # This send's own plugin object: apprise has no setting for that wait.
            plugin.throttle = _without_forced_waits(plugin.throttle, asked)  # type: ignore[method-assign]
        # Cut here, per channel: the outbox keeps the whole text, and the channels of
        # one escalation share it.
        limit = self._max_chars.get(name, NOTIFY_CHARS)
        text = fit(action.text, limit)
        title, _, body = text.partition("\n")
        if not body:
            # A one-line alert is its own body. Sent as title and body too, each chat
            # app showed it twice (Discord and Mattermost glue the title on the body);
            # only e-mail needs the line again as its subject.
            body, title = title, title if _wants_subject(target) else ""
        # Plain text, declared: apprise then escapes it for channels that read HTML or
        # Markdown (Telegram, e-mail, Discord embeds). Undeclared, it was passed on as
        # is: a customer's "<b>" was markup there, and a lone "<3" made Telegram refuse
        # the whole alert.
        sent = target.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT)
        if not sent:
            raise _refusal(name, _failed_status(sent), self._retry_after(asked), limit)
        return SendResult(f"notified:{name}:{action.id}")

    def _retry_after(self, asked: list[float]) -> datetime | None:
        """When the rate limit a plugin waited for ends (Discord's reset): retried at
        the backoff's pace instead, each retry was one more 429 inside the limit."""
        if not asked:
            return None
        return self._clock.now() + timedelta(seconds=min(max(asked), MAX_HONOURED_WAIT))

    def find_own_reply(self, action: Action) -> str | None:
        # A chat message cannot be looked up; sending an alert twice after a crash is
        # the lesser harm than losing it.
        return None


def _wants_subject(target: apprise.Apprise) -> bool:
    return any(isinstance(plugin, NotifyEmail) for plugin in target)


def _failed_status(result: object) -> int | None:
    """The HTTP status the send failed on, from the warnings apprise returns with its
    result (2.3 does; an older apprise returns a bare bool); None when none was named
    (a connection error)."""
    logs = getattr(result, "logs", None)
    statuses = [int(m[1]) for e in (logs() if logs else ()) if (m := _STATUS.search(e.message))]
    return statuses[-1] if statuses else None


def _refusal(
    name: str, status: int | None, retry_after: datetime | None, limit: int = NOTIFY_CHARS
) -> ResponderError:
    """The error for a failed send. ``limit``: the channel's max_chars the text was cut
    to, named for a refusal that may be the length, so the operator knows what to set."""
    if status in GONE:
        phrase = HTTPStatus(status).phrase
        return ResponderError(
            f"channel {name!r} refused the notification (HTTP {status} {phrase}): its "
            "webhook or token is deleted or revoked; fix the channel's URL in the config, "
            "then retry it",
            permanent=True,
        )
    if status in REFUSED:
        phrase = HTTPStatus(status).phrase
        # Telegram also answers 400 for a chat id it does not know: not only the message
        # is named as the cause. Too long, the fix is the channel's max_chars (many
        # gateways answer that with a 400, not a 413): named with the limit it has now.
        lower = (
            f"even cut to its max_chars ({limit} characters): set a lower "
            f"channels.{name}.max_chars in the config (160 for an SMS gateway, say) "
            "and restart, then retry it"
        )
        cause = (
            "the message may be malformed for it, or the channel's URL name a chat or "
            "option it does not know"
        )
        if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
            cause = f"it is too long for the channel, {lower}"
        elif status == HTTPStatus.BAD_REQUEST:
            cause += f"; or it is too long, {lower}"
        return ResponderError(
            f"channel {name!r} refused this notification (HTTP {status} {phrase}) and "
            f"would refuse every retry of it, so it is not retried: {cause}",
            permanent=True,
        )
    if status == TOO_MANY:
        return ResponderError(
            f"channel {name!r} is rate limited (HTTP 429); the notification is tried again later",
            retry_after=retry_after,
            rate_limited=True,
        )
    return ResponderError(f"channel {name!r} did not accept the notification")
