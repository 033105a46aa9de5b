"""Thread context rows: posts fetched only so a case can show its thread.

A parent comment or the submission a source fetched for display is stored with
direction ``context``: processed, attached to no case, never scored or answered. Should
the same post later arrive as a real mention, it is promoted to an inbound message,
because the unique key would otherwise drop the mention as a duplicate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.domain import Direction, Mention, MessageKind, Platform
from monitor.store.models import Message
from monitor.store.queries import insert_ignoring_duplicates

# Columns an arriving mention overwrites on a promoted context row.
PROMOTED = (
    "direction",
    "kind",
    "source",
    "customer_id",
    "processed",
    "ingested_at",
    "text",
    # A customer renamed since their post was stored as context: the old handle's link
    # is dead, and the bot's {author} named an account that no longer exists.
    "author_handle",
    "url",
    # X stores every context post as not to be answered; as a mention it may be.
    "reply_allowed",
)


def store_context(
    session: Session,
    posts: Sequence[Mention],
    source: str,
    now: datetime,
    own_handles: Callable[[Platform], frozenset[str]],
) -> int:
    rows = [_row(post, source, now, own_handles(post.platform)) for post in posts]
    return insert_ignoring_duplicates(session, Message, rows)


def promote_context(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Turn context rows into the inbound messages ``rows`` describe; return their ids."""
    wanted = {(row["platform"], row["external_id"]): row for row in rows}
    if not wanted:
        return []
    query = select(Message).where(
        Message.direction == Direction.CONTEXT.value,
        Message.external_id.in_([external_id for _, external_id in wanted]),
    )
    promoted = []
    for message in session.scalars(query):
        row = wanted.get((message.platform, message.external_id))
        if row is not None:
            # Kept apart from ingested_at, which says since when the mention waits to be
            # decided (status, the processing alert): since this moment the post was on
            # the case page, and a person who resolved the case after it had seen it.
            message.context_at = message.ingested_at
            for column in PROMOTED:
                setattr(message, column, row[column])
            promoted.append(message.id)
    return promoted


def _row(post: Mention, source: str, now: datetime, own: frozenset[str]) -> dict[str, Any]:
    kind = MessageKind.OWN if post.author.handle.lower() in own else post.kind
    return {
        "platform": post.platform.value,
        "external_id": post.external_id,
        "direction": Direction.CONTEXT.value,
        "kind": kind.value,
        "source": source,
        "customer_id": None,
        "author_handle": post.author.handle,
        "text": post.text,
        "url": post.url,
        "conversation_id": post.conversation_id,
        "in_reply_to": post.in_reply_to,
        "lang": post.lang,
        "reply_allowed": post.reply_allowed,
        "created_at": post.created_at,
        "ingested_at": now,
        "processed": True,
    }
