"""Per-listing cursors: the newest ``created_utc`` seen and the fullnames read lately.

Reddit listings come newest first. A ``before=<fullname>`` cursor silently returns
nothing forever once that item is deleted, so we page from the top instead. Items do not
always appear in created order: search indexes a post minutes after it was made, and a
post or comment approved out of the spam filter or mod queue shows up with its old
``created_utc`` among newer ones. So each poll reads on past the newest item of the last
poll, through an overlap window (``overlap_seconds``) below it, and stops at the first
item older than that. The fullnames read inside the window are kept (``seen``), so an
item is handed over once however often the window passes it; should one come back after
dropping out of ``seen``, the database's unique key drops it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.sources.base import SourceError
from monitor.sources.reddit_items import RedditItem

# Fullnames kept per listing: a poll reads at most max_items (<= 1000) of them.
SEEN_CAP = 1000


@dataclass(frozen=True, slots=True)
class ListingCursor:
    since: float = 0.0  # the newest created_utc read
    seen: Mapping[str, float] = field(default_factory=dict)  # fullname -> created_utc

    def advanced(self, items: Iterable[RedditItem], overlap: float) -> ListingCursor:
        """The cursor after ``items`` were read; ``seen`` keeps the overlap window only."""
        seen = {**self.seen, **{item.fullname: item.created_utc for item in items}}
        since = max(self.since, *seen.values()) if seen else self.since
        window = sorted(
            ((created, name) for name, created in seen.items() if created >= since - overlap),
            reverse=True,
        )
        return ListingCursor(since, {name: created for created, name in window[:SEEN_CAP]})


@dataclass(frozen=True, slots=True)
class NewItems:
    items: list[RedditItem]
    read: int  # items fetched, including the old one that ended the scan
    gap: bool  # the cursor not reached (max_items new items, or the listing ended)
    undated: int = 0  # items passed over: no creation time to place them by


def take_new(
    listing: Iterable[RedditItem], cursor: ListingCursor, max_items: int, overlap: float
) -> NewItems:
    """Items not read before from a newest-first listing, down to ``overlap`` seconds
    below the cursor; stops reading (and paging) at the first item older than that."""
    new: list[RedditItem] = []
    taken: set[str] = set()
    read, lowest, undated = 0, float("inf"), 0
    for item in listing:
        read += 1
        if not item.dated:
            # Read as created in 1970 it ended the scan, and the items below it were
            # missed at every poll: it says nothing of where the cursor is.
            undated += 1
            continue
        lowest = min(lowest, item.created_utc)
        if item.created_utc < cursor.since - overlap:
            return NewItems(new, read, gap=False, undated=undated)
        # Listings shift while we page: an item can come back on the next page.
        if item.fullname in cursor.seen or item.fullname in taken:
            continue
        new.append(item)
        taken.add(item.fullname)
        if len(new) >= max_items:
            # Only new items above the cursor mean more may wait unread below them.
            return NewItems(new, read, gap=0 < cursor.since < item.created_utc, undated=undated)
    # The listing ran out above the cursor: its ``after`` item was deleted between two
    # pages (Reddit then answers an empty page), or Reddit's ~1,000-item reach ended.
    return NewItems(new, read, gap=0 < cursor.since < lowest < float("inf"), undated=undated)


@dataclass(frozen=True, slots=True)
class Disabled:
    """A subreddit we stopped watching (banned, private, missing) until ``until``."""

    reason: str
    until: float  # epoch seconds; then it is tried once more


def failed_reads(n: int) -> str:
    """``n`` failed reads of a listing, as every message about a failing listing words
    them (its ``last_error``, the status problem, the alert): one phrasing to keep."""
    return f"{n} failed read{'s' if n != 1 else ''}"


@dataclass(frozen=True, slots=True)
class ListingFailure:
    """A listing whose reads keep failing while the source's other listings are read."""

    failures: int  # failed reads in a row
    since: float  # epoch seconds of the first of them
    error: str  # the last one's
    # Epoch seconds of the last of them; None in a cursor written before it was kept.
    # A read failing again after a gap longer than the source's stale threshold (the
    # daemon was down) starts a new run, as a source's failed polls do.
    last: float | None = None
    # Epoch seconds of the first run's start, kept when a gap starts a new run: the
    # listing's "source failing" alert is keyed by it and stays raised over downtime
    # until a poll reads the listing. None: ``since``.
    opened: float | None = None


@dataclass(frozen=True, slots=True)
class SourceCursor:
    """Everything one source keeps between polls, stored as JSON in source_state.cursor.

    ``to_mark`` holds inbox fullnames stored by the previous poll (and by earlier ones
    while marking them read failed): the cursor is committed in the same transaction as
    those messages, so seeing it again proves they are stored and they can be marked read.
    """

    listings: dict[str, ListingCursor] = field(default_factory=dict)
    to_mark: tuple[str, ...] = ()
    disabled: dict[str, Disabled] = field(default_factory=dict)
    known: tuple[str, ...] = ()  # recently stored or fetched fullnames (thread context)
    # Read first next time: the listings a poll cut short by its time bound did not
    # read; after a failed listing, every other, so the failing one is read last.
    resume: tuple[str, ...] = ()
    # By listing key: the listings failing while others were read. Kept here, where it is
    # committed with the listings read: the source's own counts are reset by such a poll.
    failing: dict[str, ListingFailure] = field(default_factory=dict)

    def listing(self, key: str) -> ListingCursor:
        return self.listings.get(key, ListingCursor())

    def encode(self) -> str:
        data: dict[str, Any] = {
            "listings": {
                k: {"since": c.since, "seen": dict(c.seen)} for k, c in self.listings.items()
            },
            "to_mark": list(self.to_mark),
            "disabled": {k: [d.reason, d.until] for k, d in self.disabled.items()},
            "known": list(self.known),
        }
        if self.resume:
            data["resume"] = list(self.resume)
        if self.failing:
            data["failing"] = {
                k: [f.failures, f.since, f.error, f.last, f.opened] for k, f in self.failing.items()
            }
        return json.dumps(data, sort_keys=True)


def decode_cursor(raw: str | None) -> SourceCursor:
    if raw is None:
        return SourceCursor()
    try:
        data = json.loads(raw)
        listings = {str(k): _listing(v) for k, v in data["listings"].items()}
        to_mark = tuple(str(f) for f in data["to_mark"])
        disabled = {str(k): Disabled(str(v[0]), float(v[1])) for k, v in data["disabled"].items()}
        known = tuple(str(f) for f in data.get("known", []))
        resume = tuple(str(k) for k in data.get("resume", []))
        failing = {
            str(k): ListingFailure(int(v[0]), float(v[1]), str(v[2]), _at(v, 3), _at(v, 4))
            for k, v in data.get("failing", {}).items()
        }
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise SourceError(
            f"reddit cursor is not valid JSON state: {raw[:60]!r}", permanent=True
        ) from None
    return SourceCursor(listings, to_mark, disabled, known, resume, failing)


def _listing(data: Any) -> ListingCursor:
    since = float(data["since"])
    seen = data["seen"]
    if isinstance(seen, list):
        # Written before the overlap window: the fullnames at the ``since`` second.
        return ListingCursor(since, {str(name): since for name in seen})
    return ListingCursor(since, {str(k): float(v) for k, v in seen.items()})


def _at(entry: Any, i: int) -> float | None:
    """A failing listing's optional time ``i``; None in a cursor written before it was kept."""
    return float(entry[i]) if len(entry) > i and entry[i] is not None else None
