"""Listings failing inside a source that is read: one Reddit listing of several.

A Reddit poll that fails in one listing for a passing reason (a 5xx, a timeout) after
reading the others is a successful poll of the source (monitor.sources.reddit_base):
the source's own failure count, back-off and "source failing" were for a source whose
mentions go unread. The failing listing is kept in the source's details
(``failing_listings``: label -> failures, since, error, opened), and status and the "source
failing" alert name it once it has failed for ``alerts.source_failing_minutes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.ingest import aware_time
from monitor.sources.reddit_cursor import failed_reads

FAILING_LISTINGS = "failing_listings"


@dataclass(frozen=True, slots=True)
class FailingListing:
    label: str  # "inbox mentions", "r/acme/comments", "search in r/acme"
    failures: int  # failed reads in a row
    since: datetime
    error: str
    # When the listing's alert was raised for: the start of its first run, kept when
    # downtime started a new one (the alert stays raised until the listing is read).
    opened: datetime

    def text(self, source: str, now: datetime, error: str) -> str:
        """The problem and the alert, in the same words; ``error`` bounded by the caller."""
        minutes = max(0, int((now - self.since).total_seconds() // 60))
        return (
            f"source {source}: listing {self.label} failing for {minutes} min, "
            f"{failed_reads(self.failures)} "
            f"(the source's other listings are read): {error}"
        )


def failing_listings(details: Mapping[str, Any]) -> list[FailingListing]:
    """The failing listings stored in a source's details, the longest failing first;
    an entry that does not read as one ingest writes (a hand edit) is left out."""
    raw = details.get(FAILING_LISTINGS)
    if not isinstance(raw, dict):
        return []
    found = []
    for label, entry in raw.items():
        if not isinstance(entry, dict):
            continue
        since = aware_time(entry.get("since"))
        failures = entry.get("failures")
        if since is None or not isinstance(failures, int) or failures < 1:
            continue
        opened = aware_time(entry.get("opened")) or since
        error = str(entry.get("error", ""))
        found.append(FailingListing(str(label), failures, since, error, min(opened, since)))
    return sorted(found, key=lambda f: (f.since, f.label))


def listing_failing(
    details: Mapping[str, Any], after: timedelta | None, now: datetime
) -> FailingListing | None:
    """The longest failing listing, once it has failed for ``after`` (None: the check
    is off). The caller checks that the source is being polled."""
    if after is None:
        return None
    listings = failing_listings(details)
    if not listings or now - listings[0].since < after:
        return None
    return listings[0]
