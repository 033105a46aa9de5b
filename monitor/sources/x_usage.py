"""X API usage against the daily budget, source details and audit events, in the database.

Counters live in the ``usage`` table per UTC day, so every worker sharing the database
sees one total. X bills per post read and per post created (notes/platforms.md 5.1);
the counters record what was *returned*, which over-counts the overlap re-reads X
bills once per day, so the budget errs on the safe side.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from monitor.notifications import enqueue
from monitor.store.db import transaction
from monitor.store.models import Event, SourceState, Usage
from monitor.store.queries import insert_ignoring_duplicates, locked_source_state

if TYPE_CHECKING:
    from monitor.sources.x import Page

REQUESTS = "x:requests"
READS = "x:reads"  # posts returned (data + includes.tweets)
USER_READS = "x:user_reads"  # users returned in includes.users
WRITES = "x:writes"
# Reads reserved by requests under way: their worst case, until their page is counted.
# What status shows, summed over the holds' own rows (HOLD_PREFIX); a row under this very
# key is an earlier release's, kept until it is released or the day ends.
READS_HELD = "x:reads_held"
# Each hold is a row of its own, x:reads_held:<until, epoch seconds>:<random>: a worker
# killed before its release left its reads held until midnight in the shared counter,
# where now its row lapses at that time, and the next hold deletes it.
HOLD_PREFIX = READS_HELD + ":"
# Past its requests' timeouts, how long a hold still counts: the database work around
# them, and workers' clocks a little apart (a clock further ahead drops live holds).
HOLD_MARGIN = timedelta(seconds=60)
# When requests under way hold the last of the read budget: soon counted, and released.
HELD_RETRY = timedelta(seconds=30)
WRITES_WITH_URL = "x:writes_url"
# In a source's details while the day's read budget is spent: until when it waits.
BUDGET_STOP = "budget_stop"

# The counter a budget stop (reads/writes) is about: its row serialises recording it.
BUDGET_COUNTERS = {"reads": READS, "writes": WRITES}

# US dollars per resource, pay-per-use price list quoted in notes/platforms.md 5.1.
PRICES = {READS: 0.005, USER_READS: 0.010, WRITES: 0.015, WRITES_WITH_URL: 0.200}


# The expansions (monitor.sources.x.EXPANSIONS) bring each returned post's referenced
# posts in includes.tweets, billed like those in data: at most two, as a reply can also
# quote a post (a retweet references one; X expands a single level).
INCLUDED_PER_POST = 2


def worst_case_reads(posts: int) -> int:
    """The most posts a request for ``posts`` posts can bill, includes.tweets counted."""
    return posts * (1 + INCLUDED_PER_POST)


@dataclass(frozen=True, slots=True)
class Hold:
    """Reads reserved for one request: its own usage row, deleted on release."""

    key: str
    day: str
    amount: int


def hold_lifetime(timeout_seconds: float) -> timedelta:
    """How long after the moment it is taken a hold may still be in use: it is taken
    just before its one request, which may wait the timeout to connect and as long
    again to read."""
    return timedelta(seconds=2 * timeout_seconds) + HOLD_MARGIN


def hold_until(key: str) -> datetime | None:
    """When the hold in the usage row ``key`` lapses; None for a row that is no hold.

    A key that does not parse lapsed long ago: nothing we wrote, and it must not hold
    the budget for good."""
    if not key.startswith(HOLD_PREFIX):
        return None
    stamp = key[len(HOLD_PREFIX) :].split(":", 1)[0]
    if not stamp.isdigit():
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(stamp), UTC)


def fold_holds(counts: Mapping[str, int], moment: datetime) -> dict[str, int]:
    """``counts`` with every live hold added into READS_HELD and its own row left out;
    lapsed holds count nowhere, though their rows wait for the next hold to go."""
    folded: dict[str, int] = {}
    for key, count in counts.items():
        until = hold_until(key)
        if until is None:
            folded[key] = folded.get(key, 0) + count
        elif until >= moment:
            folded[READS_HELD] = folded.get(READS_HELD, 0) + count
    return folded


def day_of(moment: datetime) -> str:
    return moment.date().isoformat()


def next_utc_midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date() + timedelta(days=1), time(0), tzinfo=moment.tzinfo)


def page_counts(page: Page | None) -> dict[str, int]:
    """What one request costs: itself and, if it was answered, every resource returned.

    X bills the posts and users in ``includes`` like those in ``data``."""
    counts = {REQUESTS: 1}
    if page is not None:
        counts[READS] = len(page.tweets) + len(page.included)
        counts[USER_READS] = len(page.users)
    return counts


def add_usage(session: Session, key: str, moment: datetime, amount: int) -> None:
    """Add ``amount`` to today's counter; an atomic UPDATE, safe across workers."""
    if amount <= 0:
        return
    day = day_of(moment)
    insert_ignoring_duplicates(session, Usage, [{"key": key, "day": day, "count": 0}])
    session.execute(
        update(Usage).where(Usage.key == key, Usage.day == day).values(count=Usage.count + amount)
    )


def usage_on(session: Session, moment: datetime) -> dict[str, int]:
    rows = session.execute(select(Usage.key, Usage.count).where(Usage.day == day_of(moment)))
    return fold_holds({key: int(count) for key, count in rows if key.startswith("x:")}, moment)


def month_usage(session: Session, moment: datetime) -> dict[str, int]:
    first = moment.date().replace(day=1).isoformat()
    rows = session.execute(
        select(Usage.key, Usage.count).where(Usage.day >= first, Usage.day <= day_of(moment))
    )
    totals: dict[str, int] = {}
    # Holds are no usage: the days' counters only.
    for key, count in rows:
        if key.startswith("x:") and hold_until(key) is None:
            totals[key] = totals.get(key, 0) + int(count)
    return totals


def cost(counts: Mapping[str, int]) -> float:
    # A post with a URL is billed at the URL price instead of the plain one.
    plain_writes = counts.get(WRITES, 0) - counts.get(WRITES_WITH_URL, 0)
    return (
        counts.get(READS, 0) * PRICES[READS]
        + counts.get(USER_READS, 0) * PRICES[USER_READS]
        + max(plain_writes, 0) * PRICES[WRITES]
        + counts.get(WRITES_WITH_URL, 0) * PRICES[WRITES_WITH_URL]
    )


def projected_month_cost(session: Session, moment: datetime) -> float:
    """Month-to-date cost extrapolated linearly over the whole month."""
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    elapsed = max((moment - start).total_seconds(), 3600.0)  # no wild guess in hour one
    return cost(month_usage(session, moment)) * (following - start).total_seconds() / elapsed


class XLedger:
    """The X adapters' window on the database: counters, source details, events."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        notify: Sequence[str] = (),
        *,
        hold_for: timedelta = timedelta(minutes=5),
    ) -> None:
        self.sessions = sessions
        self.notify = list(notify)  # channels told about a budget stop
        # How long this ledger's holds count unreleased (hold_lifetime): the adapters
        # give their own, from their timeouts.
        self.hold_for = hold_for

    def add(self, moment: datetime, counts: Mapping[str, int]) -> None:
        with transaction(self.sessions) as session:
            for key, amount in counts.items():
                add_usage(session, key, moment, amount)

    def today(self, moment: datetime) -> dict[str, int]:
        with self.sessions() as session:
            return usage_on(session, moment)

    def hold_reads(self, moment: datetime, amount: int, limit: int) -> Hold | tuple[int, int]:
        """Reserve ``amount`` of the day's ``limit`` reads for a request about to be made:
        the Hold to release, else the (read, held) counts that leave no room.

        Checked and reserved under the reads counter's lock, so two workers (or a daemon
        and a backfill) cannot both take the last room. Release with ``release_reads``
        once the page is counted; a process killed meanwhile leaves its hold until
        ``hold_for`` has passed, when the next hold deletes it."""
        with transaction(self.sessions) as session:
            _lock_counter(session, READS, moment)
            _drop_lapsed_holds(session, moment)
            today = usage_on(session, moment)
            spent, held = today.get(READS, 0), today.get(READS_HELD, 0)
            if spent + held + amount > limit:
                return spent, held
            # Whole seconds, rounded up: never lapsed before hold_for has passed.
            until = math.ceil((moment + self.hold_for).timestamp())
            hold = Hold(f"{HOLD_PREFIX}{until}:{secrets.token_hex(8)}", day_of(moment), amount)
            session.add(Usage(key=hold.key, day=hold.day, count=amount))
            return hold

    def release_reads(self, hold: Hold) -> None:
        # Its own row: no other hold's check or release can come between, so no lock.
        with transaction(self.sessions) as session:
            session.execute(delete(Usage).where(Usage.key == hold.key, Usage.day == hold.day))

    def take_one(self, moment: datetime, key: str, limit: int) -> int | None:
        """Count one of the day's ``limit`` ``key`` before it is spent: None once
        counted, else the count that leaves no room. Checked and counted under the
        counter's lock: two workers sending at once both read the last write free and
        both posted. ``give_back`` undoes it for a request that surely spent nothing."""
        with transaction(self.sessions) as session:
            _lock_counter(session, key, moment)
            spent = usage_on(session, moment).get(key, 0)
            if spent + 1 > limit:
                return spent
            add_usage(session, key, moment, 1)
            return None

    def give_back(self, moment: datetime, key: str) -> None:
        # Deleted at zero: usage and status show no counter for what was never spent.
        with transaction(self.sessions) as session:
            counter = (Usage.key == key, Usage.day == day_of(moment))
            session.execute(update(Usage).where(*counter).values(count=Usage.count - 1))
            session.execute(delete(Usage).where(*counter, Usage.count <= 0))

    def merge_details(self, source: str, values: Mapping[str, Any]) -> None:
        # Locked: a live poll storing its page (and details) meanwhile is waited for and
        # kept, where an unlocked read wrote back the row as it was before that poll.
        with transaction(self.sessions) as session:
            state = locked_source_state(session, source)
            # Reassign, never mutate: the JSON column does not track in-place changes.
            state.details = {**(state.details or {}), **values}

    def details(self, source: str) -> dict[str, Any]:
        with self.sessions() as session:
            state = session.get(SourceState, source)
            return dict(state.details or {}) if state is not None else {}

    def event(self, kind: str, actor: str, moment: datetime, detail: dict[str, Any]) -> None:
        with transaction(self.sessions) as session:
            session.add(Event(case_id=None, kind=kind, actor=actor, detail=detail, at=moment))

    def budget_event_once(
        self, which: str, actor: str, moment: datetime, detail: dict[str, Any]
    ) -> bool:
        """Record the day's budget stop for ``which`` (reads/writes) once; True if new.

        The stop is an audit Event of kind "budget" (``inchannel x status`` shows it) and,
        with ``x.budget.notify``, a notification to those channels through the outbox."""
        with transaction(self.sessions) as session:
            _lock_counter(session, BUDGET_COUNTERS.get(which, f"x:{which}"), moment)
            seen = session.scalars(
                select(Event).where(Event.kind == "budget", Event.at >= _midnight(moment))
            )
            if any(e.detail.get("budget") == which for e in seen):
                return False
            payload = {"budget": which, **detail}
            session.add(Event(case_id=None, kind="budget", actor=actor, detail=payload, at=moment))
            text = budget_stop_text(which, moment, detail)
            key = f"x-budget:{which}:{moment:%Y-%m-%d}"
            enqueue(
                session,
                case=None,
                text=text,
                key=key,
                actor=actor,
                now=moment,
                channels=self.notify,
            )
            return True


# Per budget stop (reads/writes): what stops, the counted noun's verb, the option that
# sets the budget, and what becomes of the work meanwhile.
_STOPS = {
    "reads": ("Polling", "read", "mentions written meanwhile are read then"),
    "writes": ("Posting", "made", "replies wait in the outbox and are posted then"),
}


def budget_stop_text(which: str, moment: datetime, detail: Mapping[str, Any]) -> str:
    """The budget-stop notification, in words an operator acts on: which budget, how much
    of it was used, when it resets and what to do. (Its body was the event's detail as
    raw JSON, cut at 300 characters, which said none of that plainly.)"""
    stops, verb, meanwhile = _STOPS.get(which, ("Use", "used", "work waits until then"))
    option = f"x.budget.{which}_per_day"
    spent, limit = detail.get("spent"), detail.get("limit")
    if isinstance(spent, int) and isinstance(limit, int):
        used = f"{spent} of the {limit} posts a day ({option}) were {verb} today"
    else:  # a caller that recorded no counts: still no JSON in a person's inbox
        used = f"the day's {option} is used up"
    source = detail.get("source")
    found = f"; source {source} found no room for another page" if source else ""
    resume = next_utc_midnight(moment)
    return (
        f"X {which} budget reached for {moment:%Y-%m-%d} (UTC)\n"
        f"{stops} stops until midnight UTC: {used}{found}.\n"
        f"It resumes by itself at {resume:%Y-%m-%d %H:%M} UTC. Nothing is lost: "
        f"{meanwhile}. To go on sooner, raise {option} and restart the daemon."
    )


def _lock_counter(session: Session, key: str, moment: datetime) -> None:
    """Hold the day's ``key`` counter row until the transaction ends, so a daemon and a
    backfill reaching the budget at once decide one after the other: the second sees the
    first's event. A write, not a read: on SQLite only a write takes the lock, and a
    row-level write lock on PostgreSQL needs the row (created here if still missing)."""
    day = day_of(moment)
    insert_ignoring_duplicates(session, Usage, [{"key": key, "day": day, "count": 0}])
    session.execute(
        update(Usage).where(Usage.key == key, Usage.day == day).values(count=Usage.count)
    )


def _drop_lapsed_holds(session: Session, moment: datetime) -> None:
    """Delete the holds whose time has passed: their requests ended long ago, released
    or not (a worker killed during one)."""
    rows = session.execute(
        select(Usage.key, Usage.day).where(Usage.key.startswith(HOLD_PREFIX, autoescape=True))
    )
    for key, day in rows.all():
        until = hold_until(key)
        if until is not None and until < moment:
            session.execute(delete(Usage).where(Usage.key == key, Usage.day == day))


def _midnight(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time(0), tzinfo=moment.tzinfo)
