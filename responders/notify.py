"""Escalation and SLA notifications to the social team, through apprise.

Channels are named in the config (``channels: {care-slack: {url: ${SLACK_URL}}}``) and
referenced by teams and rules. A notification is an outbox action like a reply, so a
channel that is down is retried with backoff and never blocks the case.
"""

from __future__ import annotations

import logging

import apprise

from monitor.domain import Action
from monitor.logs import redact_apprise_urls
from responders.base import ResponderError, SendResult

log = logging.getLogger("inchannel.notify")


class Notifier:
    def __init__(self, channels: dict[str, str]) -> None:
        self._urls = channels
        redact_apprise_urls()

    def send(self, action: Action) -> SendResult:
        name = action.channel or ""
        url = self._urls.get(name)
        if url is None:
            raise ResponderError(f"unknown notification channel {name!r}", permanent=True)
        target = apprise.Apprise()
        if not target.add(url):
            # Never log the URL: webhook URLs carry their secret in the path.
            raise ResponderError(f"channel {name!r} has an invalid apprise URL", permanent=True)
        title, _, body = action.text.partition("\n")
        # Plain text, declared: apprise then escapes it for channels that read HTML or
        # Markdown (Telegram, e-mail, Discord embeds). Undeclared, it was passed on as
        # is: a customer's "<b>" was markup there, and a lone "<3" made Telegram refuse
        # the whole alert.
        text = apprise.NotifyFormat.TEXT
        if not target.notify(title=title, body=body or title, body_format=text):
            raise ResponderError(f"channel {name!r} did not accept the notification")
        return SendResult(f"notified:{name}:{action.id}")

    def find_own_reply(self, action: Action) -> str | None:
        # A chat message cannot be looked up; sending an alert twice after a crash is
        # the lesser harm than losing it.
        return None
