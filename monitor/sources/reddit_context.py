"""Thread context for Reddit comments: the submission and up to ``depth`` parents.

A comment's case is its chain up to the submission (conversation_id = link_id); to show
that chain, parents not seen yet are fetched by fullname through ``/api/info``, one
request per 100 fullnames per level for the whole poll, so the cost is ``depth``
requests per poll unless over 100 parents are new at one level.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from monitor.domain import Mention, MessageKind
from monitor.sources.reddit import RedditConnection
from monitor.sources.reddit_failure import FailureKind, RedditFailure
from monitor.sources.reddit_items import RedditItem, to_mention

# Fullnames remembered between polls so a busy thread's submission is fetched once.
REMEMBERED = 500


@dataclass(frozen=True, slots=True)
class Fetched:
    posts: list[Mention]
    closed: frozenset[str] = frozenset()  # fetched submissions locked or archived
    failure: RedditFailure | None = None  # the level that failed; the levels before it kept


class ThreadContext:
    def __init__(self, connection: RedditConnection, depth: int, web_url: str) -> None:
        self.connection = connection
        self.depth = depth
        self.web_url = web_url

    def fetch(self, comments: Iterable[RedditItem], known: set[str]) -> Fetched:
        """Context posts for ``comments``: their submissions and parent chains, minus
        ``known`` fullnames (already stored or fetched); ``known`` is updated.

        The known submissions of their threads are asked again with the first level,
        for their lock only: moderators lock a thread once it has drawn comments, and no
        comment carries its thread's lock. A level that fails (bad credentials aside)
        ends the fetch: the levels fetched before it are returned."""
        comments = [c for c in comments if c.is_comment]
        known.update(c.fullname for c in comments)
        threads = {c.conversation_id for c in comments if c.conversation_id.startswith("t3_")}
        recheck = threads & known
        fetched, failure = self._levels((_parents(comments) - known) | recheck, known)
        return Fetched(
            [self._mention(item) for item in fetched if item.fullname not in recheck],
            frozenset(i.fullname for i in fetched if not i.is_comment and (i.locked or i.archived)),
            failure,
        )

    def _levels(
        self, wanted: set[str], known: set[str]
    ) -> tuple[list[RedditItem], RedditFailure | None]:
        fetched: list[RedditItem] = []
        for _ in range(self.depth):
            if not wanted:
                break
            try:
                # All of them: praw asks 100 a request. A cut here was marked known all
                # the same, so the parents past the first 100 were never fetched.
                level = self.connection.things(sorted(wanted))
            except RedditFailure as exc:
                if exc.kind == FailureKind.AUTH:
                    raise
                return fetched, exc
            known.update(wanted)
            fetched += level
            wanted = _parents(level) - known
        return fetched, None

    def _mention(self, item: RedditItem) -> Mention:
        shown = item if item.author is not None else replace(item, author="[deleted]")
        return to_mention(shown, MessageKind.REPLY, self.web_url)


def _parents(items: Iterable[RedditItem]) -> set[str]:
    wanted: set[str] = set()
    for item in items:
        if item.is_comment:
            wanted.add(item.conversation_id)
            if item.parent_id:
                wanted.add(item.parent_id)
    return wanted


def remember(previous: tuple[str, ...], known: set[str]) -> tuple[str, ...]:
    """``previous`` plus the fullnames added to ``known``, the newest REMEMBERED kept."""
    added = sorted(known.difference(previous))
    return (*previous, *added)[-REMEMBERED:]
