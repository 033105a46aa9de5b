"""An agent replying by hand may start from a knowledge-base entry: its text for the
case's platform, with the customer's name and the case filled in."""

from __future__ import annotations

from datetime import datetime

from monitor.answers.model import Entry, KnowledgeBase
from monitor.domain import Platform
from monitor.rules.templates import customer_names, fill
from monitor.store.models import Case, Customer


class UnknownAnswer(LookupError):
    pass


def entry_text(
    kb: KnowledgeBase,
    entry_id: str,
    *,
    case: Case,
    customer: Customer,
    brand: str,
    now: datetime,
) -> str:
    """The entry's text as the bot would post it in this case's thread. An entry the bot
    would not use at ``now`` (out of its ``valid:`` dates, or superseded) is refused."""
    entry = kb.get(entry_id)
    if entry is None:
        # The entries that may be picked today: one out of its dates is refused too.
        known = ", ".join(e.id for e in kb.in_force(now)[:10]) or "none"
        raise UnknownAnswer(f"unknown answer {entry_id!r} (entries in use: {known})")
    unused = _not_in_use(kb, entry, now)
    if unused:
        raise UnknownAnswer(unused)
    platform = Platform(case.platform)
    names = customer_names(
        platform, customer.platform_user_id, customer.handle, customer.display_name
    )
    values = {
        **names,
        "case": case.ref,
        "brand": brand,
    }
    return fill(entry.texts[platform], values, platform=platform)


def _not_in_use(kb: KnowledgeBase, entry: Entry, now: datetime) -> str:
    """Why ``entry`` is not in use at ``now``, or "" when it is."""
    where = f"answer {entry.id!r} is not in use on {now.date().isoformat()}"
    if not entry.valid_at(now):
        return f"{where}: it is valid {_span(entry)}"
    other = kb.replacing(entry, now)
    if other is not None:
        return f"{where}: it is replaced by {other.id!r}, valid {_span(other)}"
    return ""


def _span(entry: Entry) -> str:
    start, end = entry.valid_from, entry.valid_until
    if start and end:
        return f"from {start.isoformat()} to {end.isoformat()}"
    return f"from {start.isoformat()}" if start else f"until {end.isoformat() if end else ''}"
