"""What every Reddit source shares: one poll's batch, thread context, status details.

The sources themselves (inbox, subreddit watch, search) are in reddit_sources.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from monitor.domain import Mention, MessageKind
from monitor.sources.base import PollResult, SourceError
from monitor.sources.reddit import RedditConnection
from monitor.sources.reddit_context import ThreadContext, remember
from monitor.sources.reddit_cursor import (
    ListingCursor,
    SourceCursor,
    decode_cursor,
    take_new,
)
from monitor.sources.reddit_failure import FailureKind, RedditFailure
from monitor.sources.reddit_items import RedditItem, Skip, skip_reason, to_mention
from monitor.sources.reddit_keywords import names_account
from monitor.sources.reddit_listing_runs import (
    failing_after_poll,
    failing_details,
    in_part,
    listing_problem,
)
from monitor.sources.reddit_settings import POLL_SECONDS

WEB_URL = "https://www.reddit.com"
T = TypeVar("T")


@dataclass
class PollBatch:
    """What one poll collected so far."""

    mentions: list[Mention] = field(default_factory=list)
    stored: list[RedditItem] = field(default_factory=list)  # the items behind ``mentions``
    context: list[Mention] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    filtered: int = 0
    listings_read: int = 0
    unread: tuple[str, ...] = ()  # the listing keys to read first at the next poll
    failure: RedditFailure | None = None  # what ended the poll after a listing was tried
    failed: str | None = None  # the key of the listing whose read ``failure`` ended
    keys: tuple[str, ...] = ()  # the keys of every listing the poll had to read
    read_ok: list[str] = field(default_factory=list)  # the keys of the listings read whole
    not_reached: tuple[str, ...] = ()  # the keys left unread behind the failed listing
    # The keys of the listings ``read`` passed over (their subreddit is disabled).
    passed: list[str] = field(default_factory=list)

    def add(self, items: Iterable[RedditItem], kind: MessageKind, own: frozenset[str]) -> None:
        for item in items:
            reason = skip_reason(item, own)
            if reason is None:
                self.mentions.append(to_mention(item, _kind(item, kind, own), WEB_URL))
                self.stored.append(item)
            else:
                self.skipped[reason.value] += 1

    def all_problems(self) -> list[str]:
        counts = [f"skipped {n} {reason}" for reason, n in sorted(self.skipped.items())]
        return counts + self.problems


class RedditSourceBase:
    def __init__(
        self,
        name: str,
        connection: RedditConnection,
        own: frozenset[str],
        context_depth: int = 0,
        *,
        overlap: float = 0.0,
    ) -> None:
        self.name = name
        self.connection = connection
        self.own = own
        self.overlap = overlap  # seconds re-read below each listing's cursor
        self.context = ThreadContext(connection, context_depth, WEB_URL) if context_depth else None
        # Whether the account we log in as is in ``own``: a password login names it; with
        # a refresh token, reddit.username is not used to log in and may name another.
        self._account_known = connection.settings.refresh_token is None
        # What a poll's time bound (POLL_SECONDS) is measured with: elapsed seconds, not
        # the wall clock (a clock stepped by NTP is no time spent). Tests put their own.
        self.monotonic: Callable[[], float] = time.monotonic
        self._started = 0.0
        # How long the source may go unpolled before status calls it not polled
        # (ingest.stale_after); set by the runtime. A listing failing again after a gap
        # longer than this (the daemon was down) starts a new run of failures.
        self.stale_after: timedelta | None = None

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        state = decode_cursor(cursor)
        before = self.connection.limits().requests
        batch = PollBatch()
        self._started = self.monotonic()
        try:
            self._know_own_account()
            new_state = self._with_context(self._poll(state, batch, now), batch)
        except RedditFailure as failure:
            raise source_error(failure, now) from None
        if batch.failure is not None and not batch.unread:
            # The one listing to read failed: there is nothing read to keep.
            raise source_error(batch.failure, now)
        failing = failing_after_poll(state, batch, now, self.stale_after)
        new_state = replace(new_state, resume=batch.unread, failing=failing)
        return self._result(new_state, batch, now, self.connection.limits().requests - before)

    def _out_of_time(self) -> bool:
        """Whether the poll has read for POLL_SECONDS: it must end within its source's
        lease (ingest.source_lease_seconds), renewed only as a poll starts."""
        return self.monotonic() - self._started > POLL_SECONDS

    def _in_turn(
        self,
        listings: Sequence[tuple[str, T]],
        state: SourceCursor,
        batch: PollBatch,
        read: Callable[[T], None],
    ) -> None:
        """``read`` each of ``listings`` (key, what to read) in turn while the poll has
        time, those a poll cut short left first. A listing is read whole or not at all:
        its cursor stands for everything above it, so one read half would skip the items
        below the cut. At least one is read, and the ones left start the next poll, so
        none waits for ever behind slow ones.

        A failure ends the poll, but what the listings before it read is kept (the
        source stores it with their cursors, then reports the failure). The listings
        failing at the last poll are read after all the others: one whose deep page
        keeps timing out came first at every poll and held back every listing of the
        source; and one left unread by the time bound came first at the next poll, and
        failing with nothing read yet, failed the whole poll. A failing listing the last
        poll left unread is read even when this one is out of time, so the time bound
        never leaves it unread twice in a row (its mentions unread, its run unchecked)."""
        left = [key for key in state.resume if any(key == k for k, _ in listings)]

        def rank(kv: tuple[str, T]) -> tuple[bool, int]:
            key = kv[0]
            return key in state.failing, left.index(key) if key in left else len(left)

        ordered = sorted(listings, key=rank)
        owed = {key for key in left if key in state.failing}
        keys = [key for key, _ in ordered]
        batch.keys = tuple(keys)
        skipped: list[str] = []
        for i, (key, listing) in enumerate(ordered):
            if batch.listings_read and key not in owed and self._out_of_time():
                skipped.append(key)
                continue
            try:
                read(listing)
                if key not in batch.read_ok:
                    batch.passed.append(key)
            except RedditFailure as failure:
                batch.failure = failure
                batch.failed = key
                batch.not_reached = (*skipped, *keys[i + 1 :])
                before = [k for k in keys[:i] if k not in skipped]
                batch.unread = (*batch.not_reached, *before)
                return
        batch.unread = tuple(skipped)

    def _poll(self, state: SourceCursor, batch: PollBatch, now: datetime) -> SourceCursor:
        raise NotImplementedError

    def _know_own_account(self) -> None:
        """Add the account a refresh token logs in as to the brand's own (one request,
        once per process). The token does not say whose it is, and brand.accounts.reddit
        may name other accounts only: a comment posted by hand from this one read as a
        customer's, and the bot could answer the brand."""
        if self._account_known:
            return
        name = self.connection.login_name()
        if name:
            self.own = self.own | {name}
        self._account_known = True

    def _with_context(self, state: SourceCursor, batch: PollBatch) -> SourceCursor:
        if self.context is None or not batch.stored:
            return state
        known = set(state.known)
        self._fetch_context(batch, known)
        return replace(state, known=remember(state.known, known))

    def _fetch_context(self, batch: PollBatch, known: set[str]) -> None:
        """The parents of ``batch``'s items into ``batch.context``; ``known`` grows."""
        if self.context is None or not batch.stored:
            return
        fetched = self.context.fetch(batch.stored, known)
        batch.context = fetched.posts
        if fetched.failure is not None:
            # Context is for display only: never hold back the mentions for it.
            batch.problems.append(f"thread context not fetched: {fetched.failure}")
        batch.mentions = _closed_threads(batch.mentions, fetched.closed)

    def _read(
        self,
        key: str,
        listing: Iterator[RedditItem],
        state: SourceCursor,
        batch: PollBatch,
        cap: int,
        *,
        label: str | None = None,
    ) -> tuple[list[RedditItem], ListingCursor]:
        """``label`` names the listing in problems when its cursor ``key`` is not readable."""
        batch.listings_read += 1
        cursor = state.listing(key)
        new = take_new(listing, cursor, cap, self.overlap)
        batch.read_ok.append(key)
        if new.undated:
            batch.skipped[Skip.UNDATED.value] += new.undated
        name = label or key
        if new.gap and len(new.items) >= cap:
            batch.problems.append(f"{name}: over {cap} new items since the last poll, older missed")
        elif new.gap:
            batch.problems.append(
                f"{name}: the listing ended after {new.read} items, above the last poll's "
                "newest item: new items below them were missed"
            )
        return new.items, cursor.advanced(new.items, self.overlap)

    def _result(
        self, state: SourceCursor, batch: PollBatch, now: datetime, requests: int
    ) -> PollResult:
        # Counted from Reddit's answer, not from ``now`` (when the poll began): after a
        # slow poll the source was polled again before the reset.
        limits = self.connection.limits()
        reset_at = limits.reset_at
        details: dict[str, Any] = {
            "ratelimit": {
                "remaining": limits.remaining,
                "used": limits.used,
                "reset_at": reset_at.isoformat() if reset_at else None,
            },
            "requests_last_poll": requests,
            "skipped_last_poll": dict(batch.skipped),
            "filtered_last_poll": batch.filtered,
            "pending_mark_read": len(state.to_mark),
            "disabled_subreddits": {k: d.reason for k, d in state.disabled.items()},
        }
        details["failing_listings"] = failing_details(state)
        # Out of quota: ingest skips this source until the reset instead of letting
        # prawcore sleep in a worker thread.
        exhausted = limits.remaining is not None and limits.remaining < 1
        failed = batch.failure is not None
        problems = batch.all_problems()
        error = None if batch.failure is None else source_error(batch.failure, now)
        caught_up = False if failed else None
        read_errors: tuple[str, ...] = ()
        if in_part(batch) and batch.failed is not None:
            # The source is read: a successful poll (last success, no back-off, the
            # cursor lag of what it read), and the listing that failed is named, with
            # its failures in a row, in last_error and in status (failing_listings).
            # Counted as the source's failure, one listing failing for hours raised
            # "source failing" and a growing lag for a source whose other listings
            # were all read; and a poll cut short before that listing reset the count.
            problems.append(listing_problem(batch.failed, state.failing[batch.failed]))
            error, caught_up = None, False if batch.not_reached else None
            read_errors = (batch.failure.kind.value,) if batch.failure else ()
        return PollResult(
            batch.mentions,
            state.encode(),
            # The listings left after a failure wait for the next poll: nothing is ready.
            more=bool(batch.unread) and not failed,
            problems=problems,
            rate_limit_reset_at=reset_at if exhausted else None,
            details=details,
            context=batch.context,
            caught_up=caught_up,
            error=error,
            read_errors=read_errors,
        )


def _kind(item: RedditItem, kind: MessageKind, own: frozenset[str]) -> MessageKind:
    """A keyword hit that names one of the brand's accounts (u/acme) is a mention. The
    inbox and a watch store a comment once, with the kind of whichever reads it first:
    read by the watch first, an explicit mention stayed a keyword hit, and rules for
    mentions never saw it."""
    if kind is MessageKind.KEYWORD and names_account(item.text, own):
        return MessageKind.MENTION
    return kind


def _closed_threads(mentions: list[Mention], closed: frozenset[str]) -> list[Mention]:
    """``mentions`` with no reply allowed in the ``closed`` (locked or archived) threads.
    A comment carries no flag for its thread's lock: the bot answered it and Reddit
    refused the reply (THREAD_LOCKED) only at send time."""
    return [replace(m, reply_allowed=False) if m.conversation_id in closed else m for m in mentions]


def source_error(failure: RedditFailure, now: datetime) -> SourceError:
    if failure.kind == FailureKind.AUTH:
        message = f"Reddit refused our credentials ({failure}); fix the reddit: section"
        return SourceError(message + ", then restart", permanent=True, kind=failure.kind.value)
    if failure.kind == FailureKind.UNAVAILABLE:
        return SourceError(f"Reddit: {failure}", permanent=True, kind=failure.kind.value)
    if failure.kind in (FailureKind.REFUSED, FailureKind.REJECTED):
        message = (
            f"Reddit refused the request ({failure}); retrying cannot help, so the source "
            "is stopped: check its settings, then restart"
        )
        return SourceError(message, permanent=True, kind=failure.kind.value)
    wait = failure.wait_seconds(now)
    retry_at = None if wait is None else now + timedelta(seconds=wait)
    return SourceError(
        f"Reddit {failure.kind.value}: {failure}", retry_at=retry_at, kind=failure.kind.value
    )
