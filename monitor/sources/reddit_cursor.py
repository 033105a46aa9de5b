"""Per-listing cursors: the newest ``created_utc`` seen and the fullnames at that second.

Reddit listings come newest first. A ``before=<fullname>`` cursor silently returns
nothing forever once that item is deleted, so we page from the top instead and stop at
the first item not newer than the cursor; the fullnames at the boundary second keep
two items posted in the same second from being lost or read twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from monitor.sources.base import SourceError
from monitor.sources.reddit_items import RedditItem


@dataclass(frozen=True, slots=True)
class ListingCursor:
    since: float = 0.0
    seen: frozenset[str] = frozenset()

    def is_new(self, item: RedditItem) -> bool:
        if item.created_utc != self.since:
            return item.created_utc > self.since
        return item.fullname not in self.seen

    def advanced(self, items: Iterable[RedditItem]) -> ListingCursor:
        since, seen = self.since, set(self.seen)
        for item in items:
            if item.created_utc > since:
                since, seen = item.created_utc, {item.fullname}
            elif item.created_utc == since:
                seen.add(item.fullname)
        return ListingCursor(since, frozenset(seen))


@dataclass(frozen=True, slots=True)
class NewItems:
    items: list[RedditItem]
    read: int  # items fetched, including the old one that ended the scan
    gap: bool  # max_items new items and the cursor not reached: older ones were missed


def take_new(listing: Iterable[RedditItem], cursor: ListingCursor, max_items: int) -> NewItems:
    """New items from a newest-first listing; stops reading (and paging) at the cursor."""
    new: list[RedditItem] = []
    taken: set[str] = set()
    read = 0
    for item in listing:
        read += 1
        if item.fullname in taken:
            # Listings shift while we page: an item can come back on the next page.
            continue
        if not cursor.is_new(item):
            # The same second can hold several items; only an older one ends the scan.
            if item.created_utc < cursor.since:
                return NewItems(new, read, gap=False)
            continue
        new.append(item)
        taken.add(item.fullname)
        if len(new) >= max_items:
            return NewItems(new, read, gap=cursor.since > 0)
    return NewItems(new, read, gap=False)


@dataclass(frozen=True, slots=True)
class Disabled:
    """A subreddit we stopped watching (banned, private, missing) until ``until``."""

    reason: str
    until: float  # epoch seconds; then it is tried once more


@dataclass(frozen=True, slots=True)
class SourceCursor:
    """Everything one source keeps between polls, stored as JSON in source_state.cursor.

    ``to_mark`` holds inbox fullnames stored by the previous poll: the cursor is
    committed in the same transaction as those messages, so seeing it again proves they
    are stored and they can be marked read.
    """

    listings: dict[str, ListingCursor] = field(default_factory=dict)
    to_mark: tuple[str, ...] = ()
    disabled: dict[str, Disabled] = field(default_factory=dict)
    known: tuple[str, ...] = ()  # recently stored or fetched fullnames (thread context)

    def listing(self, key: str) -> ListingCursor:
        return self.listings.get(key, ListingCursor())

    def encode(self) -> str:
        data: dict[str, Any] = {
            "listings": {
                k: {"since": c.since, "seen": sorted(c.seen)} for k, c in self.listings.items()
            },
            "to_mark": list(self.to_mark),
            "disabled": {k: [d.reason, d.until] for k, d in self.disabled.items()},
            "known": list(self.known),
        }
        return json.dumps(data, sort_keys=True)


def decode_cursor(raw: str | None) -> SourceCursor:
    if raw is None:
        return SourceCursor()
    try:
        data = json.loads(raw)
        listings = {
            str(k): ListingCursor(float(v["since"]), frozenset(str(s) for s in v["seen"]))
            for k, v in data["listings"].items()
        }
        to_mark = tuple(str(f) for f in data["to_mark"])
        disabled = {str(k): Disabled(str(v[0]), float(v[1])) for k, v in data["disabled"].items()}
        known = tuple(str(f) for f in data.get("known", []))
    except (ValueError, TypeError, KeyError, AttributeError):
        raise SourceError(
            f"reddit cursor is not valid JSON state: {raw[:60]!r}", permanent=True
        ) from None
    return SourceCursor(listings, to_mark, disabled, known)
