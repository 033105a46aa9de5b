"""``inchannel backfill`` for the Reddit sources: every listing read back to ``--since``.

Reddit cannot be asked for a time range. Its listings come newest first, at most 100
items a request, and end about 1,000 items back. So a backfill reads each listing the
source polls from the top, with no ``max_items`` cap, keeps the items created inside the
window, and stops that listing at its first item older than ``--since`` by more than the
source's ``overlap_seconds`` (items show up late, among newer ones). Items newer
than ``--until`` are read (each page is a request against the quota) and dropped.

Pages are asked for one at a time (``after`` = the last item read) instead of through
praw's unbounded ``limit=None``, which pages on by itself: once Reddit says the quota is
spent, prawcore sleeps before the next request until the reset, minutes in a command the
user is watching. Between pages the quota is checked and an empty one stops the backfill
with the time to rerun. (Within a page praw still asks again on its own when Reddit
answers fewer items than asked and more follow; rare, and then unchecked.)

The live poll's state is never touched: no cursor, no mark-read, no disabled subreddit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.clock import Clock
from monitor.domain import MessageKind
from monitor.sources.base import (
    FetchInterrupted,
    PollResult,
    SourceError,
    Window,
    rerun_until,
    window_flags,
)
from monitor.sources.reddit import RateLimits
from monitor.sources.reddit_base import PollBatch, RedditSourceBase, source_error
from monitor.sources.reddit_failure import NOT_SERVED, FailureKind, RedditFailure
from monitor.sources.reddit_items import RedditItem, Skip

PAGE = 100  # Reddit's largest page
# Reddit's listings end about 1,000 items back, a little sooner when some of those were
# removed. A listing that ran out after at least this many items was cut off by Reddit;
# a shorter one is the whole history (a quiet subreddit or inbox) and is complete.
LISTING_CAP = 900
# Search results run out sooner and less predictably (searches ending after about 250
# posts have been reported), so a search that runs out after this many is reported too.
SEARCH_CAP = 200
LISTING_REACH = "about 1,000 items back"
SEARCH_REACH = "Reddit search stops after a few hundred to about 1,000 results"
# Items a backfill steps back when the page after the last one read comes back empty
# (that item deleted meanwhile); at the true end of a full listing, as many requests.
STEP_BACK = 2
# Reddit's rate-limit window: the wait when a 429 does not say how long.
RATE_WINDOW = timedelta(minutes=10)

Page = Callable[[str | None], Iterator[RedditItem]]


@dataclass(frozen=True, slots=True)
class Stream:
    """One listing a source reads; ``page(after)`` gives up to PAGE items past ``after``."""

    label: str  # as the user reads it: "r/acme/comments", "inbox mentions"
    page: Page
    kind: MessageKind
    keep: Callable[[RedditItem], bool] | None = None  # the keyword filter, if any
    subreddit: str | None = None  # banned, private or missing: its streams are skipped
    cap: int = LISTING_CAP
    reach: str = LISTING_REACH

    def wanted(self, item: RedditItem) -> bool:
        return self.keep is None or self.keep(item)


@dataclass
class _Walk:
    """How far one listing has been read."""

    read: int = 0  # distinct items
    oldest: float | None = None
    reached: bool = False  # an item older than --since was read: the window is covered
    past: bool = False  # one older than --since less the overlap: the listing is done
    stalled: bool = False  # a page brought nothing new: paging on would loop
    done: bool = False  # its last page was handed over (or it cannot be read)
    handed_oldest: float | None = None  # ``oldest`` as of the pages handed over
    seen: set[str] = field(default_factory=set)
    skipped: Counter[str] = field(default_factory=Counter)

    def take(self, page: list[RedditItem], window: Window, overlap: timedelta) -> list[RedditItem]:
        """The page's items inside ``window``, newest first, each listing item once.

        Items show up late, among newer ones (approved from the mod queue, indexed late by
        search): the live poll reads ``overlap`` below its cursor for them. An item just
        older than --since is no sign that the window's items have all been listed: read
        on through the overlap, as the live poll does."""
        kept: list[RedditItem] = []
        # A listing shifts while it is paged: an item can come back on the next page.
        fresh = [item for item in page if item.fullname not in self.seen]
        self.stalled = bool(page) and not fresh
        for item in fresh:
            self.seen.add(item.fullname)
            self.read += 1
            if not item.dated:
                # Read as 1970, older than --since, it ended the listing's backfill and
                # left every item below it out without a word.
                self.skipped[Skip.UNDATED.value] += 1
                continue
            if self.oldest is None or item.created_utc < self.oldest:
                self.oldest = item.created_utc
            moment = datetime.fromtimestamp(item.created_utc, UTC)
            if moment < window.since:
                self.reached = True
                if moment < window.since - overlap:
                    self.past = True
                    break
            if moment in window:
                kept.append(item)
        return kept

    def closing(self, stream: Stream) -> list[str]:
        """The listing's problem lines, given with its last page."""
        lines = []
        if not self.reached and self.read >= stream.cap and self.oldest is not None:
            end = datetime.fromtimestamp(self.oldest, UTC)
            lines.append(
                f"{stream.label}: Reddit's listing ends at {end:%Y-%m-%d %H:%M} UTC "
                f"({stream.reach}); older items cannot be fetched"
            )
        if self.skipped:
            counts = "; ".join(f"skipped {n} {why}" for why, n in sorted(self.skipped.items()))
            lines.append(f"{stream.label}: {counts}")
        return lines


@dataclass
class _Reading:
    """The listing a backfill is reading and how far it got: what Ctrl-C leaves unread."""

    streams: list[Stream]
    at: int = 0
    walk: _Walk = field(default_factory=_Walk)

    def going_on(self, window: Window) -> str:
        """How to finish ``window``. The pages handed over were taken: the caller asks for
        the next one only then, and throws Ctrl-C in at the ``yield`` of the one it had."""
        left = self.streams[self.at + 1 :] if self.walk.done else self.streams[self.at :]
        if not left:
            return "every listing was read in full: nothing is left to fetch"
        oldest = self._read_back_to(window) if len(left) == 1 else None
        if oldest is not None:
            return rerun_until(left[0].label, oldest)
        # Listings after the one being read have all of the window left: an --until from
        # how far that one got would leave their newer items out.
        return f"not read in full: {', '.join(s.label for s in left)}; {_rerun_window(window)}"

    def _read_back_to(self, window: Window) -> datetime | None:
        """The second of the oldest item the listing being read handed over, if the
        --until rerun_until makes of it (the second after: exclusive, and those of that
        second already read are skipped as stored) is inside the window."""
        if self.walk.done or self.walk.handed_oldest is None:
            return None
        oldest = datetime.fromtimestamp(int(self.walk.handed_oldest), UTC)
        until = oldest + timedelta(seconds=1)
        if until <= window.since or (window.until is not None and until >= window.until):
            return None
        return oldest


class BackfillingRedditSource(RedditSourceBase):
    """A Reddit source that can also read its listings back to a date (Backfillable)."""

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        """A page of the items created inside ``window`` per page read, listing by listing;
        ``cursor`` is None. Raises SourceError when a request fails or the quota is spent,
        FetchInterrupted (saying how to finish the window) on Ctrl-C."""
        reading = _Reading(self._streams())
        try:
            yield from self._read_listings(window, clock, reading)
        except KeyboardInterrupt:
            raise FetchInterrupted(reading.going_on(window)) from None

    def _read_listings(
        self, window: Window, clock: Clock, reading: _Reading
    ) -> Iterator[PollResult]:
        known: set[str] = set()  # thread context fetched so far in this run
        unavailable: set[str] = set()
        for at, stream in enumerate(reading.streams):
            reading.at, reading.walk = at, _Walk()
            if stream.subreddit in unavailable:
                reading.walk.done = True
                continue
            try:
                yield from self._walk(stream, window, known, clock, reading.walk)
            except RedditFailure as failure:
                if failure.kind not in NOT_SERVED or stream.subreddit is None:
                    raise _stop(failure, self.connection.limits(), clock.now(), window) from None
                unavailable.add(stream.subreddit)
                reading.walk.done = True  # it cannot be read: nothing is left in it
                yield PollResult([], None, problems=[f"r/{stream.subreddit}: {failure}; skipped"])

    def _streams(self) -> list[Stream]:
        """The listings the live poll reads, as configured."""
        raise NotImplementedError

    def _walk(
        self, stream: Stream, window: Window, known: set[str], clock: Clock, walk: _Walk
    ) -> Iterator[PollResult]:
        after, fallback = None, list[str]()
        while True:
            _check_quota(self.connection.limits(), clock.now(), window)
            page = list(stream.page(after))
            if not page and fallback:
                # Reddit answers an empty page after an item deleted since it was read:
                # page on after the item read before it instead of ending the listing.
                after = fallback.pop()
                continue
            kept = walk.take(page, window, timedelta(seconds=self.overlap))
            batch = PollBatch()
            batch.add([i for i in kept if stream.wanted(i)], stream.kind, self.own)
            walk.skipped.update(batch.skipped)
            # A short page is the listing's last; a full one may be too (an empty next page).
            done = walk.past or walk.stalled or len(page) < PAGE
            self._context(batch, known)
            problems = [*batch.problems, *(walk.closing(stream) if done else [])]
            # Only now: Ctrl-C while the thread context was fetched left this page's items
            # unfetched, and an --until below them lost them.
            walk.done, walk.handed_oldest = done, walk.oldest
            yield PollResult(
                batch.mentions, None, more=not done, problems=problems, context=batch.context
            )
            if done:
                return
            after = page[-1].fullname
            fallback = [item.fullname for item in page[-1 - STEP_BACK : -1]]

    def _context(self, batch: PollBatch, known: set[str]) -> None:
        """Thread context as the live poll fetches it; a failure is a problem line."""
        if self.context is not None and batch.stored and _spent(self.connection.limits()):
            batch.problems.append("thread context not fetched: Reddit's request quota is spent")
            return
        self._fetch_context(batch, known)


def _spent(limits: RateLimits) -> bool:
    return limits.remaining is not None and limits.remaining < 1


def _check_quota(limits: RateLimits, now: datetime, window: Window) -> None:
    if _spent(limits):
        used = f" ({limits.used} used)" if limits.used is not None else ""
        raise _rate_limited(f"request quota spent{used}", limits.reset_seconds, now, window)


def _stop(failure: RedditFailure, limits: RateLimits, now: datetime, window: Window) -> SourceError:
    if failure.kind != FailureKind.RATE_LIMITED:
        return source_error(failure, now)
    wait = failure.wait_seconds(now)
    return _rate_limited(str(failure), limits.reset_seconds if wait is None else wait, now, window)


def _rerun_window(window: Window) -> str:
    """The rerun of the whole of ``window``, each listing read from its newest item again."""
    return (
        f"rerun with {window_flags(window)} (Reddit cannot be asked for a time range: each "
        "listing is read again from its newest item; stored mentions are skipped)"
    )


def _rate_limited(reason: str, wait: float | None, now: datetime, window: Window) -> SourceError:
    """The stop on a spent quota or a 429, with the command to rerun. The same window:
    an --until from how far the listing got saves no request (Reddit cannot be asked
    for a time range, so newer items are read and dropped) and would leave the newer
    items of the listings after it out."""
    seconds = RATE_WINDOW.total_seconds() if wait is None else max(wait, 1.0)
    return SourceError(
        f"Reddit rate limited: {reason}; in {seconds:.0f} s or later, {_rerun_window(window)}",
        retry_at=now + timedelta(seconds=seconds),
        kind=FailureKind.RATE_LIMITED.value,
    )
