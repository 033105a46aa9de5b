"""Whose posts are the brand's own: one predicate for ingest and ``rules test``.

Ingest stores such a post as `own` (never a customer's, never acted on); the dry run
tells the brand's answers in a sample file by it. Each kept its own test, and the dry
run, knowing only the listed handles, took a post of the configured X account whose
handle ``brand.accounts`` leaves out for a customer's, opening a case for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.domain import Mention, Platform

if TYPE_CHECKING:
    from monitor.settings import Settings


@dataclass(frozen=True, slots=True)
class BrandAccounts:
    handles: Mapping[Platform, frozenset[str]] = field(default_factory=dict)  # bare, lower
    x_user_id: str | None = None
    reddit_logins: frozenset[str] = frozenset()  # lower case

    def wrote(self, mention: Mention) -> bool:
        """Written by one of the brand's accounts: a listed handle, or the account we are.

        The configured X user id (and Reddit login) count even when ``brand.accounts``
        leaves them out: the sources keep the brand's posts as thread context by that
        id, and taken for a customer's post they would open a case against the brand."""
        handle = mention.author.handle.lower().lstrip("@")
        if handle in self.handles.get(mention.platform, frozenset()):
            return True
        if mention.platform is Platform.X:
            return self.x_user_id is not None and mention.author.id == self.x_user_id
        return mention.author.id.lower() in self.reddit_logins


def brand_accounts(settings: Settings) -> BrandAccounts:
    """The brand's accounts as the config names them."""
    reddit = settings.reddit
    return BrandAccounts(
        handles={p: settings.brand.own_handles(p.value) for p in Platform},
        x_user_id=settings.x.user_id if settings.x is not None else None,
        reddit_logins=reddit.login_names() if reddit is not None else frozenset(),
    )
