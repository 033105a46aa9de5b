"""The case page's "since your page was shown" checks, for ``inchannel cases``.

`cases show` prints how many replies and customer messages it showed; `cases reply`,
`approve`, `resolve` and `spam` take them back as ``--replies`` and ``--messages`` and
refuse (exit 1) when the case has moved on since, as the dashboard's hidden fields do.
The checks are the dashboard's own (monitor.web.since_shown); only the words differ, as a
terminal has no page to reload. Left out, nothing is checked: scripts written before
the options act as they did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from monitor import casework
from monitor.runtime import Runtime
from monitor.store.models import case_ref
from monitor.web import shown_counts
from monitor.web import since_shown as web_since_shown  # not this module's own name

F = TypeVar("F", bound=Callable[..., Any])


def replies_option(func: F) -> F:
    return click.option(
        "--replies",
        type=click.IntRange(min=0),
        default=None,
        help=(
            "The --replies `cases show` printed: refused (exit 1) when a reply was queued "
            "since (a colleague or the bot answered), or when it is more than the case "
            "has. Left out: not checked."
        ),
    )(func)


def messages_option(func: F) -> F:
    return click.option(
        "--messages",
        type=click.IntRange(min=0),
        default=None,
        help=(
            "How many of the customer's messages `cases show` showed: refused (exit 1) "
            "when they wrote again since, or when it is more than the case has. Left out: "
            "not checked."
        ),
    )(func)


def counts(rt: Runtime, ref: str) -> tuple[int, int, int]:
    """The case's replies (queued, sent, failed or dead), the case page's ``replies``
    marker (shown_counts.replies_queued: withdrawn replies and drafts keep their place in
    it) and the customer's messages."""
    with rt.sessions() as session:
        case = casework.find_case(session, ref)
        return (
            shown_counts.answer_count(session, case.id),
            shown_counts.replies_marker(session, case.id),
            shown_counts.customer_message_count(session, case.id),
        )


def counts_line(answers: int, replies: int, messages: int) -> str:
    """What `cases show` prints, to be passed back to the commands that act. ``--replies``
    is the marker, not the replies shown: a withdrawn reply or a draft counts in it."""
    return (
        f"Shown: {_plural(answers, 'reply', 'replies')}, "
        f"{_plural(messages, 'customer message', 'customer messages')} "
        f"(to act only if nothing changed since: --replies {replies} --messages {messages})"
    )


def check_replies(
    rt: Runtime, ref: str, shown: int | None, text: str, user: str, answer: str | None
) -> None:
    """For `cases reply`: refused when someone answered after the ``shown`` replies."""
    if shown is None:
        return
    web_since_shown.unanswered_since_shown(
        rt,
        ref,
        shown,
        text,
        user,
        answer=answer,
        seen=_seen_replies(shown),
        again=_again(ref, "reply"),
    )


def check_messages(rt: Runtime, ref: str, shown: int | None, refused: str, verb: str) -> None:
    """For `cases reply`, `approve` and `resolve`: refused when the customer wrote after
    the ``shown`` messages. ``refused`` says what was not done ("the draft was not
    approved"); ``verb`` is the command to run again."""
    if shown is None:
        return
    web_since_shown.unread_since_shown(
        rt,
        ref,
        shown,
        f"{refused} ({_again(ref, verb)})",
        seen=_seen(shown, "message", "messages", "--messages"),
    )


def check_spam(rt: Runtime, ref: str, shown: int | None) -> None:
    """For `cases spam`: refused when a reply queued after the ``shown`` ones would be
    withdrawn before it is posted."""
    if shown is None:
        return
    web_since_shown.unwithdrawn_since_shown(
        rt,
        ref,
        shown,
        seen=_seen_replies(shown),
        again=_again(ref, "mark it as spam"),
    )


def _seen_replies(shown: int) -> str:
    # --replies is a place among the case's replies, withdrawn ones included, not how
    # many `cases show` listed as replies: no number of replies is named.
    return f"after what you saw (--replies {shown})"


def _seen(shown: int, one: str, many: str, option: str) -> str:
    return f"after the {_plural(shown, one, many)} you saw ({option} {shown})"


def _again(ref: str, verb: str) -> str:
    # The same counts refuse again: the person reads the case and passes the new ones.
    canonical = case_ref(casework.parse_ref(ref))
    return f"read it with `inchannel cases show {canonical}`, then {verb} again with its counts"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
