"""The runs of failures of one Reddit listing among a source's several.

A poll that fails in one listing for a passing reason (a 5xx, a timeout) after reading
others whole is a successful poll of the source (reddit_base); the failing listing's run
is kept in the source's cursor (``SourceCursor.failing``) and named in its details, for
status and the "source failing" alert (monitor.status_listings).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.sources.reddit_cursor import ListingFailure, SourceCursor, failed_reads
from monitor.sources.reddit_failure import FailureKind

if TYPE_CHECKING:
    from monitor.sources.reddit_base import PollBatch


def failing_details(state: SourceCursor) -> dict[str, dict[str, Any]]:
    """The failing listings as status details: label -> failures, since, error, opened."""
    return {
        listing_label(key): {
            "failures": f.failures,
            "since": datetime.fromtimestamp(f.since, UTC).isoformat(),
            "error": f.error,
            "opened": datetime.fromtimestamp(f.opened or f.since, UTC).isoformat(),
        }
        for key, f in state.failing.items()
    }


def in_part(batch: PollBatch) -> bool:
    """Whether the poll failed in one listing for a passing reason (a 5xx, a timeout)
    after reading others whole. A rate limit or a refusal of the credentials holds for
    every listing, so it still fails the poll (back-off, or the source stopped)."""
    failure = batch.failure
    return failure is not None and failure.kind == FailureKind.TEMPORARY and bool(batch.read_ok)


def failing_after_poll(
    state: SourceCursor, batch: PollBatch, now: datetime, stale_after: timedelta | None
) -> dict[str, ListingFailure]:
    """The listings still failing after this poll: a listing read whole ends its run, a
    listing the poll did not reach (its time bound) keeps it, and one no longer read
    (the config changed, or its subreddit disabled) is dropped: kept, a subreddit that
    went private read as "failing" for the day it is not watched, in status and the
    alert, besides its own "not watched until" problem. A failure after a gap longer
    than ``stale_after`` since the listing's last failed read starts a new run: carried
    over a day's downtime, the first poll after it said "failing for 1440 min" and
    alerted at once."""
    failing = {
        key: f
        for key, f in state.failing.items()
        if key in batch.keys and key not in batch.read_ok and key not in batch.passed
    }
    failure = batch.failure
    # Also when nothing else was read (the failing listing came first): the same run.
    if batch.failed is not None and failure is not None and failure.kind == FailureKind.TEMPORARY:
        before = failing.get(batch.failed)
        opened = None if before is None else before.opened or before.since
        if before is not None and _after_gap(before, now, stale_after):
            before = None
        failures = before.failures + 1 if before is not None else 1
        since = before.since if before is not None else now.timestamp()
        at = now.timestamp()
        failing[batch.failed] = ListingFailure(failures, since, str(failure), at, opened)
    return failing


def _after_gap(run: ListingFailure, now: datetime, stale_after: timedelta | None) -> bool:
    """Whether ``run``'s last failed read is further back than ``stale_after``."""
    if run.last is None or stale_after is None:
        return False  # not known: the run goes on, as before the last read was kept
    return now.timestamp() - run.last > stale_after.total_seconds()


def listing_label(key: str) -> str:
    """A listing's cursor key as the reader knows the listing: ``inbox mentions``,
    ``r/acme/comments``, ``search in r/acme`` (a search's key holds a digest)."""
    if key.startswith("search:"):
        return f"search in r/{key.split(':')[1]}"
    if "/" in key:
        return f"r/{key}"
    return f"inbox {key}"


def listing_problem(key: str, failure: ListingFailure) -> str:
    since = datetime.fromtimestamp(failure.since, UTC)
    reads = f"{failed_reads(failure.failures)} in a row"
    return (
        f"{listing_label(key)}: {reads} since {since:%Y-%m-%d %H:%M} UTC "
        f"(the other listings are read): Reddit temporary: {failure.error}"
    )
