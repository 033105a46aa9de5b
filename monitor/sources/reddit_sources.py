"""The three Reddit sources: inbox, subreddit watch and search.

Each is a named source with its own interval and its own cursor (a SourceCursor as JSON
in source_state.cursor). None of them imports praw: they talk to a RedditConnection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.domain import Mention, MessageKind
from monitor.sources.base import PollResult, SourceError
from monitor.sources.reddit import RedditConnection
from monitor.sources.reddit_context import ThreadContext, remember
from monitor.sources.reddit_cursor import (
    Disabled,
    ListingCursor,
    SourceCursor,
    decode_cursor,
    take_new,
)
from monitor.sources.reddit_failure import FailureKind, RedditFailure
from monitor.sources.reddit_items import RedditItem, skip_reason, to_mention
from monitor.sources.reddit_keywords import KeywordMatcher
from monitor.sources.reddit_settings import (
    RedditInboxSourceConfig,
    RedditSearchSourceConfig,
    RedditSettings,
    RedditSubredditSourceConfig,
)

if TYPE_CHECKING:
    from monitor.settings import Brand

WEB_URL = "https://www.reddit.com"
# A banned or private subreddit is tried again after this long.
DISABLE_FOR = timedelta(hours=24)


@dataclass
class _Batch:
    """What one poll collected so far."""

    mentions: list[Mention] = field(default_factory=list)
    stored: list[RedditItem] = field(default_factory=list)  # the items behind ``mentions``
    context: list[Mention] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    filtered: int = 0

    def add(self, items: Iterable[RedditItem], kind: MessageKind, own: frozenset[str]) -> None:
        for item in items:
            reason = skip_reason(item, own)
            if reason is None:
                self.mentions.append(to_mention(item, kind, WEB_URL))
                self.stored.append(item)
            else:
                self.skipped[reason.value] += 1

    def all_problems(self) -> list[str]:
        counts = [f"skipped {n} {reason}" for reason, n in sorted(self.skipped.items())]
        return counts + self.problems


class _RedditSource:
    def __init__(
        self, name: str, connection: RedditConnection, own: frozenset[str], context_depth: int = 0
    ) -> None:
        self.name = name
        self.connection = connection
        self.own = own
        self.context = ThreadContext(connection, context_depth, WEB_URL) if context_depth else None

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        state = decode_cursor(cursor)
        before = self.connection.limits().requests
        batch = _Batch()
        try:
            new_state = self._with_context(self._poll(state, batch, now), batch)
        except RedditFailure as failure:
            raise _source_error(failure, now) from None
        return self._result(new_state, batch, now, self.connection.limits().requests - before)

    def _poll(self, state: SourceCursor, batch: _Batch, now: datetime) -> SourceCursor:
        raise NotImplementedError

    def _with_context(self, state: SourceCursor, batch: _Batch) -> SourceCursor:
        if self.context is None or not batch.stored:
            return state
        known = set(state.known)
        try:
            batch.context = self.context.fetch(batch.stored, known)
        except RedditFailure as failure:
            if failure.kind == FailureKind.AUTH:
                raise
            # Context is for display only: never hold back the mentions for it.
            batch.problems.append(f"thread context not fetched: {failure}")
        return replace(state, known=remember(state.known, known))

    def _read(
        self, key: str, listing: Iterator[RedditItem], state: SourceCursor, batch: _Batch, cap: int
    ) -> tuple[list[RedditItem], ListingCursor]:
        cursor = state.listing(key)
        new = take_new(listing, cursor, cap)
        if new.gap:
            batch.problems.append(f"{key}: over {cap} new items since the last poll, older missed")
        return new.items, cursor.advanced(new.items)

    def _result(
        self, state: SourceCursor, batch: _Batch, now: datetime, requests: int
    ) -> PollResult:
        limits = self.connection.limits()
        reset_at = None
        if limits.reset_seconds is not None:
            reset_at = now + timedelta(seconds=limits.reset_seconds)
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
        # Out of quota: ingest skips this source until the reset instead of letting
        # prawcore sleep in a worker thread.
        exhausted = limits.remaining is not None and limits.remaining < 1
        return PollResult(
            batch.mentions,
            state.encode(),
            problems=batch.all_problems(),
            rate_limit_reset_at=reset_at if exhausted else None,
            details=details,
            context=batch.context,
        )


class RedditInboxSource(_RedditSource):
    """Username mentions and replies to the brand's comments; marks them read once stored."""

    STREAMS = (("mentions", MessageKind.MENTION), ("comment_replies", MessageKind.REPLY))

    def __init__(
        self, config: RedditInboxSourceConfig, connection: RedditConnection, own: frozenset[str]
    ) -> None:
        super().__init__(config.name, connection, own, config.context_depth)
        self.config = config

    def _poll(self, state: SourceCursor, batch: _Batch, now: datetime) -> SourceCursor:
        # The cursor holding ``to_mark`` was committed with those messages: they are stored.
        if state.to_mark:
            self.connection.mark_read(list(state.to_mark))
        listings, to_mark = dict(state.listings), []
        for stream, kind in self.STREAMS:
            if not getattr(self.config, stream):
                continue
            listing = self.connection.inbox(stream, self.config.max_items)  # type: ignore[arg-type]
            items, listings[stream] = self._read(
                stream, listing, state, batch, self.config.max_items
            )
            batch.add(items, kind, self.own)
            to_mark += [i.fullname for i in items if i.unread]
        marks = tuple(to_mark) if self.config.mark_read else ()
        return replace(state, listings=listings, to_mark=marks)


class RedditSubredditSource(_RedditSource):
    """New comments and submissions in subreddits; only keyword matches are stored."""

    def __init__(
        self,
        config: RedditSubredditSourceConfig,
        connection: RedditConnection,
        own: frozenset[str],
    ) -> None:
        super().__init__(config.name, connection, own, config.context_depth)
        self.config = config
        self.matcher = KeywordMatcher(config.keywords)
        self.streams = [
            s for s, on in (("comments", config.comments), ("new", config.submissions)) if on
        ]

    def _poll(self, state: SourceCursor, batch: _Batch, now: datetime) -> SourceCursor:
        listings, disabled = dict(state.listings), _still_disabled(state, now)
        for sub in _names(self.config.subreddits):
            if sub in disabled:
                continue
            try:
                for stream in self.streams:
                    key = f"{sub}/{stream}"
                    listing = self.connection.subreddit(sub, stream, self.config.max_items)  # type: ignore[arg-type]
                    items, listings[key] = self._read(
                        key, listing, state, batch, self.config.max_items
                    )
                    hits = [i for i in items if self.matcher.matches(i.text)]
                    batch.filtered += len(items) - len(hits)
                    batch.add(hits, MessageKind.KEYWORD, self.own)
            except RedditFailure as failure:
                disabled[sub] = _disable(sub, failure, batch, now)
        _require_one_enabled(self.config.subreddits, disabled, batch)
        return replace(state, listings=listings, disabled=disabled)


class RedditSearchSource(_RedditSource):
    """``subreddit.search(sort="new")`` for the brand over the configured subreddits."""

    def __init__(
        self,
        config: RedditSearchSourceConfig,
        connection: RedditConnection,
        own: frozenset[str],
        brand: str,
    ) -> None:
        super().__init__(config.name, connection, own)
        self.config = config
        self.query = config.query or f'"{brand}"'

    def _poll(self, state: SourceCursor, batch: _Batch, now: datetime) -> SourceCursor:
        listings, disabled = dict(state.listings), _still_disabled(state, now)
        for sub in _names(self.config.subreddits):
            if sub in disabled:
                continue
            key = f"search:{sub}"
            try:
                listing = self.connection.search(sub, self.query, self.config.max_items)
                items, listings[key] = self._read(key, listing, state, batch, self.config.max_items)
            except RedditFailure as failure:
                disabled[sub] = _disable(sub, failure, batch, now)
                continue
            batch.add(items, MessageKind.KEYWORD, self.own)
        _require_one_enabled(self.config.subreddits, disabled, batch)
        return replace(state, listings=listings, disabled=disabled)


def _names(subreddits: list[str]) -> list[str]:
    return [s.removeprefix("r/").lower() for s in subreddits]


def _still_disabled(state: SourceCursor, now: datetime) -> dict[str, Disabled]:
    return {k: d for k, d in state.disabled.items() if d.until > now.timestamp()}


def _disable(sub: str, failure: RedditFailure, batch: _Batch, now: datetime) -> Disabled:
    """Only a missing, banned or private subreddit is disabled; anything else stops the poll."""
    if failure.kind != FailureKind.UNAVAILABLE:
        raise failure
    until = now + DISABLE_FOR
    reason = f"r/{sub}: {failure}; not watched until {until.isoformat(timespec='minutes')}"
    batch.problems.append(reason)
    return Disabled(reason, until.timestamp())


def _require_one_enabled(
    subreddits: list[str], disabled: dict[str, Disabled], batch: _Batch
) -> None:
    if all(name in disabled for name in _names(subreddits)):
        batch.problems.append("no subreddit left to watch: every one is disabled")


def _source_error(failure: RedditFailure, now: datetime) -> SourceError:
    if failure.kind == FailureKind.AUTH:
        message = f"Reddit refused our credentials ({failure}); fix the reddit: section"
        return SourceError(message + ", then restart", permanent=True)
    if failure.kind == FailureKind.UNAVAILABLE:
        return SourceError(f"Reddit: {failure}", permanent=True)
    retry_at = None
    if failure.retry_after_seconds is not None:
        retry_at = now + timedelta(seconds=failure.retry_after_seconds)
    return SourceError(f"Reddit {failure.kind.value}: {failure}", retry_at=retry_at)


def build_reddit_source(
    config: RedditInboxSourceConfig | RedditSubredditSourceConfig | RedditSearchSourceConfig,
    reddit: RedditSettings,
    brand: Brand,
) -> _RedditSource:
    connection = RedditConnection(reddit)
    own = brand.own_handles("reddit")
    if isinstance(config, RedditInboxSourceConfig):
        return RedditInboxSource(config, connection, own)
    if isinstance(config, RedditSubredditSourceConfig):
        return RedditSubredditSource(config, connection, own)
    return RedditSearchSource(config, connection, own, brand.name)
