"""The three Reddit sources: inbox, subreddit watch and search.

Each is a named source with its own interval and its own cursor (a SourceCursor as JSON
in source_state.cursor). None of them imports praw: they talk to a RedditConnection.
Each names the listings it reads (``_streams``) for ``inchannel backfill``
(reddit_backfill.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from monitor.domain import MessageKind
from monitor.sources.reddit import InboxStream, RedditConnection, SubredditStream
from monitor.sources.reddit_backfill import (
    PAGE,
    SEARCH_CAP,
    SEARCH_REACH,
    BackfillingRedditSource,
    Stream,
)
from monitor.sources.reddit_base import PollBatch, RedditSourceBase
from monitor.sources.reddit_cursor import Disabled, ListingCursor, SourceCursor
from monitor.sources.reddit_failure import NOT_SERVED, FailureKind, RedditFailure
from monitor.sources.reddit_items import RedditItem
from monitor.sources.reddit_keywords import KeywordMatcher
from monitor.sources.reddit_settings import (
    RedditInboxSourceConfig,
    RedditSearchSourceConfig,
    RedditSettings,
    RedditSubredditSourceConfig,
)

if TYPE_CHECKING:
    from monitor.clock import Clock
    from monitor.settings import Brand

# A banned or private subreddit is tried again after this long.
DISABLE_FOR = timedelta(hours=24)
# Inbox items kept to mark read while marking keeps failing. Past this the oldest are let
# go: they only stay unread in the brand's Reddit inbox (no poll reads that flag), and a
# poll that marks them again spends a request per 25.
MARK_CAP = 500
# Fullnames Reddit marks read in one request.
MARK_BATCH = 25


class RedditInboxSource(BackfillingRedditSource):
    """Username mentions and replies to the brand's comments and posts; marks them read
    once stored."""

    # A comment made directly on one of the brand's posts (an outage notice) is in
    # neither mentions nor comment_replies: Reddit files it as a post reply.
    STREAMS: tuple[tuple[InboxStream, MessageKind], ...] = (
        ("mentions", MessageKind.MENTION),
        ("comment_replies", MessageKind.REPLY),
        ("submission_replies", MessageKind.REPLY),
    )

    def __init__(
        self, config: RedditInboxSourceConfig, connection: RedditConnection, own: frozenset[str]
    ) -> None:
        super().__init__(
            config.name, connection, own, config.context_depth, overlap=config.overlap_seconds
        )
        self.config = config

    def _poll(self, state: SourceCursor, batch: PollBatch, now: datetime) -> SourceCursor:
        unmarked = self._mark_read(state.to_mark, batch)
        streams = [(stream, kind) for stream, kind in self.STREAMS if getattr(self.config, stream)]
        listings = _watched(state, [stream for stream, _ in streams])
        to_mark: list[str] = []
        turns = [(stream, (stream, kind)) for stream, kind in streams]

        def read(turn: tuple[InboxStream, MessageKind]) -> None:
            stream, kind = turn
            listing = self.connection.inbox(stream, self.config.max_items)
            items, listings[stream] = self._read(
                stream, listing, state, batch, self.config.max_items
            )
            batch.add(items, kind, self.own)
            to_mark.extend(i.fullname for i in items if i.unread)

        self._in_turn(turns, state, batch, read)
        marks = tuple(to_mark) if self.config.mark_read else ()
        return replace(state, listings=listings, to_mark=_queue(unmarked, marks, batch))

    def _mark_read(self, fullnames: tuple[str, ...], batch: PollBatch) -> tuple[str, ...]:
        """Mark read what the last committed poll stored; return what is still unmarked.

        The cursor holding ``fullnames`` was committed with those messages, so they are
        stored whatever happens here: a failure (a 5xx, a timeout, a 403) is reported and
        the poll reads on, instead of holding back every new mention while it lasts. Bad
        credentials and rate limits still end the poll: the listings would fail alike."""
        left = fullnames
        while left:
            if left != fullnames and self._out_of_time():
                break  # the rest at the next poll: this one must end within its lease
            try:
                self.connection.mark_read(list(left[:MARK_BATCH]))
            except RedditFailure as failure:
                if failure.kind in (FailureKind.AUTH, FailureKind.RATE_LIMITED):
                    raise
                batch.problems.append(
                    f"marking {_inbox_items(len(left))} read failed ({failure}); "
                    "tried again at the next poll"
                )
                return left
            left = left[MARK_BATCH:]
        return left

    def _streams(self) -> list[Stream]:
        # Backfill only reads: marking read stays with the live poll.
        return [
            Stream(f"inbox {stream}", partial(self.connection.inbox, stream, PAGE), kind)
            for stream, kind in self.STREAMS
            if getattr(self.config, stream)
        ]


class RedditSubredditSource(BackfillingRedditSource):
    """New comments and submissions in subreddits; only keyword matches are stored."""

    def __init__(
        self,
        config: RedditSubredditSourceConfig,
        connection: RedditConnection,
        own: frozenset[str],
    ) -> None:
        super().__init__(
            config.name, connection, own, config.context_depth, overlap=config.overlap_seconds
        )
        self.config = config
        self.matcher = KeywordMatcher(config.keywords)
        wanted: tuple[tuple[SubredditStream, bool], ...] = (
            ("comments", config.comments),
            ("new", config.submissions),
        )
        self.streams = [stream for stream, on in wanted if on]

    def _poll(self, state: SourceCursor, batch: PollBatch, now: datetime) -> SourceCursor:
        names = _names(self.config.subreddits)
        keys = [f"{sub}/{stream}" for sub in names for stream in self.streams]
        listings, disabled = _watched(state, keys), _still_disabled(state, now, names)
        turns = [(f"{sub}/{stream}", (sub, stream)) for sub in names for stream in self.streams]

        def read(turn: tuple[str, SubredditStream]) -> None:
            sub, stream = turn
            if sub in disabled:
                return
            try:
                key = f"{sub}/{stream}"
                listing = self.connection.subreddit(sub, stream, self.config.max_items)
                items, listings[key] = self._read(key, listing, state, batch, self.config.max_items)
                hits = [i for i in items if self.matcher.matches(i.text)]
                batch.filtered += len(items) - len(hits)
                batch.add(hits, MessageKind.KEYWORD, self.own)
            except RedditFailure as failure:
                disabled[sub] = _disable(sub, failure, batch, now)

        self._in_turn(turns, state, batch, read)
        _require_one_enabled(self.config.subreddits, disabled, batch)
        return replace(state, listings=listings, disabled=disabled)

    def _streams(self) -> list[Stream]:
        return [
            Stream(
                f"r/{sub}/{stream}",
                partial(self.connection.subreddit, sub, stream, PAGE),
                MessageKind.KEYWORD,
                keep=self._matches,
                subreddit=sub,
            )
            for sub in _names(self.config.subreddits)
            for stream in self.streams
        ]

    def _matches(self, item: RedditItem) -> bool:
        return self.matcher.matches(item.text)


class RedditSearchSource(BackfillingRedditSource):
    """``subreddit.search(sort="new")`` for the brand over the configured subreddits."""

    def __init__(
        self,
        config: RedditSearchSourceConfig,
        connection: RedditConnection,
        own: frozenset[str],
        brand: str,
    ) -> None:
        super().__init__(config.name, connection, own, overlap=config.overlap_seconds)
        self.config = config
        self.query = config.query or _brand_phrase(brand)

    def _poll(self, state: SourceCursor, batch: PollBatch, now: datetime) -> SourceCursor:
        names = _names(self.config.subreddits)
        state = _adopt_unkeyed(state, {f"search:{sub}": self._key(sub) for sub in names})
        keys = [self._key(sub) for sub in names]
        listings, disabled = _watched(state, keys), _still_disabled(state, now, names)

        def read(sub: str) -> None:
            if sub in disabled:
                return
            key = self._key(sub)
            try:
                listing = self.connection.search(sub, self.query, self.config.max_items)
                # The key holds the query's digest, which means nothing to the reader.
                items, listings[key] = self._read(
                    key, listing, state, batch, self.config.max_items, label=f"search in r/{sub}"
                )
            except RedditFailure as failure:
                disabled[sub] = _disable(sub, failure, batch, now)
                return
            batch.add(items, MessageKind.KEYWORD, self.own)

        self._in_turn([(self._key(sub), sub) for sub in names], state, batch, read)
        _require_one_enabled(self.config.subreddits, disabled, batch)
        return replace(state, listings=listings, disabled=disabled)

    def _key(self, sub: str) -> str:
        """The listing's cursor key: a changed query (or brand name, the default query)
        is a new listing, read as a new search is, not from the old query's position."""
        return f"search:{sub}:{_query_digest(self.query)}"

    def _streams(self) -> list[Stream]:
        return [
            Stream(
                f"search in r/{sub}",
                partial(self.connection.search, sub, self.query, PAGE),
                MessageKind.KEYWORD,
                subreddit=sub,
                cap=SEARCH_CAP,
                reach=SEARCH_REACH,
            )
            for sub in _names(self.config.subreddits)
        ]


def _brand_phrase(brand: str) -> str:
    """The brand name as one quoted phrase, the default search. A double quote in the
    name ended the phrase early and a backslash escaped its closing quote, so each is
    searched as a space: the phrase keeps the name's words.
    Inside the phrase, OR, AND, NOT, parentheses and a leading minus are plain words."""
    return '"' + " ".join(brand.replace('"', " ").replace("\\", " ").split()) + '"'


def _query_digest(query: str) -> str:
    """A short stable name for ``query``; runs of white space count as one space."""
    return hashlib.sha256(" ".join(query.split()).encode()).hexdigest()[:12]


def _adopt_unkeyed(state: SourceCursor, renames: dict[str, str]) -> SourceCursor:
    """Move positions kept under the key without the query (earlier versions) to the query's
    key. Which query they were kept for is not stored: the current one is assumed, as
    an upgrade leaves the config as it was. Once moved, the old key is gone."""
    listings = dict(state.listings)
    for old, new in renames.items():
        if old in listings and new not in listings:
            listings[new] = listings.pop(old)
    return replace(state, listings=listings)


def _queue(unmarked: tuple[str, ...], new: tuple[str, ...], batch: PollBatch) -> tuple[str, ...]:
    """What the next poll marks read: what is still unmarked, then the new items; the
    newest MARK_CAP of them."""
    queue = tuple(dict.fromkeys((*unmarked, *new)))
    dropped = len(queue) - MARK_CAP
    if dropped <= 0:
        return queue
    batch.problems.append(
        f"{_inbox_items(dropped)} left unread on Reddit: marking read keeps failing, "
        f"and only the newest {MARK_CAP} are kept to mark"
    )
    return queue[dropped:]


def _inbox_items(n: int) -> str:
    return f"{n} inbox item" if n == 1 else f"{n} inbox items"


def _names(subreddits: list[str]) -> list[str]:
    return [s.removeprefix("r/").lower() for s in subreddits]


def _watched(state: SourceCursor, keys: list[str]) -> dict[str, ListingCursor]:
    """The cursors of the listings the config still reads. The others are dropped: kept,
    the state grew with every subreddit ever watched, and one added back months later
    resumed from its old position instead of starting as a new watch does."""
    return {k: state.listings[k] for k in keys if k in state.listings}


def _still_disabled(state: SourceCursor, now: datetime, names: list[str]) -> dict[str, Disabled]:
    """Subreddits still configured and still within their time out."""
    return {k: d for k, d in state.disabled.items() if k in names and d.until > now.timestamp()}


def _disable(sub: str, failure: RedditFailure, batch: PollBatch, now: datetime) -> Disabled:
    """Only a subreddit Reddit will not serve (missing, banned, private, blocked, or a
    request it refuses outright) is disabled; anything else stops the poll."""
    if failure.kind not in NOT_SERVED:
        raise failure
    until = now + DISABLE_FOR
    reason = f"r/{sub}: {failure}; not watched until {until.isoformat(timespec='minutes')}"
    reason += _advice(failure)
    batch.problems.append(reason)
    return Disabled(reason, until.timestamp())


def _advice(failure: RedditFailure) -> str:
    """What the operator can do, where a banned, private or missing subreddit (which
    needs no explaining) is not the reason."""
    if failure.status == 451:
        return "; Reddit blocks it where the daemon runs: remove it from subreddits if that lasts"
    if failure.kind == FailureKind.UNAVAILABLE:
        return ""
    return (
        "; Reddit refuses the request itself, so retrying cannot help: check the name in subreddits"
    )


def _require_one_enabled(
    subreddits: list[str], disabled: dict[str, Disabled], batch: PollBatch
) -> None:
    if all(name in disabled for name in _names(subreddits)):
        batch.problems.append("no subreddit left to watch: every one is disabled")


def build_reddit_source(
    config: RedditInboxSourceConfig | RedditSubredditSourceConfig | RedditSearchSourceConfig,
    reddit: RedditSettings,
    brand: Brand,
    clock: Clock | None = None,
) -> RedditSourceBase:
    connection = RedditConnection(reddit, clock)
    own = brand.own_handles("reddit") | reddit.login_names()
    if isinstance(config, RedditInboxSourceConfig):
        return RedditInboxSource(config, connection, own)
    if isinstance(config, RedditSubredditSourceConfig):
        return RedditSubredditSource(config, connection, own)
    return RedditSearchSource(config, connection, own, brand.name)
