"""Replies failing on a platform: the latest run of sends refused there with no reply
posted since, kept in a ``@replies:<platform>`` row of ``source_state`` where status, the
Health page and the health job read it (the pattern of a failing job's ``@job:`` row).

Each reply that dies goes to a person, case by case, and the platform's sources may read
fine meanwhile: with its posting credentials revoked, the account suspended or banned
from a subreddit, or an X app without write access, every reply died while status said
healthy and no operations alert fired. Rows exist only once a reply has failed, and a
reply posted while none fails writes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.orm import Session

from monitor.domain import Platform
from monitor.ingest import FAILING_SINCE, aware_time
from monitor.settings import Settings, SourceConfig
from monitor.sources.reddit_settings import (
    RedditInboxSourceConfig,
    RedditSearchSourceConfig,
    RedditSubredditSourceConfig,
)
from monitor.sources.x_settings import XMentionsSourceConfig, XSearchSourceConfig
from monitor.status_problems import bounded_error
from monitor.store.models import SourceState
from monitor.store.queries import locked_source_state
from responders.base import ResponderError

if TYPE_CHECKING:
    from monitor.status import SourceHealth

REPLIES_STATE_PREFIX = "@replies:"
# A reply's outcome on its platform, in the order sent: None when it was posted.
Send = tuple[Platform, ResponderError | None]


def state_name(platform: Platform) -> str:
    return f"{REPLIES_STATE_PREFIX}{platform.value}"


def platform_of(name: str) -> str | None:
    """The platform a ``@replies:`` state row is about; None for any other row."""
    return (
        name.removeprefix(REPLIES_STATE_PREFIX) if name.startswith(REPLIES_STATE_PREFIX) else None
    )


def platforms_in_use(settings: Settings) -> frozenset[str]:
    """The platforms replies may still go to: one with a responder that posts there, or
    one an enabled source reads. A run on any other is over with nothing posted: no
    reply goes there to end it, and it was reported (and alerted) for good. A recording
    responder posts nowhere, as none configured."""
    used: set[str] = {n for n in settings.responders if settings.posts_to(n)}
    for source in settings.sources:
        if source.enabled:
            used |= _platforms_read(source)
    return frozenset(used)


def _platforms_read(source: SourceConfig) -> set[str]:
    if isinstance(source, XMentionsSourceConfig | XSearchSourceConfig):
        return {Platform.X.value}
    reddit = RedditInboxSourceConfig | RedditSubredditSourceConfig | RedditSearchSourceConfig
    if isinstance(source, reddit):
        return {Platform.REDDIT.value}
    return {p.value for p in Platform}  # a replay file may hold any platform's mentions


def record(session: Session, sends: Sequence[Send], now: datetime) -> None:
    """Count a group of outcomes. The dispatcher calls it last in the group's
    transaction: the row's lock is then taken after every case lock, and held only
    until the commit, so two workers never wait on each other for both."""
    for platform in sorted({p for p, _ in sends}):
        mine = [error for p, error in sends if p == platform]
        posted = [i for i, error in enumerate(mine) if error is None]
        # Only the failures after the group's last posted reply are still a run.
        failed = [e for e in mine[posted[-1] + 1 if posted else 0 :] if e is not None]
        if posted:
            _posted(session, platform, now)
        if failed:
            _failed(session, platform, failed, now)


def _posted(session: Session, platform: Platform, now: datetime) -> None:
    """A reply went out: the platform takes our posts. A no-op while none fails (no row,
    or none counted: PostgreSQL locks no row its WHERE leaves out), the usual case."""
    session.execute(
        update(SourceState)
        .where(SourceState.name == state_name(platform), SourceState.consecutive_failures > 0)
        .values(consecutive_failures=0, last_success_at=now, last_error=None, details={})
        .execution_options(synchronize_session=False)
    )


def _failed(
    session: Session, platform: Platform, errors: Sequence[ResponderError], now: datetime
) -> None:
    state = locked_source_state(session, state_name(platform))
    state.consecutive_failures += len(errors)
    state.last_poll_at = now  # the last failed send
    # The platform's words, as the action keeps them (its last_error): no credentials.
    state.last_error = str(errors[-1])[:2000]
    if aware_time((state.details or {}).get(FAILING_SINCE)) is None:
        state.details = {FAILING_SINCE: now.isoformat()}


def failing_since(
    source: SourceHealth, after: timedelta | None, in_use: Collection[str]
) -> datetime | None:
    """When the run of failed replies began, if they have failed without one posted for
    ``after`` (alerts.source_failing_minutes; None turns it off). Time between the first
    and the last failure, not until now: one reply refused for itself (a deleted post, a
    locked thread) on a quiet day is no sign the platform refuses them all, however long
    the next one takes to come. Only a reply posted ends it (every platform has a
    responder: one not configured records its posts), or the platform leaving the
    config (not ``in_use``, :func:`platforms_in_use`)."""
    since = aware_time(source.details.get(FAILING_SINCE))
    last = source.last_poll_at
    if after is None or platform_of(source.name) not in in_use or not source.consecutive_failures:
        return None
    if since is None or last is None or last - since < after:
        return None
    return since


def failing_text(source: SourceHealth, since: datetime, now: datetime) -> str:
    """The problem and the alert, in the same words."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    n = source.consecutive_failures
    sends = f"{n} failed send{'s' if n != 1 else ''}"
    error = bounded_error(source.last_error)
    platform = platform_of(source.name)
    return f"replies on {platform}: failing for {minutes} min, {sends} and none posted: {error}"
