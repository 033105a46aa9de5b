"""Health of a running installation, read from the database (any worker, any host)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, sessionmaker

from monitor import cases, clock_skew, jobstate, reply_health
from monitor.alerting import ALERTS_STATE, COPIED, HEARTBEAT_GAP, ActiveAlert, decode
from monitor.domain import ActionStatus, CaseState, Direction, Platform
from monitor.ingest import (
    CAUGHT_UP,
    FAILING_SINCE,
    NEWEST_FIRST,
    aware_time,
    cursor_at,
    is_stopped,
    last_attempt_due,
    read_through,
    source_stale_after,
)
from monitor.jobstate import JobFailing
from monitor.rules.reload import RULES_STATE
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.sla import OWED
from monitor.sources.x_usage import BUDGET_STOP, fold_holds
from monitor.status_listings import FailingListing, listing_failing
from monitor.status_problems import bounded_error, stored_problems
from monitor.store.models import ActionRow, Case, Message, SourceState, Usage
from monitor.store.queries import abandoned_claim

# The health job runs every minute on every worker; none for this long: it is not running
# (with cron running `run --once`, none for this long after the run was due).
HEALTH_CHECK_STALE = HEARTBEAT_GAP
# Processing takes a batch every few seconds and decides about a thousand mentions a
# second: a stored mention still undecided after this long means the job fails or hangs.
PROCESSING_LATE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SourceHealth:
    name: str
    # False: state left by a source removed from the config, @rules, or a @job: row
    configured: bool
    last_poll_at: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    rate_limit_reset_at: datetime | None
    next_poll_at: datetime | None
    items_total: int
    lease_owner: str | None
    details: dict[str, Any]
    # The longest a mention can have waited unread: since the last poll that read all
    # there was, also while a newest-first sweep has pages waiting (before any such
    # poll, since the newest mention read); while an oldest-first source has pages
    # waiting, since the newest mention read. None before a successful poll.
    cursor_lag_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Status:
    at: datetime
    sources: list[SourceHealth]
    outbox: dict[str, int]
    oldest_due_at: datetime | None
    cases: dict[str, int]
    sla_breaches_open: int
    usage_today: dict[str, int]
    problems: list[str] = field(default_factory=list)
    # Operations alerts active at the last health check (monitor.health_alerts).
    alerts: list[ActiveAlert] = field(default_factory=list)
    # The health job's last check, and the first of its current unbroken run of checks
    # (about when the daemon started); None before its first check.
    health_checked_at: datetime | None = None
    health_running_since: datetime | None = None
    # x.budget: reads_per_day and writes_per_day; empty without an x: section.
    x_budget: dict[str, int] = field(default_factory=dict)
    # Inbound mentions stored and not yet decided, and when the oldest was stored.
    unprocessed: int = 0
    oldest_unprocessed_at: datetime | None = None
    # Pending and failed actions: held for a reset the platform named (a rate limit's,
    # the day's X write budget's) with no failed attempt behind them, and the rest, the
    # backlog (due now, or backing off after failed sends), which also counts `sending`
    # claims a crashed worker left past workers.stale_claim_seconds.
    outbox_backlog: int = 0
    outbox_held: int = 0
    # Copied by `inchannel db copy`, and no worker has checked health here since: the
    # health check times are the old database's (:func:`copied_not_started`).
    copied_not_started: bool = False

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class Limits:
    """From the config: when a source counts as not polled or failing, and an action as
    overdue. The last two are the thresholds of the matching alerts."""

    stale_after: Mapping[str, timedelta]  # per configured, enabled source
    # alerts.outbox_due_minutes; None: 0, the check is off. An action overdue and a
    # notification failing are problems after outbox_late (cron's interval more).
    overdue: timedelta | None
    # alerts.source_failing_minutes; None: 0, the check is off (a stop is still reported)
    failing_after: timedelta | None = None
    # The platforms whose failing replies are judged (reply_health.platforms_in_use).
    replying: frozenset[str] = frozenset(p.value for p in Platform)
    # workers.run_once_every_minutes: cron's gap between `run --once` cycles, added to
    # the health checks', processing's (late, failing together) and a job failure's
    # limits (stale_after has it already); 0: a daemon.
    between_runs: timedelta = timedelta(0)

    @property
    def outbox_late(self) -> timedelta | None:
        """The one threshold of status's outbox problem and the "outbox backing up"
        alert: ``overdue`` plus cron's interval, as an action that falls due just after
        a `run --once` waits for the next run. None: the check is off."""
        return None if self.overdue is None else self.overdue + self.between_runs


def limits_from(settings: Settings) -> Limits:
    stale = {s.name: source_stale_after(settings, s) for s in settings.sources if s.enabled}
    due, failing = settings.alerts.outbox_due_minutes, settings.alerts.source_failing_minutes
    return Limits(
        stale,
        timedelta(minutes=due) if due else None,
        timedelta(minutes=failing) if failing else None,
        reply_health.platforms_in_use(settings),
        settings.workers.between_runs,
    )


def collect(rt: Runtime) -> Status:
    return collect_from(rt.settings, rt.sessions, rt.clock.now())


def collect_from(settings: Settings, sessions: sessionmaker[Session], now: datetime) -> Status:
    """``collect`` without a runtime: `inchannel status` needs no rules to read the
    database, and must work while the rule files are broken (that is what it reports)."""
    configured = {s.name for s in settings.sources if s.enabled}
    stale_claim = timedelta(seconds=settings.workers.stale_claim_seconds)
    window = timedelta(hours=settings.dispatch.notify_retry_hours)
    limits = limits_from(settings)
    with sessions() as session:
        status = _read(session, configured, now, stale_claim)
        stored = stored_problems(session, limits.outbox_late, window, limits.between_runs, now)
        stored += clock_skew.problems(session, limits.between_runs)
    x = settings.x
    if x is not None:
        budget = {
            "reads_per_day": x.budget.reads_per_day,
            "writes_per_day": x.budget.writes_per_day,
        }
        status.x_budget.update(budget)
    status.problems.extend(_problems(status, limits, now))
    status.problems.extend(stored)
    return status


def _read(session: Session, configured: set[str], now: datetime, stale_claim: timedelta) -> Status:
    sources = read_sources(session, configured, now)
    # Every status and state, 0 when there is none: `--json` keeps its keys whatever
    # the data, so a script reading outbox.pending does not fail on an empty outbox.
    outbox = {s.value: 0 for s in ActionStatus} | dict(
        session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all()
    )
    oldest_due, held, queued = _queued(session, now, stale_claim)
    by_state = {s.value: 0 for s in CaseState} | dict(
        session.execute(select(Case.state, func.count()).group_by(Case.state)).all()
    )
    breaches = session.scalar(
        select(func.count())
        .select_from(Case)
        # The breach of an answer still owed: one answered late keeps its mark for the
        # reports, but counted here it alerted (the gauge) until someone resolved it.
        .where(Case.sla_breached_at.is_not(None), Case.state.in_(cases.OPEN_STATES), OWED)
    )
    today = select(Usage.key, Usage.count).where(Usage.day == f"{now:%Y-%m-%d}")
    # Each hold is a row of its own: shown summed as x:reads_held, the lapsed left out.
    usage = fold_holds(dict(session.execute(today).all()), now)
    unprocessed, oldest_unprocessed = session.execute(
        select(func.count(), func.min(Message.ingested_at)).where(
            Message.processed.is_(False), Message.direction == Direction.INBOUND.value
        )
    ).one()
    alerts_row = session.get(SourceState, ALERTS_STATE)
    return Status(
        now,
        sources,
        outbox,
        oldest_due,
        by_state,
        int(breaches or 0),
        usage,
        alerts=decode(alerts_row.details) if alerts_row else [],
        health_checked_at=alerts_row.last_poll_at if alerts_row else None,
        health_running_since=alerts_row.last_success_at if alerts_row else None,
        unprocessed=int(unprocessed or 0),
        oldest_unprocessed_at=oldest_unprocessed,
        outbox_backlog=queued - held,
        outbox_held=held,
        copied_not_started=copied_not_started(alerts_row),
    )


def _queued(
    session: Session, now: datetime, stale_claim: timedelta
) -> tuple[datetime | None, int, int]:
    """Actions waiting to be sent: the earliest next attempt, how many are held for a
    reset, and how many there are. A send refused by a rate limit (or the X write
    budget) with a reset ahead gives its attempt back (dispatch._record_error), so held
    ones have none counted; one backing off after a failed send has, and is backlog: a
    channel that keeps failing is what the backlog alert is for.

    A ``sending`` claim older than the dispatcher's stale-claim bound was left by a
    worker that died mid-send: due work nobody is doing until a dispatcher recovers it
    (store.queries.claim_due_actions), so backlog, due since its claim went stale. A
    fresher claim is a send in progress."""
    waiting = ActionRow.status.in_([ActionStatus.PENDING.value, ActionStatus.FAILED.value])
    abandoned = abandoned_claim(now - stale_claim)
    held = waiting & (ActionRow.next_attempt_at > now) & (ActionRow.attempts == 0)
    oldest, oldest_claim, held_count, queued = session.execute(
        select(
            func.min(case((waiting, ActionRow.next_attempt_at))),
            func.min(case((abandoned, ActionRow.updated_at))),
            func.sum(case((held, 1), else_=0)),
            func.count(),
        ).where(waiting | abandoned)
    ).one()
    stale_since = oldest_claim + stale_claim if oldest_claim is not None else None
    due = [moment for moment in (oldest, stale_since) if moment is not None]
    return min(due, default=None), int(held_count or 0), int(queued)


def read_sources(session: Session, configured: set[str], now: datetime) -> list[SourceHealth]:
    """Every configured source and every stored source state, by name (also the
    dashboard's health page)."""
    # The @alerts and @clock rows hold the health job's state (monitor.alerting,
    # monitor.clock_skew), not a source's: listed, each was a table row of dashes.
    query = select(SourceState).where(
        SourceState.name.not_in([ALERTS_STATE, clock_skew.CLOCK_STATE])
    )
    states = {row.name: row for row in session.scalars(query)}
    return [
        _health(name, states.get(name), name in configured, now)
        for name in sorted(configured | set(states))
    ]


def _health(name: str, row: SourceState | None, configured: bool, now: datetime) -> SourceHealth:
    if row is None:
        return SourceHealth(name, configured, None, None, 0, None, None, None, 0, None, {})
    details = dict(row.details or {})
    return SourceHealth(
        name,
        configured,
        row.last_poll_at,
        row.last_success_at,
        row.consecutive_failures,
        row.last_error,
        row.rate_limit_reset_at,
        row.next_poll_at,
        row.items_total,
        _lease_holder(row, now),
        details,
        _cursor_lag(row.last_success_at, details, now) if configured else None,
    )


def _lease_holder(row: SourceState, now: datetime) -> str | None:
    """The worker whose lease holds the source. A killed worker leaves its id on the row
    until another takes the source (ingest.take_lease): past its expiry the lease holds
    nothing, and naming that worker sent the operator to a process that was gone."""
    expires = row.lease_expires_at
    return row.lease_owner if expires is None or expires >= now else None


def _cursor_lag(success: datetime | None, details: dict[str, Any], now: datetime) -> float | None:
    if success is None:
        return None
    read_to = success if details.get(CAUGHT_UP, True) else (_unread_since(details) or success)
    return max(0.0, (now - read_to).total_seconds())


def _unread_since(details: dict[str, Any]) -> datetime | None:
    """Where the unread mentions of a source with pages waiting can begin. X and Reddit
    page newest first, so the newest mention read says nothing of the older ones the
    sweep has not reached: everything before the last complete read is stored, nothing
    after it is known to be. A source that has never read all there was (or state from
    before ingest kept that time) has only the newest mention read to go by. A source
    paged oldest first (a replay file) has read everything up to its newest mention
    read, and the unread ones come after it: its last complete read overstated the lag
    by however long it had been caught up before the backlog arrived."""
    if details.get(NEWEST_FIRST, True) is False:
        return cursor_at(details) or read_through(details)
    return read_through(details) or cursor_at(details)


def planned_stop_until(source: SourceHealth) -> datetime | None:
    """The end of a stop the daemon chose, not a failure: the day's X read budget spent
    (x_source._check_budget; polls resume at the next UTC midnight). The detail stays
    after the stop, so only a time still ahead means the source waits on it."""
    stop = source.details.get(BUDGET_STOP)
    return aware_time(stop.get("until")) if isinstance(stop, dict) else None


# A database no daemon has run on: no health check, no poll, no job or rules report.
NOT_STARTED = "not started: no source has been polled and no health check has run yet"


# A copy (`inchannel db copy`) no worker has run on: its heartbeat is the old database's.
COPIED_NOT_STARTED = (
    "not started on this database (copied from another; no worker has run here yet)"
)


def copied_not_started(alerts_row: SourceState | None) -> bool:
    """The @alerts row still has the heartbeat `db copy` copied. The copy keeps it (the
    first check here records the move as a down period), so its recent checks read as
    a daemon running here, healthy for up to 5 minutes with no worker at all. Compared
    as values, not with the clock: this host's clock may differ from the old one's."""
    if alerts_row is None or COPIED not in (details := alerts_row.details or {}):
        return False
    raw = details[COPIED]
    copied = aware_time(raw)
    if raw is not None and copied is None:
        return False  # garbled: a hand edit, not what the copy writes
    return copied == alerts_row.last_poll_at


def never_started(status: Status) -> bool:
    """No worker has ever run on this database. The health job runs as soon as a worker
    starts, so from then on its heartbeat is the daemon's start, and each source has the
    not-polled time from it to be polled (:func:`_stale`). Before that there is nothing
    to judge by, and "healthy" told a health check that a daemon which never started (a
    wrong config, a crash at start, a forgotten service) was fine."""
    return status.health_checked_at is None and all(s.last_poll_at is None for s in status.sources)


def _problems(status: Status, limits: Limits, now: datetime) -> list[str]:
    checks_stale = HEALTH_CHECK_STALE + limits.between_runs
    running = _running_since(status, checks_stale, now)
    if status.copied_not_started:
        problems = [COPIED_NOT_STARTED]
    else:
        problems = [NOT_STARTED] if never_started(status) else []
    problems += [
        problem
        for source in status.sources
        if (problem := _source_problem(source, limits, running, now)) is not None
    ]
    problems += [
        run.problem(name, worker, now)
        for source in status.sources
        if not source.configured and (name := jobstate.job_of(source.name)) is not None
        for worker, run in sorted(jobstate.hung_runs(source.details, now).items())
    ]
    checked = status.health_checked_at
    # A health job that fails rolls its heartbeat back: its own failure says more.
    health_fails = any(
        (job := _job_failing(s, limits, now)) is not None and job.job == "health"
        for s in status.sources
    )
    # A copy's checks are the old database's: not started says more than their age.
    quiet = health_fails or status.copied_not_started
    if checked is not None and now - checked > checks_stale and not quiet:
        minutes = int((now - checked).total_seconds() // 60)
        problems.append(f"health checks: none for {minutes} min (is the daemon running?)")
    late = _processing_problem(status, running, PROCESSING_LATE + limits.between_runs, now)
    if late is not None:
        problems.append(late)
    overdue = now - status.oldest_due_at if status.oldest_due_at is not None else None
    # The same threshold and comparison as the "outbox backing up" alert.
    outbox_late = limits.outbox_late
    if overdue is not None and outbox_late is not None and overdue >= outbox_late:
        minutes = int(overdue.total_seconds() // 60)
        problems.append(f"outbox: an action has been due for {minutes} min")
    return problems


def _processing_problem(
    status: Status, running_since: datetime | None, late: timedelta, now: datetime
) -> str | None:
    """Stored mentions nobody decides: the processing job fails on every run (or hangs)
    while the sources poll on, and no reply or escalation goes out. As for a stale
    source, a daemon started again has until ``late`` (PROCESSING_LATE, plus cron's
    interval: the next `run --once` decides them) after its start."""
    oldest = status.oldest_unprocessed_at
    if oldest is None:
        return None
    start = max(oldest, running_since) if running_since is not None else oldest
    if now - start <= late:
        return None
    minutes = int((now - oldest).total_seconds() // 60)
    waiting = f"{status.unprocessed} message{'s' if status.unprocessed != 1 else ''}"
    return f"processing: {waiting} not decided, the oldest stored {minutes} min ago"


def _running_since(status: Status, checks_stale: timedelta, now: datetime) -> datetime | None:
    """Since when the daemon has been running, if its health checks still run (one
    within ``checks_stale``)."""
    checked = status.health_checked_at
    stale = checked is None or now - checked > checks_stale
    if stale or status.copied_not_started:  # the old database's run, not one here
        return None
    return status.health_running_since


def _source_problem(
    source: SourceHealth, limits: Limits, running_since: datetime | None, now: datetime
) -> str | None:
    """At most one problem per source, the most telling first. A source nobody polls
    any more is "not polled" even if its last polls failed: what they said is old news,
    and polls that fail again would keep ``last_poll_at`` fresh."""
    if not source.configured:
        if source.name == RULES_STATE and source.last_error:
            return f"rules: last reload failed: {bounded_error(source.last_error)}"
        if reply_health.platform_of(source.name) is not None:
            since = reply_health.failing_since(source, limits.failing_after, limits.replying)
            return reply_health.failing_text(source, since, now) if since else None
        job = _job_failing(source, limits, now)
        return job.problem(now) if job is not None else None
    if is_stopped(source.next_poll_at, now):
        return f"source {source.name}: stopped: {bounded_error(source.last_error)}"
    limit = limits.stale_after.get(source.name)
    stale = _stale(source, limit, running_since, now)
    current = polled_lately(source, limit, now)
    if stale is None and current and source.consecutive_failures and unreadable_since(source):
        polls = failed_polls(source.consecutive_failures)
        unknown = f"failing since an unknown time (unreadable {FAILING_SINCE})"
        return f"source {source.name}: {unknown}, {polls}: {bounded_error(source.last_error)}"
    since = source_failing(source, limits.failing_after, limit, now)
    if stale is None and since is None:
        listing = failing_listing(source, limits.failing_after, limit, now)
        if listing is not None:
            return listing.text(source.name, now, bounded_error(listing.error))
    if stale is not None or since is None:
        return stale
    return failing_text(source, since, now, bounded_error(source.last_error))


def failing_since(source: SourceHealth) -> datetime | None:
    """When the source's current run of failed polls began; None when none is stored
    or the stored value is not one ingest writes (:func:`unreadable_since`)."""
    raw = source.details.get(FAILING_SINCE)
    try:
        since = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    # A time without its zone cannot be compared with now: garbled as well.
    return since if since is not None and since.tzinfo is not None else None


def unreadable_since(source: SourceHealth) -> bool:
    """A ``failing_since`` is stored but unreadable (a hand edit, a bad restore): the
    run of failures has lasted an unknown time, which status says rather than crash
    or guess; the next successful poll removes the value."""
    return source.details.get(FAILING_SINCE) is not None and failing_since(source) is None


def counted_since(source: SourceHealth) -> datetime | None:
    """When the source's current run of failed polls began to count: its first failure,
    or the end of a planned stop within the run -- the X read budget spent waits until
    midnight by design (the budget alert tells), so until then the result lies ahead. A
    rate limit counts from the first failure like any failure: ingest keeps its retry
    time only as ``next_poll_at``, which a backoff sets too, and sources already wait
    out the rate limits they see coming, so a 429 that lasts means the quota is spent
    elsewhere."""
    since = failing_since(source) if source.consecutive_failures else None
    planned = planned_stop_until(source)
    if since is None or planned is None:
        return since
    return max(since, planned)


def polled_lately(source: SourceHealth, stale: timedelta | None, now: datetime) -> bool:
    """Whether the source has been polled (or waited for a stored retry time or reset)
    within ``stale``, the time after which status calls it not polled. Only then do its
    stored failures say how it is doing now: after downtime they are old news until the
    next poll (which, after such a gap, starts a new run of failures: monitor.ingest)."""
    due = last_attempt_due(source.last_poll_at, source.next_poll_at, source.rate_limit_reset_at)
    return stale is not None and due is not None and now - due <= stale


def source_failing(
    source: SourceHealth, after: timedelta | None, stale: timedelta | None, now: datetime
) -> datetime | None:
    """When a configured source's failure began to count, if it is failing by the one
    definition `inchannel status` and the "source failing" alert share: being polled
    (:func:`polled_lately` within ``stale``), and stopped by a permanent error (at once:
    it will not recover by itself), or its polls have failed without a success for
    ``after`` (alerts.source_failing_minutes; None turns it off).

    Time, not a count of failed polls: the backoff (30 s doubling to 30 min), the poll
    interval and a rate limit's wait decide how many polls fail in 15 minutes, so
    three failures were 90 seconds for one source and hours for another. And time the
    source was polled: a day of downtime is not a day of failure."""
    since = counted_since(source) if source.configured else None
    if since is None or after is None or not polled_lately(source, stale, now):
        return None
    if is_stopped(source.next_poll_at, now) or now - since >= after:
        return since
    return None


def failing_listing(
    source: SourceHealth, after: timedelta | None, stale: timedelta | None, now: datetime
) -> FailingListing | None:
    """A listing of a configured source that is being polled and read, failing for
    ``after`` (monitor.status_listings); status and the "source failing" alert share it."""
    if not source.configured or source.consecutive_failures:
        return None  # the source's own failure says more
    if not polled_lately(source, stale, now):
        return None
    return listing_failing(source.details, after, now)


def failing_text(source: SourceHealth, since: datetime, now: datetime, error: str) -> str:
    """The problem and the alert, in the same words."""
    state = "stopped (permanent error)" if is_stopped(source.next_poll_at, now) else "failing"
    minutes = max(0, int((now - since).total_seconds() // 60))
    polls = failed_polls(source.consecutive_failures)
    return f"source {source.name}: {state} for {minutes} min, {polls}: {error}"


def failed_polls(n: int) -> str:
    return f"{n} failed poll{'s' if n != 1 else ''}"


def _job_failing(source: SourceHealth, limits: Limits, now: datetime) -> JobFailing | None:
    if source.configured:
        return None
    reports = jobstate.reports_of(
        source.details, source.consecutive_failures, source.last_poll_at, source.last_error
    )
    job = jobstate.failing(source.name, reports, now, limits.between_runs)
    # The driver's first line can quote a stored value: inert, as a source's error is.
    return replace(job, error=bounded_error(job.error)) if job is not None else None


def _stale(
    source: SourceHealth, limit: timedelta | None, running_since: datetime | None, now: datetime
) -> str | None:
    """A source nobody polls. Its clock starts at its last poll or, if that was before
    the current run of health checks began, at that start: a daemon started again after
    downtime has had no time to poll yet (and a killed worker's lease may still hold the
    source), as with a source never polled. No daemon, no run: before the first start
    the last poll alone counts. A stored retry time or rate-limit reset ahead of that is
    a wait, and ingest skips the source without touching ``last_poll_at`` until then."""
    marks = [m for m in (source.last_poll_at, running_since) if m is not None]
    if limit is None or not marks:
        return None
    start = max(marks)
    waits = [m for m in (source.next_poll_at, source.rate_limit_reset_at) if m is not None]
    if now - max([start, *waits]) <= limit:
        return None
    up = int((now - start).total_seconds() // 60)
    if source.last_poll_at is None:
        return f"source {source.name}: never polled; the daemon has been up for {up} min"
    minutes = int((now - source.last_poll_at).total_seconds() // 60)
    if source.last_poll_at < start:
        return (
            f"source {source.name}: not polled for {minutes} min; "
            f"the daemon has been up for {up} min"
        )
    return f"source {source.name}: not polled for {minutes} min"
