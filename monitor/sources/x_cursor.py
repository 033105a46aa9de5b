"""The X sources' cursor: a since_id plus the state of a paged sweep in progress, and
what one poll read of a sweep.

A sweep is the run of ``next_token`` pages answering one ``since_id``. The newest id
only becomes the new ``since_id`` when the sweep ends: X pages from newest to oldest,
so advancing after the first page would skip the older pages still to come.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from monitor.domain import Mention, ascii_digits
from monitor.sources.base import PollResult, SourceError

# Snowflake ids carry milliseconds since X's epoch in the bits above 22.
SNOWFLAKE_TIME_SHIFT = 22
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657


@dataclass(frozen=True, slots=True)
class XCursor:
    newest_id: str | None = None  # highest id of the last finished sweep
    since_id: str | None = None  # since_id of the sweep in progress
    next_token: str | None = None  # its next page
    sweep_newest: str | None = None  # highest id seen in it so far
    sweep_pages: int = 0
    sweep_count: int = 0  # posts X reported in it (result_count)
    sweep_oldest: str | None = None  # lowest id read in it so far
    # A sweep restarted without its token reads on below the pages it has read.
    until_id: str | None = None

    @property
    def in_sweep(self) -> bool:
        return self.next_token is not None or self.until_id is not None

    def read_on_below(self, since_id: str | None) -> XCursor | None:
        """This sweep without its page token, going on from ``since_id`` up to the
        oldest post it has read; None when it has read no post to go on below."""
        if self.sweep_oldest is None:
            return None
        return replace(self, since_id=since_id, next_token=None, until_id=self.sweep_oldest)

    def may_list(self, post_id: str) -> bool:
        """Whether a page of this sweep still to be read may list the post ``post_id``:
        the sweep goes on, and the id lies between its since_id and the oldest post it
        has read (X pages newest first)."""
        if not self.in_sweep or not ascii_digits(post_id):
            return False
        above = self.since_id is None or int(post_id) > int(self.since_id)
        return above and self.sweep_oldest is not None and int(post_id) < int(self.sweep_oldest)

    def encode(self) -> str:
        values = {k: v for k, v in asdict(self).items() if v not in (None, 0)}
        return json.dumps(values, separators=(",", ":"), sort_keys=True)

    def finish(self) -> XCursor:
        return XCursor(newest_id=newer(self.newest_id, self.sweep_newest))

    def continued(
        self,
        since_id: str | None,
        token: str | None,
        newest: str | None,
        count: int,
        oldest: str | None = None,
    ) -> XCursor:
        """This sweep after one more page; ``token`` None means that page was its last."""
        return replace(
            self,
            since_id=since_id,
            next_token=token,
            sweep_newest=newer(self.sweep_newest, newest),
            sweep_pages=self.sweep_pages + 1,
            sweep_count=self.sweep_count + count,
            sweep_oldest=older(self.sweep_oldest, oldest),
        )


@dataclass(slots=True)
class Sweep:
    """What one poll read of a sweep so far: its pages' mentions, context and problems,
    and the cursor after the last page read."""

    state: XCursor
    pages: int = 0
    mentions: list[Mention] = field(default_factory=list)
    context: list[Mention] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    reset_at: datetime | None = None
    # The other versions of the edited posts among ``mentions``, by id (x_parse).
    versions: dict[str, frozenset[str]] = field(default_factory=dict)

    def add(
        self,
        state: XCursor,
        mentions: Sequence[Mention],
        context: Sequence[Mention],
        problems: Sequence[str],
    ) -> None:
        self.state, self.pages = state, self.pages + 1
        self.mentions.extend(mentions)
        self.context.extend(context)
        self.problems.extend(problems)

    def found(self) -> frozenset[str]:
        """The ids of the posts the pages read so far hold, mentions and context."""
        return frozenset(m.external_id for m in (*self.mentions, *self.context))

    def stopped(self, error: SourceError) -> None:
        self.problems.append(f"the sweep stopped after page {self.pages}: {error}")
        self.reset_at = error.retry_at

    def result(self, *, more: bool, awaited: frozenset[str] = frozenset()) -> PollResult:
        """The poll's result. The ``awaited`` parents (a later page may list them as
        mentions) go in its context, to be promoted when it does; the other parents are
        stored as the customer's posts."""
        return PollResult(
            mentions=[*self.mentions, *(c for c in self.context if c.external_id not in awaited)],
            context=[c for c in self.context if c.external_id in awaited],
            cursor=self.state.encode(),
            more=more,
            problems=self.problems,
            rate_limit_reset_at=self.reset_at,
            caught_up=not self.state.in_sweep,
        )


def decode(raw: str | None) -> XCursor:
    if raw is None or not raw.strip():
        return XCursor()
    if ascii_digits(raw):  # a bare since_id, e.g. set by an operator
        return XCursor(newest_id=raw)
    try:
        data: Any = json.loads(raw)
        return XCursor(**data)
    except (ValueError, TypeError):
        raise SourceError(f"x cursor is not valid: {raw[:60]!r}", permanent=True) from None


def newer(a: str | None, b: str | None) -> str | None:
    ids = [x for x in (a, b) if x is not None and ascii_digits(x)]
    return max(ids, key=int) if ids else None


def older(a: str | None, b: str | None) -> str | None:
    ids = [x for x in (a, b) if x is not None and ascii_digits(x)]
    return min(ids, key=int) if ids else None


def overlap_since(newest_id: str, seconds: float) -> str:
    """A since_id ``seconds`` of snowflake time below ``newest_id``.

    Ids are not strictly time-ordered across X's workers: a post written in the same
    second as our newest can carry a lower id and would be skipped by since_id alone.
    """
    back = int(seconds * 1000) << SNOWFLAKE_TIME_SHIFT
    return str(max(int(newest_id) - back, 1))


def snowflake_time(post_id: str) -> datetime:
    """When the post with this id was created, from the id alone."""
    millis = (int(post_id) >> SNOWFLAKE_TIME_SHIFT) + SNOWFLAKE_EPOCH_MS
    return datetime.fromtimestamp(millis / 1000, UTC)


def snowflake_at(moment: datetime) -> str:
    """The smallest id X could give a post created at ``moment``."""
    millis = int(moment.timestamp() * 1000) - SNOWFLAKE_EPOCH_MS
    return str(max(millis, 0) << SNOWFLAKE_TIME_SHIFT)
