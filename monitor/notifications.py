"""Queue notifications for the social team as outbox actions."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.orm import Session

from monitor.domain import NOTIFY_CHARS, REASON_CHARS, ActionKind, ActionStatus
from monitor.settings import Settings
from monitor.store.models import ActionRow, Case, Customer, Message
from monitor.store.pending import add_row

EXCERPT_CHARS = 500
# A headline's text after "[priority] C-ref ": "escalated: " and the longest reason a
# rule may give (REASON_CHARS), with room for a system one quoting a platform's error
# (dispatch: about 60 characters and an excerpt of 200).
HEADLINE_CHARS = REASON_CHARS + 100
# The last line of a case's notification: kept by every cut (fit).
_LINK_LINE = re.compile(r"https?://\S+")
# A line cut shorter than this says nothing any more: it is dropped instead.
_USEFUL_CHARS = 20
# What a terminal or a chat client acts on instead of showing: C0 controls but newline
# and tab, DEL, C1 (ESC and U+009B start escape sequences that clear the screen or
# retitle the window) and the bidi controls that reorder the text after them.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# "@" before a name. Chat apps turn "@everyone", "@here", "@channel" or "@all" in a
# message into a ping of the whole channel (Discord, Mattermost, Rocket.Chat, Teams),
# and apprise's Discord embeds ping every "@name" they find: a customer writing
# "@everyone" would wake the social team up. Discord also pings a role for "<@&ID>"
# and a member for "<@!ID>". A zero-width space after the "@" keeps the text as it
# reads and matches no mention syntax.
_MENTION = re.compile(r"@(?=[\w&!])")
INERT_AT = "@\u200b"
# "](" of a Markdown link. Discord and Mattermost render a message as Markdown:
# "[my order](https://evil.example)" showed as a link hiding its address, and
# "![](url)" loaded the customer's image when the alert was read. A zero-width space
# between "]" and "(" keeps the text and makes no link.
_LINK = re.compile(r"\](?=\()")
INERT_LINK = "]\u200b"
# "<!" of Slack's announcement syntax. Mattermost's incoming webhooks take Slack's
# payloads and turn "<!channel>", "<!here>" and "<!all>" into pings of the whole channel;
# apprise's Mattermost plugin passes the text on as it is. A zero-width space after the
# "<" keeps the text and matches none of them.
_ANNOUNCE = re.compile(r"<(?=!)")
INERT_ANNOUNCE = "<\u200b"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Text we do not write (a mention, a platform's error) as it may appear in a chat
    message: one bounded, inert paragraph."""
    # Controls out first: removed after the "@" was made inert, "@\u202aeveryone"
    # became "@everyone" and pinged the whole channel. Line breaks before that, as
    # spaces: some are controls too ("\r", "\x85"), and removed they glued two words.
    # So are Markdown links, which "]\x01(" would have become.
    flat = CONTROLS.sub("", " ".join(text.split()))
    return inert_line(inert_markup(flat), limit)


def inert_markup(text: str) -> str:
    """``text`` with no "@name" or "<!channel>" a chat app would turn into a ping and no
    Markdown link or image. ``text`` must hold no control characters (see excerpt)."""
    return _LINK.sub(INERT_LINK, pings_nobody(text))


def pings_nobody(text: str) -> str:
    """``text`` with no "@name" or "<!channel>" a chat app would turn into a ping."""
    return _ANNOUNCE.sub(INERT_ANNOUNCE, _MENTION.sub(INERT_AT, text))


def inert_line(text: str, limit: int) -> str:
    """``text`` on one line of at most ``limit`` characters, without the control and
    bidi characters that would drive a terminal or reorder a chat message."""
    flat = CONTROLS.sub("", " ".join(text.split()))
    # Half an emoji (an unpaired surrogate, as a platform's error may quote one) becomes
    # "?": no database driver encodes it, and the notification, with the whole
    # transaction that queued it (a dead reply's hand-over), was refused.
    flat = flat.encode("utf-8", "replace").decode("utf-8")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def headline(text: str) -> str:
    """A notification's first line (its title, an e-mail's subject): one line, bounded
    and inert as an excerpt is. A reason on two lines slid its second into the body; and
    a rule's reason or a system one quoting a platform's error pinged the whole channel
    with "@everyone" or "<!channel>", or showed "[text](url)" as a link hiding its
    address."""
    return excerpt(text, HEADLINE_CHARS)


def fit(text: str, limit: int = NOTIFY_CHARS) -> str:
    """``text`` (a title line, body lines) in at most ``limit`` characters, for a
    channel that refuses or splits a longer message (an SMS or pager gateway). Cut from
    the end, the case's link went first; so the body lines are cut from the last (a
    case's customer excerpt) up, a line too short to say anything is dropped, then the
    title; a last line that is a link stays whole."""
    if len(text) <= limit:
        return text
    title, *body = text.split("\n")
    link = body.pop() if body and _LINK_LINE.fullmatch(body[-1]) else None
    tail = [] if link is None else [link]

    def size(lines: list[str]) -> int:
        return len("\n".join([title, *lines, *tail]))

    for index in reversed(range(len(body))):
        excess = size(body) - limit
        if excess <= 0:
            break
        keep = len(body[index]) - excess - 1  # and the "…"
        if keep >= _USEFUL_CHARS:
            body[index] = body[index][:keep].rstrip() + "…"
        else:
            del body[index]
    room = limit - size(body) + len(title)
    if room < len(title):
        title = title[: room - 1].rstrip() + "…" if room > 1 else ""
    fitted = "\n".join([title, *body, *tail]) if title else "\n".join([*body, *tail])
    # Only a link longer than the limit itself is left too long: cut as a last resort.
    return fitted if len(fitted) <= limit else fitted[: limit - 1] + "…"


def case_summary(
    settings: Settings,
    case: Case,
    customer: Customer | None,
    message: Message | None,
    title: str,
) -> str:
    link = f"{settings.web.public_url.rstrip('/')}/cases/{case.ref}"
    lines = [
        f"[{case.priority}] {case.ref} {headline(title)}",
        f"{case.platform} · {customer.handle if customer else '?'} · team {case.team or '-'}",
    ]
    if message is not None:
        sentiment = message.label or "unscored"
        # An unscored message's stored 0.0 is no reading (as on the case page).
        scored = message.compound is not None and sentiment != "unscored"
        lines.append(f"sentiment {sentiment} ({f'{message.compound:+.4f}' if scored else '-'})")
        lines.append(excerpt(message.text))
    lines.append(link)
    return "\n".join(lines)


def channels_for(settings: Settings, team: str | None, extra: tuple[str, ...] = ()) -> list[str]:
    config = settings.team(team) if team else None
    names = list(config.channels if config else []) + [c for c in extra if c in settings.channels]
    return list(dict.fromkeys(names))


def notify_key(key: str, channel: str) -> str:
    """The idempotency key of ``key``'s notification to ``channel``."""
    return f"notify:{key}:{channel}"


def enqueue(
    session: Session,
    *,
    case: Case | None,
    text: str,
    key: str,
    actor: str,
    now: datetime,
    channels: list[str],
) -> None:
    """One NOTIFY action per channel (``case`` None: an operations alert).

    The idempotency key is unique, so queueing the same alert twice is a no-op. The
    rows are written with the session's next statement (store.pending).
    """
    for row in [
        {
            "case_id": case.id if case else None,
            "kind": ActionKind.NOTIFY.value,
            "platform": case.platform if case else "",
            "target_external_id": channel,
            "conversation_id": case.conversation_id if case else "",
            "channel": channel,
            "text": text,
            "actor": actor,
            "status": ActionStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "idempotency_key": notify_key(key, channel),
            "created_at": now,
            "updated_at": now,
        }
        for channel in channels
    ]:
        add_row(session, ActionRow, row, ignore_duplicates=True)
