"""An agent replying by hand may start from a knowledge-base entry: its text for the
case's platform, with the customer's name and the case filled in."""

from __future__ import annotations

from monitor.answers.model import KnowledgeBase
from monitor.domain import Platform
from monitor.rules.templates import customer_names, fill
from monitor.store.models import Case, Customer


class UnknownAnswer(LookupError):
    pass


def entry_text(
    kb: KnowledgeBase, entry_id: str, *, case: Case, customer: Customer, brand: str
) -> str:
    """The entry's text as the bot would post it in this case's thread."""
    entry = kb.get(entry_id)
    if entry is None:
        known = ", ".join(e.id for e in kb.entries[:10]) or "none"
        raise UnknownAnswer(f"unknown answer {entry_id!r} (entries: {known})")
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
