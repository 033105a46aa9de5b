"""Step function ``poll_source``: fetch one page and store it with its cursor, atomically."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.domain import (
    Author,
    Direction,
    Mention,
    MessageKind,
    Platform,
    handle_unknown,
    written_order,
)
from monitor.jobstate import describe
from monitor.runtime import Runtime
from monitor.settings import Settings, SourceConfig
from monitor.sources.base import PollResult, SourceError
from monitor.sources.x_settings import XSourceBase, longest_poll_seconds
from monitor.store.context import promote_context, store_context
from monitor.store.db import transaction, with_retries
from monitor.store.models import Customer, Message, SourceState
from monitor.store.queries import (
    insert_ignoring_duplicates,
    insert_returning_keys,
    locked_source_state,
    one_of,
    source_state,
)

log = logging.getLogger("inchannel.ingest")

BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(minutes=30)
# In a source's details: when its current run of failed polls began (health alerts).
FAILING_SINCE = "failing_since"
# Where the source's cursor stands, for the status's cursor lag: the creation time of the
# newest mention it has read, and whether its last poll left pages waiting.
CURSOR_AT, CAUGHT_UP = "cursor_at", "caught_up"
# When the source last read all there was: every mention posted before it is stored. X and
# Reddit page newest first, so while pages wait this, not the newest mention read, is
# where the unread backlog begins (the spike check waits for it: monitor.health_alerts).
READ_THROUGH = "read_through"
# The source's paging order as of its last poll (PollResult.newest_first); absent in
# state from before it was kept, which reads as newest first, as X and Reddit page.
NEWEST_FIRST = "newest_first"
# A permanent error parks the source this far ahead: stopped until a worker starts again.
PARKED_FOR = timedelta(days=3650)
# A next poll further ahead than this is such a stop, far beyond any backoff or wait.
STOPPED_AFTER = timedelta(days=365)
# A source is not being polled once its last poll is older than its lease
# (source_lease_seconds) -- the longest a dead worker's lease keeps it from the others --
# plus this margin for a slow poll (several pages, HTTP timeouts) and the scheduler's jitter.
STALE_MARGIN = timedelta(minutes=5)


def stale_after(interval_seconds: float, lease_seconds: float) -> timedelta:
    """How long a source may go without a poll attempt (after any wait it stored) before
    it counts as not polled: status says so, and a failure after such a gap starts a new
    run of failures rather than extending one from before the gap."""
    return timedelta(seconds=max(3 * interval_seconds, lease_seconds)) + STALE_MARGIN


def source_stale_after(settings: Settings, source: SourceConfig) -> timedelta:
    """stale_after for a configured source, plus the gap a cron line leaves between
    `run --once` cycles (workers.run_once_every_minutes): polled once a run, a source
    polled on schedule was reported not polled, and each run's failure started a new
    run of failures, so a source failing for hours never read as failing."""
    lease = source_lease_seconds(settings, source)
    return stale_after(source.interval_seconds, lease) + settings.workers.between_runs


def last_attempt_due(
    last_poll_at: datetime | None, next_poll_at: datetime | None, reset_at: datetime | None
) -> datetime | None:
    """When the source was last polled, or was last due to be: a stored retry time or
    rate-limit reset ahead of its last poll is a wait, not a gap in its polls."""
    marks = [m for m in (last_poll_at, next_poll_at, reset_at) if m is not None]
    return max(marks) if marks else None


def is_stopped(next_poll_at: datetime | None, now: datetime) -> bool:
    """Whether a source with this next poll time was stopped by a permanent error."""
    return next_poll_at is not None and next_poll_at > now + STOPPED_AFTER


def poll_source(rt: Runtime, name: str) -> bool:
    """Poll source ``name`` once. Returns True when another page is waiting.

    The new messages and the advanced cursor are committed in one transaction, so a
    crash either keeps both or neither; re-polling the same items inserts nothing.
    """
    source = rt.sources[name]
    now = rt.clock.now()
    leased = _lease(rt, name, now)
    if leased is None:
        log.debug("source=%s polled by another worker", name)
        return False
    cursor, waiting_until = leased
    if waiting_until is not None and waiting_until > now:
        log.debug("source=%s skipped until=%s", name, waiting_until.isoformat())
        return False
    started = time.perf_counter()
    try:
        result = source.poll(cursor, now=now)
    except SourceError as exc:
        _record_failure(rt, name, now, exc, time.perf_counter() - started)
        return False
    except Exception as exc:  # one bad source never stops the daemon (DESIGN rule 6)
        seconds = time.perf_counter() - started
        log.exception("source=%s poll crashed", name)
        crash = SourceError(f"{type(exc).__name__}: {exc}", kind="crash")
        _record_failure(rt, name, now, crash, seconds)
        return False
    try:
        new = with_retries(functools.partial(_commit_page, rt, name, result, now))
    except OperationalError:
        raise  # the database locked or away: the step fails, no source is to blame
    except Exception as exc:
        # A value the database refuses (an IntegrityError, a DataError) fails this page
        # at every poll: unrecorded, the source was fetched (on X, billed) each interval
        # with no back-off and nothing in status. The page's transaction rolled back, so
        # its cursor stays before it and the page is read again after the back-off.
        log.exception("source=%s the database refused the page", name)
        refused = SourceError(f"the database refused the page: {describe(exc)}", kind="crash")
        _record_failure(rt, name, now, refused, time.perf_counter() - started)
        return False
    for kind in result.read_errors:
        # A listing failing inside a poll that succeeded: counted like a failed poll's.
        rt.metrics.read_failed(name, kind)
    if result.error is not None:
        # Part read and stored (or discarded with a lost lease), and still a failed poll.
        seconds = time.perf_counter() - started
        rt.metrics.poll_failed(name, result.error.kind, seconds=seconds, new=new or 0)
        if new is not None:
            log.warning("source=%s poll failed, new=%d stored: %s", name, new, result.error)
        return False
    if new is None:
        # Timed as a failed poll that lost its lease is (_record_failure): the fetch
        # succeeded, and one slower than the lease is the slowest success of all.
        rt.metrics.polled(name, new=0, seconds=time.perf_counter() - started)
        return False
    log.info(
        "source=%s fetched=%d new=%d skipped=%d more=%s duration_ms=%.1f",
        name,
        len(result.mentions),
        new,
        len(result.problems),
        result.more,
        (time.perf_counter() - started) * 1000,
    )
    rt.metrics.polled(name, new=new, seconds=time.perf_counter() - started)
    return result.more


def _commit_page(rt: Runtime, name: str, result: PollResult, now: datetime) -> int | None:
    """Store a polled page and its cursor in one transaction; None if the lease is lost.

    Run again after a deadlock (with_retries): workers ingesting different sources
    touch the same customers, and everything here is idempotent.
    """
    with transaction(rt.sessions) as session:
        # A poll slower than the lease lets another worker take the source meanwhile;
        # then this page (and its older cursor) must not overwrite what that worker stored.
        # Locked before it is read (on SQLite a bare read locks nothing): the details
        # written below are computed from it, and a backfill merging its own meanwhile
        # would be overwritten.
        state = locked_source_state(session, name)
        if state.lease_owner != rt.worker_id:
            log.warning("source=%s lease lost during the poll; page discarded", name)
            return None
        new = _store(rt, session, name, result.mentions, now)
        store_context(session, result.context, name, now, rt.own_handles)
        if result.error is not None:
            # In the page's transaction: committed apart, a crash between the two left
            # the source polled again at once, the failing listing with it.
            _count_failure(rt, state, now, result.error, result.problems)
        else:
            state.last_poll_at = state.last_success_at = now
            state.consecutive_failures = 0
            state.last_error = "; ".join(result.problems)[:2000] or None
            state.next_poll_at = None
        state.cursor = result.cursor
        state.rate_limit_reset_at = result.rate_limit_reset_at
        state.items_total += new
        details = state.details or {}
        if result.error is None:
            details = {k: v for k, v in details.items() if k != FAILING_SINCE}
        position = _cursor_position(details, result, now)
        state.details = {**details, **(result.details or {}), **position}
        return new


def _cursor_position(details: dict[str, Any], result: PollResult, now: datetime) -> dict[str, Any]:
    times = [m.created_at for m in result.mentions]
    known = cursor_at(details)
    newest = max([*times, known] if known is not None else times, default=None)
    caught_up = not result.more if result.caught_up is None else result.caught_up
    through = now.isoformat() if caught_up else details.get(READ_THROUGH)
    return {
        CURSOR_AT: newest and newest.isoformat(),
        CAUGHT_UP: caught_up,
        READ_THROUGH: through,
        NEWEST_FIRST: result.newest_first,
    }


def cursor_at(details: dict[str, Any]) -> datetime | None:
    return _moment(details, CURSOR_AT)


def read_through(details: dict[str, Any]) -> datetime | None:
    return _moment(details, READ_THROUGH)


def _moment(details: dict[str, Any], key: str) -> datetime | None:
    """A stored time, or None when it does not read as one with its zone (a hand edit,
    a bad restore): without one it cannot be compared with now."""
    return aware_time(details.get(key))


def aware_time(raw: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def lease_seconds(rt: Runtime, name: str) -> float:
    """How long a lease holds source ``name`` (source_lease_seconds)."""
    return source_lease_seconds(rt.settings, rt.settings.source(name))


def source_lease_seconds(settings: Settings, source: SourceConfig) -> float:
    """How long a lease holds ``source``: workers.lease_seconds, at least three of its
    poll intervals, and for an X source at least the longest its poll can take. The
    lease is renewed only as a poll starts: one it did not outlast let another worker
    take the source mid-poll, and the pages X had billed were discarded."""
    lease = max(settings.workers.lease_seconds, 3 * source.interval_seconds)
    if isinstance(source, XSourceBase) and settings.x is not None:
        lease = max(lease, longest_poll_seconds(source, settings.x.timeout_seconds))
    return lease


def take_lease(rt: Runtime, name: str, now: datetime) -> bool:
    """Atomically take or renew the lease on a source; False if another worker holds it.

    The lease outlives a few polls, so a worker killed mid-poll (SIGKILL, no clean-up)
    blocks its sources only until the lease expires; then another worker takes over.
    """
    return _lease(rt, name, now) is not None


def _lease(rt: Runtime, name: str, now: datetime) -> tuple[str | None, datetime | None] | None:
    """take_lease: None if another worker holds it, else where the source's next poll
    starts (its cursor) and the time it waits until (a back-off, a rate limit), as the
    lease's UPDATE returns them. Read in a transaction of their own after it, they cost
    every poll a transaction and a SELECT more; returned, they are the row as the lease
    found it, another worker's last page included (PostgreSQL re-reads a row it waited
    for)."""
    expires = now + timedelta(seconds=lease_seconds(rt, name))
    with transaction(rt.sessions) as session:
        source_state(session, name)  # created if missing
        free = or_(
            SourceState.lease_owner.is_(None),
            SourceState.lease_owner == rt.worker_id,
            SourceState.lease_expires_at < now,
        )
        taken = session.execute(
            update(SourceState)
            .where(SourceState.name == name, free)
            .values(lease_owner=rt.worker_id, lease_expires_at=expires)
            .returning(
                SourceState.cursor, SourceState.rate_limit_reset_at, SourceState.next_poll_at
            )
        ).one_or_none()
        if taken is None:
            return None
        cursor, reset_at, next_poll_at = taken
        return cursor, _not_before(reset_at, next_poll_at)


def release_leases(rt: Runtime, names: Collection[str] | None = None) -> int:
    """On a clean stop, hand our sources (or only ``names``) to the other workers at
    once. Returns how many leases were released."""
    mine = SourceState.lease_owner == rt.worker_id
    if names is not None:
        mine = and_(mine, SourceState.name.in_(list(names)))
    with transaction(rt.sessions) as session:
        released = session.execute(
            update(SourceState).where(mine).values(lease_owner=None, lease_expires_at=None)
        )
        return int(getattr(released, "rowcount", 0))


def resume_stopped_sources(rt: Runtime) -> list[str]:
    """Poll again the sources a permanent error stopped (revoked credentials, a banned
    account): starting a worker after fixing the cause is how an operator says it is
    fixed. If it is not, the first poll stops the source again, at the cost of one
    request. Returns the names resumed."""
    now = rt.clock.now()
    with transaction(rt.sessions) as session:
        query = select(SourceState).where(
            SourceState.name.in_(list(rt.sources)),
            SourceState.next_poll_at > now + STOPPED_AFTER,
        )
        names = []
        for state in session.scalars(query):
            state.next_poll_at = None
            names.append(state.name)
    for name in names:
        log.info("source=%s was stopped by a permanent error; polling it again", name)
    return names


def _not_before(reset_at: datetime | None, next_poll_at: datetime | None) -> datetime | None:
    moments = [m for m in (reset_at, next_poll_at) if m is not None]
    return max(moments) if moments else None


def _record_failure(
    rt: Runtime, name: str, now: datetime, error: SourceError, seconds: float
) -> None:
    # This process's failed poll, whoever holds the source now: one slower than the
    # lease (a timeout) is the slowest failure of all, and went uncounted.
    rt.metrics.poll_failed(name, error.kind, seconds=seconds)
    with transaction(rt.sessions) as session:
        state = locked_source_state(session, name)  # its details are read, then written
        if state.lease_owner != rt.worker_id:
            # The poll outlasted the lease and another worker polls the source now:
            # its state is that worker's to keep, not ours to back off or stop.
            log.warning("source=%s lease lost during the poll; failure not recorded", name)
            return
        _count_failure(rt, state, now, error)
    log.warning(
        "source=%s poll failed permanent=%s failures=%d retry_at=%s error=%s",
        name,
        error.permanent,
        state.consecutive_failures,
        state.next_poll_at,
        error,
    )


def _count_failure(
    rt: Runtime, state: SourceState, now: datetime, error: SourceError, problems: Sequence[str] = ()
) -> None:
    """A failed poll into the source's locked ``state``: counted, shown, backed off."""
    if _after_gap(rt, state, now):
        state.consecutive_failures = 0
        state.details = {k: v for k, v in (state.details or {}).items() if k != FAILING_SINCE}
    state.last_poll_at = now
    state.consecutive_failures += 1
    state.last_error = "; ".join([str(error), *problems])[:2000]
    if FAILING_SINCE not in (state.details or {}):
        state.details = {**(state.details or {}), FAILING_SINCE: now.isoformat()}
    backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(state.consecutive_failures - 1, 10))
    # A reset already past (our clock ahead of the platform's) would mean no wait at
    # all, and a source hammering a limit it is still under: back off instead.
    waits = error.retry_at is not None and error.retry_at > now
    state.next_poll_at = error.retry_at if waits else now + backoff
    if error.permanent:
        state.next_poll_at = now + PARKED_FOR


def _after_gap(rt: Runtime, state: SourceState, now: datetime) -> bool:
    """Whether nobody polled the source for longer than status allows before this
    failure (the daemon was down): failing time is time the source was polled and
    failed, so a run of failures from before the gap ends there, and this one starts
    a new run. Otherwise a source failing when the daemon stopped read as failing for
    the whole downtime after a restart."""
    due = last_attempt_due(state.last_poll_at, state.next_poll_at, state.rate_limit_reset_at)
    limit = source_stale_after(rt.settings, rt.settings.source(state.name))
    return due is not None and now - due > limit


def _store(
    rt: Runtime, session: Session, source: str, mentions: Sequence[Mention], now: datetime
) -> int:
    if not mentions:
        return 0
    mentions = known_authors(session, mentions)
    customer_ids = upsert_customers(session, mentions, now)
    rows = [
        message_row(rt, m, source, customer_ids[(m.platform.value, m.author.id)], now)
        for m in sorted(mentions, key=written_order)
    ]
    inserted = insert_returning_keys(session, Message, rows, MESSAGE_KEY)
    # Only a row the INSERT dropped can have an earlier copy to promote or sharpen: a
    # page of new mentions needs no further statement.
    again = _arrived_again(rows, inserted)
    new = len(inserted) + len(promote_context(session, again))
    _sharpen_kinds(session, again)
    return new


MESSAGE_KEY = ("platform", "external_id")


def _arrived_again(
    rows: Sequence[dict[str, Any]], inserted: set[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    """The rows whose message was stored before this page, or earlier in it (the first
    row with a key is the one inserted)."""
    again: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for row in rows:
        key = (row["platform"], row["external_id"])
        if key not in inserted or key in seen:
            again.append(row)
        seen.add(key)
    return again


# Kinds a message read by a keyword watch or search first takes from a source that knows
# more: the inbox (or X's mentions) says it names the brand or answers it.
SHARPER = frozenset({MessageKind.MENTION.value, MessageKind.REPLY.value})


def _sharpen_kinds(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """A message stored as a keyword hit, arriving again as a mention or a reply, takes
    that kind while it is not yet decided. The unique key drops the second arrival, so
    the kind was whichever source read it first, and rules for mentions and replies
    never saw a reply to the brand the watch read first. A decided message keeps the
    kind the rules saw (the processor holds its row locked while deciding)."""
    # On X with its reply_allowed: X's mentions timeline holds posts X lets the brand
    # answer, which a search hit naming no brand handle was stored as refusing. Not on
    # Reddit, whose inbox items do not say their thread is locked: a watch's word stands.
    wanted: dict[tuple[str, str, bool], list[str]] = {}
    for row in rows:
        if row["kind"] in SHARPER:
            key = (row["platform"], row["kind"], bool(row["reply_allowed"]))
            wanted.setdefault(key, []).append(row["external_id"])
    for (platform, kind, reply_allowed), external_ids in wanted.items():
        session.execute(
            update(Message)
            .where(
                Message.platform == platform,
                Message.external_id.in_(external_ids),
                Message.direction == Direction.INBOUND.value,
                Message.kind == MessageKind.KEYWORD.value,
                Message.processed.is_(False),
            )
            .values(kind=kind, **_reply_allowed(platform, reply_allowed))
        )


def _reply_allowed(platform: str, allowed: bool) -> dict[str, bool]:
    return {"reply_allowed": allowed} if platform == Platform.X.value else {}


def message_row(
    rt: Runtime, mention: Mention, source: str, customer_id: int, now: datetime
) -> dict[str, Any]:
    own = is_own(rt, mention)
    return {
        "platform": mention.platform.value,
        "external_id": mention.external_id,
        "direction": Direction.INBOUND.value,
        "kind": (MessageKind.OWN if own else mention.kind).value,
        "source": source,
        "customer_id": customer_id,
        "author_handle": mention.author.handle,
        "text": mention.text,
        "url": mention.url,
        "conversation_id": mention.conversation_id,
        "in_reply_to": mention.in_reply_to,
        "lang": mention.lang,
        "reply_allowed": mention.reply_allowed,
        "created_at": mention.created_at,
        "ingested_at": now,
        "processed": False,
    }


def is_own(rt: Runtime, mention: Mention) -> bool:
    """Written by one of the brand's accounts (the predicate ``rules test`` uses too)."""
    return rt.brand_accounts.wrote(mention)


def known_authors(session: Session, mentions: Sequence[Mention]) -> list[Mention]:
    """The mentions, each author X sent without a handle given the one stored for them.

    X leaves suspended, withheld and protected authors (and some under load) out of
    includes.users; their user id standing in for the handle replaced a known customer's
    handle, and showed on their messages and in the bot's replies."""
    unknown = {m.author.id for m in mentions if _handle_unknown(m)}
    if not unknown:
        return list(mentions)
    query = select(Customer.platform_user_id, Customer.handle).where(
        Customer.platform == Platform.X.value, Customer.platform_user_id.in_(sorted(unknown))
    )
    stored: dict[str, str] = dict(session.execute(query).all())
    return [
        replace(m, author=replace(m.author, handle=stored[m.author.id]))
        if _handle_unknown(m) and m.author.id in stored
        else m
        for m in mentions
    ]


def _handle_unknown(mention: Mention) -> bool:
    return handle_unknown(mention.platform, mention.author.id, mention.author.handle)


def upsert_customers(
    session: Session, mentions: Sequence[Mention], now: datetime
) -> dict[tuple[str, str], int]:
    """Upsert one customer row per platform account; return their ids."""
    authors = {(m.platform.value, m.author.id): m.author for m in mentions}
    rows = [
        {
            "platform": platform,
            "platform_user_id": author_id,
            "handle": author.handle,
            "display_name": author.display_name,
            "followers": author.followers,
            "verified": author.verified,
            "account_created_at": author.account_created_at,
            "first_seen_at": now,
            "last_seen_at": now,
        }
        # In key order, so two workers inserting the same new customers lock them in
        # the same order and wait instead of deadlocking.
        for (platform, author_id), author in sorted(authors.items())
    ]
    insert_ignoring_duplicates(session, Customer, rows)
    ids: dict[tuple[str, str], int] = {}
    changed: list[dict[str, Any]] = []
    for platform in {p for p, _ in authors}:
        wanted = [a for p, a in authors if p == platform]
        query = select(
            Customer.id,
            Customer.platform_user_id,
            Customer.handle,
            Customer.followers,
            Customer.account_created_at,
            Customer.display_name,
        ).where(Customer.platform == platform, one_of(session, Customer.platform_user_id, wanted))
        for customer_id, user_id, handle, followers, created, name in session.execute(query):
            ids[(platform, user_id)] = customer_id
            author = authors[(platform, user_id)]
            if handle_unknown(Platform(platform), author.id, author.handle):
                author = replace(author, handle=handle)  # stored by a worker meanwhile
            change = _customer_change(author, Stored(handle, followers, created, name))
            if change is not None:
                changed.append({"b_id": customer_id, **change})
    _touch_customers(session, list(ids.values()), changed, now)
    return ids


@dataclass(frozen=True, slots=True)
class Stored:
    """What the customer row holds of the account."""

    handle: str
    followers: int | None
    created: datetime | None
    display_name: str


def _customer_change(author: Author, stored: Stored) -> dict[str, Any] | None:
    """The stored customer's new handle, follower count, creation time and display name,
    or None when none of them changed."""
    fresh = author.followers if author.followers is not None else stored.followers
    # A customer stored before the platform said (or before it was kept) gets it from
    # their next post: account_age rules read it.
    born = stored.created or author.account_created_at
    # A renamed account is greeted by its new name ({first_name}); a post that brings
    # no name (X left the user out of includes.users) keeps the stored one.
    name = author.display_name or stored.display_name
    if (author.handle, fresh, born, name) == (
        stored.handle,
        stored.followers,
        stored.created,
        stored.display_name,
    ):
        return None
    return {"b_handle": author.handle, "b_followers": fresh, "b_created": born, "b_name": name}


LAST_SEEN_RESOLUTION = timedelta(hours=1)


def _touch_customers(
    session: Session, ids: list[int], changed: list[dict[str, Any]], now: datetime
) -> None:
    """last_seen_at, to the hour; a renamed handle or a new follower count only where
    it changed (rarely), as one executemany.

    Every row updated stays locked until the page commits, and workers ingesting other
    sources (or processing) wait for it: so last_seen_at moves only once it is an hour
    old, which leaves most pages of a busy brand with nothing to lock.
    """
    stale = now - LAST_SEEN_RESOLUTION
    session.execute(
        update(Customer)
        .where(one_of(session, Customer.id, sorted(ids)), Customer.last_seen_at < stale)
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed:
        changed.sort(key=lambda row: int(row["b_id"]))
        statement = (
            update(Customer.__table__)  # type: ignore[arg-type]
            .where(Customer.__table__.c.id == bindparam("b_id"))
            .values(
                handle=bindparam("b_handle"),
                followers=bindparam("b_followers"),
                account_created_at=bindparam("b_created"),
                display_name=bindparam("b_name"),
            )
        )
        session.connection().execute(statement, changed)
