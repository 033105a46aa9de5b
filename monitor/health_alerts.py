"""Step function ``check_health``: operations alerts through the escalation channels.

Source failing for N minutes, a usually busy source gone silent, the outbox backing up,
the X budget nearly spent, and negative-mention spikes (monitor.spikes). Detection is
pure (these functions over the facts ``inchannel status`` collects, plus two counts);
monitor.alerting decides what is new and delivers it once.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor import alerting, clock_skew, reply_health, spikes
from monitor.alerting import ActiveAlert, Alert
from monitor.alerts_settings import AlertsConfig, SpikeConfig
from monitor.ingest import CAUGHT_UP, NEWEST_FIRST, cursor_at, is_stopped, read_through
from monitor.runtime import Runtime
from monitor.settings import Settings
from monitor.sources import x_usage
from monitor.sources.reddit_cursor import failed_reads
from monitor.sources.x_settings import XMentionsSourceConfig, XSearchSourceConfig
from monitor.status import (
    SourceHealth,
    Status,
    collect_from,
    failed_polls,
    failing_listing,
    failing_since,
    failing_text,
    limits_from,
    polled_lately,
    source_failing,
)
from monitor.status_listings import FailingListing, failing_listings
from monitor.status_problems import bounded_error
from monitor.store.db import transaction
from monitor.store.models import Message, from_customer

log = logging.getLogger("inchannel.alerts")
OUTBOX_KEY = "outbox-backlog"
SOURCE_KINDS = ("source-failing", "silence")
REPLIES_KIND = "replies-failing"


def check_health(rt: Runtime) -> bool:
    """Evaluate every alert once and send what is new. Never has more work."""
    config = rt.settings.alerts
    now = rt.clock.now()
    realert = timedelta(minutes=config.realert_minutes) if config.realert_minutes else None
    # Before the lock: on a connection of its own.
    skew = clock_skew.measure(rt.engine, rt.host_clock.now)
    clock_skew.hold_while_skewed(rt, skew)
    with transaction(rt.sessions) as session:
        # Detect while holding the lock: a worker that looked before another recorded a
        # recovery would otherwise raise the ended alert again.
        keep = spikes.baseline_span(config.spike)
        between_runs = rt.settings.workers.between_runs
        previous = alerting.lock_state(session, now, keep_down=keep, between_runs=between_runs)
        # The check's own time, not a second reading: the usage is the day's of `now`,
        # and at 23:59:59 a second reading was the next day's, nothing spent yet.
        status = collect_from(rt.settings, rt.sessions, now)
        alerting.record_failing(session, any_failing_since(status), now, keep=keep)
        clock_skew.record(session, rt.worker_id, skew, rt.settings)
        current = detect(rt, session, status, now) + clock_skew.alerts(session, between_runs)
        plan = alerting.reconcile(previous, current, now=now, realert=realert)
        gone = unwatched(plan.resolved, rt.settings)
        alerting.deliver(session, plan, channels=config.channels, now=now, unwatched=gone)
        alerting.save_state(session, plan.active)
    return False


def unwatched(ended: Iterable[ActiveAlert], settings: Settings) -> dict[str, str]:
    """The ended alerts of sources no longer configured (removed or disabled) and of
    platforms no longer in use, by key, with what left ("source feed", "platform x"):
    their alerts end without anything recovering."""
    configured = {s.name for s in settings.sources if s.enabled}
    platforms = reply_health.platforms_in_use(settings)
    out = {}
    for alert in ended:
        # "source-failing:<name>:<since>", "silence:<name>", "replies-failing:<platform>:
        # <since>"; a source name holds no ':'.
        if alert.kind in SOURCE_KINDS and (name := alert.key.split(":")[1]) not in configured:
            out[alert.key] = f"source {name}"
        elif alert.kind == REPLIES_KIND and (name := alert.key.split(":")[1]) not in platforms:
            out[alert.key] = f"platform {name}"
    return out


def any_failing_since(status: Status) -> datetime | None:
    """Since when at least one configured source has been failing (the first failure of
    the first to fail, a read budget stop and a permanent error included); None when
    all are read. Its mentions are not read then, and a catch-up after recovery can lose
    some to a gap like one after downtime: counted, its hours read as quiet ones in the
    baseline, so the spike baseline leaves out those hours of every source."""
    configured = [s for s in status.sources if s.configured]
    runs = [failing_since(s) if s.consecutive_failures else None for s in configured]
    # A listing failing in a source that is read (monitor.status_listings) leaves its
    # mentions unread just the same: those hours read as quiet ones too.
    runs += [listing.since for s in configured for listing in failing_listings(s.details)]
    return min((since for since in runs if since is not None), default=None)


def detect(rt: Runtime, session: Session, status: Status, now: datetime) -> list[Alert]:
    config = rt.settings.alerts
    status_limits = limits_from(rt.settings)
    stale_after = status_limits.stale_after
    alerts = failing_alerts(
        status.sources,
        now=now,
        minutes=config.source_failing_minutes,
        stale_after=stale_after,
        active=status.alerts,
    )
    alerts += replies_failing(
        status.sources, status_limits.failing_after, status_limits.replying, now=now
    )
    if config.silence_hours:
        quiet = [s.name for s in status.sources if watching(s, stale_after.get(s.name), now)]
        alerts += silence_alerts(session, quiet, config, now=now)
        alerts += held_silence(session, status, quiet, config, now=now)
    alerts += outbox_alerts(status, config, now=now, late=status_limits.outbox_late)
    x = rt.settings.x
    if x is not None and config.x_budget_percent:
        limits = {"reads": x.budget.reads_per_day, "writes": x.budget.writes_per_day}
        alerts += budget_alerts(
            status.usage_today,
            limits,
            config.x_budget_percent,
            now=now,
            notify=x.budget.notify,
            page=widest_page(rt.settings),
        )
    if config.spike.enabled:
        alerts += spike_check(session, status, config.spike, stale_after, now=now)
    return alerts


def spike_check(
    session: Session,
    status: Status,
    config: SpikeConfig,
    stale_after: Mapping[str, timedelta],
    *,
    now: datetime,
) -> list[Alert]:
    """The spike alerts, unless a source is still reading a backlog that reaches back
    before the current window: X and Reddit answer newest first, so after downtime the
    window filled before the baseline hours were read, and the backlog read as a spike."""
    since = now - timedelta(minutes=config.window_minutes)
    behind = reading_backlog(status.sources, stale_after, since=since, now=now)
    if behind:
        log.info(
            "spike check skipped: %s still reading mentions posted before the last %d min",
            ", ".join(behind),
            config.window_minutes,
        )
        return []
    down = alerting.recorded_downtime(session)
    failing = alerting.recorded_failing(session)
    backfilled = alerting.recorded_backfills(session)
    overall, by_tag = spikes.negative_counts(
        session, config, now=now, down=down, failing=failing, backfilled=backfilled
    )
    held = alerting.held(status.alerts, now)
    return spikes.spike_alerts(overall, by_tag, config, held=held)


def reading_backlog(
    sources: Sequence[SourceHealth],
    stale_after: Mapping[str, timedelta],
    *,
    since: datetime,
    now: datetime,
) -> list[str]:
    """The sources being polled whose last poll left pages waiting, and whose unread
    mentions can begin before ``since``: a newest-first source's from its last complete
    read (never: anywhere), an oldest-first one's after the newest mention read.
    A sweep that waits on a rate limit with only the current window unread holds
    nothing back: in a crisis sweeps do meet the limit. An oldest-first source reading
    old history holds the check only until it reaches the window: its baseline hours
    are read by then, and its backlog cannot read as a spike. A source no longer
    polled (stopped, or down with the daemon) is reading nothing: it would hold the
    check back until an operator acts."""
    names = []
    for source in sources:
        if not source.configured or source.details.get(CAUGHT_UP) is not False:
            continue
        # A stop's next poll lies years ahead, which polled_lately reads as a wait.
        stopped = is_stopped(source.next_poll_at, now)
        if stopped or not polled_lately(source, stale_after.get(source.name), now):
            continue
        oldest_first = source.details.get(NEWEST_FIRST) is False
        unread = (cursor_at if oldest_first else read_through)(source.details)
        if unread is None or unread < since:
            names.append(source.name)
    return names


def watching(source: SourceHealth, stale_after: timedelta | None, now: datetime) -> bool:
    """Whether the source's lack of mentions says anything: configured, not failing, and
    polled successfully within the time after which status calls it not polled. A
    source nobody polls is not silent, its mentions are not fetched: a daemon started
    again after a night's downtime raised a silence alert before its first poll, and
    the recovery a minute later. Nor is one with a failing listing: a poll that read
    the other listings succeeds, and with the inbox's mentions failing the silence alert
    blamed the customers; the "source failing" alert names the listing instead."""
    success = source.last_success_at
    return (
        stale_after is not None
        and not source.consecutive_failures
        and not failing_listings(source.details)
        and success is not None
        and now - success <= stale_after
    )


def held_silence(
    session: Session,
    status: Status,
    watched: Collection[str],
    config: AlertsConfig,
    *,
    now: datetime,
) -> list[Alert]:
    """The active silence alerts of configured sources not watched now, as they stand:
    not polled lately (a daemon started again after downtime, a long rate-limit wait)
    or failing (one 503 is enough, or one failing listing). No poll has fetched
    anything since: dropped from the current alerts, the silence was "resolved" and
    raised again after the next poll.
    Only a mention, or the source leaving the config, ends it: one stored before the
    polls began to fail (or read by a listing that works) is customers writing again,
    and held, "no mentions for 6 h" was re-sent for as long as the polls failed."""
    raised = {a.key for a in status.alerts}
    unwatched = [
        s.name
        for s in status.sources
        if s.configured and s.name not in watched and f"silence:{s.name}" in raised
    ]
    since = now - timedelta(hours=config.silence_hours)
    spoke = mention_counts(session, unwatched, since=since, until=None)
    held = {f"silence:{name}" for name in unwatched if not spoke.get(name)}
    return [
        Alert(a.key, a.kind, a.text, recovers=a.recovers, channels=a.channels, every=a.every)
        for a in status.alerts
        if a.key in held
    ]


def failing_alerts(
    sources: Sequence[SourceHealth],
    *,
    now: datetime,
    minutes: int,
    stale_after: Mapping[str, timedelta],
    active: Sequence[ActiveAlert] = (),
) -> list[Alert]:
    """Each configured source failing by the definition `inchannel status` shares
    (:func:`monitor.status.source_failing`): being polled, and stopped by a permanent
    error, or its polls failed for ``minutes`` since the first failure (or since the end
    of a planned stop). A source with an ``active`` failing alert whose polls have not
    succeeded since keeps it, under its key (:func:`_held_failing`); so does a failing
    listing's alert while the listing has not been read since."""
    after = timedelta(minutes=minutes) if minutes else None
    alerts = []
    for source in sources:
        stale = stale_after.get(source.name)
        since = source_failing(source, after, stale, now)
        held = _held_failing(source, active) if after is not None else None
        if since is not None:
            key = held.key if held else f"source-failing:{source.name}:{since:%Y%m%dT%H%M%S}"
            text = failing_text(source, since, now, bounded_error(source.last_error))
            alerts.append(Alert(key, "source-failing", text))
        elif (listing := failing_listing(source, after, stale, now)) is not None:
            # One listing of a source that is read: its own run, under its start.
            key = held.key if held else _listing_key(source.name, listing)
            text = listing.text(source.name, now, bounded_error(listing.error))
            alerts.append(Alert(key, "source-failing", text))
        elif held is not None:
            alerts.append(Alert(held.key, "source-failing", _held_text(source, stale, now)))
    return alerts


def replies_failing(
    sources: Sequence[SourceHealth],
    after: timedelta | None,
    in_use: Collection[str],
    *,
    now: datetime,
) -> list[Alert]:
    """Each platform whose replies fail as status reports it (monitor.reply_health),
    under the run's start: the next reply posted ends it with a recovery notice."""
    alerts = []
    for source in sources:
        if (since := reply_health.failing_since(source, after, in_use)) is not None:
            key = f"replies-failing:{reply_health.platform_of(source.name)}:{since:%Y%m%dT%H%M%S}"
            text = reply_health.failing_text(source, since, now)
            alerts.append(Alert(key, REPLIES_KIND, text))
    return alerts


def _listing_key(source: str, listing: FailingListing) -> str:
    # Its first run's start: a run started again after downtime is the same alert.
    return f"source-failing:{source}:{listing.opened:%Y%m%dT%H%M%S}"


def _held_failing(source: SourceHealth, active: Sequence[ActiveAlert]) -> ActiveAlert | None:
    """The source's active failing alert, while no poll has succeeded since it was raised.
    A daemon down for a while leaves the source unpolled, and a failure after that starts
    a new run of failures, not yet failing for ``minutes``: dropped meanwhile, the alert
    was "resolved" for a source that never recovered, and raised again later. Only a
    successful poll (or the source leaving the config) ends the episode. The same holds
    for a failing listing's alert, until a poll reads the listing: its key is the
    listing's run start, so a listing that starts failing after the source recovers is
    a new alert, not the old one held."""
    if not source.configured:
        return None
    prefix = f"source-failing:{source.name}:"
    mine = [a for a in active if a.kind == "source-failing" and a.key.startswith(prefix)]
    # A source name holds no ':' (settings), so the prefix names this source alone.
    if source.consecutive_failures:
        return mine[0] if mine else None
    listings = {_listing_key(source.name, f) for f in failing_listings(source.details)}
    return next((a for a in mine if a.key in listings), None)


def _held_text(source: SourceHealth, stale: timedelta | None, now: datetime) -> str:
    """A held alert's text: what is known now, for its re-sends and for status."""
    if not source.consecutive_failures and (listings := failing_listings(source.details)):
        return _held_listing_text(source, listings[0], stale, now)
    error = bounded_error(source.last_error)
    if polled_lately(source, stale, now):
        return failing_text(source, failing_since(source) or now, now, error)
    last = source.last_poll_at or now
    minutes = max(0, int((now - last).total_seconds() // 60))
    polls = failed_polls(source.consecutive_failures)
    return f"source {source.name}: not polled for {minutes} min after failing, {polls}: {error}"


def _held_listing_text(
    source: SourceHealth, listing: FailingListing, stale: timedelta | None, now: datetime
) -> str:
    """A held listing alert's text: what is known now, as for the source's own."""
    error = bounded_error(listing.error)
    if polled_lately(source, stale, now):
        return listing.text(source.name, now, error)
    last = source.last_poll_at or now
    minutes = max(0, int((now - last).total_seconds() // 60))
    return (
        f"source {source.name}: not polled for {minutes} min after listing {listing.label} "
        f"failing, {failed_reads(listing.failures)}: {error}"
    )


def silence_alerts(
    session: Session, sources: Collection[str], config: AlertsConfig, *, now: datetime
) -> list[Alert]:
    """Sources with no mentions for ``silence_hours`` that usually have some then."""
    window = timedelta(hours=config.silence_hours)
    recent = mention_counts(session, sources, since=now - window, until=None)
    silent = [name for name in sources if not recent.get(name)]
    if not silent:
        return []
    days = same_hours_counts(session, silent, config, now=now)
    # The expected count is an average over some of these days, never above the busiest:
    # a source no day of which reaches the minimum cannot alert, and a quiet source is
    # silent at nearly every check, each a scan of the baseline's messages below.
    silent = [
        name
        for name in silent
        if max((c.get(name, 0) for c in days.values()), default=0) >= config.silence_min_expected
    ]
    if not silent:
        return []
    # A week before the baseline: one mention there shows the source watched on every
    # day. A day was not enough: a brand mentioned on weekdays only had none on the
    # Saturday before a Sunday's baseline, counted as new since Monday, and paged.
    began = first_mentions(session, silent, since=now - window - timedelta(days=max(days) + 7))
    known = {name: known_days(days, began.get(name), window, now) for name in silent}
    baseline = {name: sum(days[ago].get(name, 0) for ago in agos) for name, agos in known.items()}
    counted = {name: len(agos) for name, agos in known.items()}
    weekly = same_weekday(days, known)
    return silence_from_counts(silent, baseline, config, weekly=weekly, days_known=counted)


def same_hours_counts(
    session: Session, sources: Collection[str], config: AlertsConfig, *, now: datetime
) -> dict[int, dict[str, int]]:
    """Mentions per source in the same hours of the day on each of the
    ``silence_baseline_days`` days before, by days ago: a brand mentioned all afternoon
    and never at night is not silent at 4 a.m. Days whose window would overlap the
    silent one are skipped (a window of 30 h compares with the 30 h ending at this time
    2 days ago)."""
    window = timedelta(hours=config.silence_hours)
    first = max(1, math.ceil(config.silence_hours / 24))
    days: dict[int, dict[str, int]] = {}
    for days_ago in range(first, first + config.silence_baseline_days):
        until = now - timedelta(days=days_ago)
        days[days_ago] = mention_counts(session, sources, since=until - window, until=until)
    return days


def first_mentions(
    session: Session, sources: Collection[str], *, since: datetime
) -> dict[str, datetime]:
    """Each source's oldest customer mention since ``since``: a range of
    ix_messages_created, as the counts are, not a scan of all history every minute."""
    query = (
        select(Message.source, func.min(Message.created_at))
        .where(Message.created_at >= since, from_customer(), Message.source.in_(list(sources)))
        .group_by(Message.source)
    )
    return {str(name): first for name, first in session.execute(query)}


def known_days(
    days: Iterable[int], began: datetime | None, window: timedelta, now: datetime
) -> list[int]:
    """The baseline days (by days ago) whose window lies wholly after the source's first
    mention: before it the source was not watched yet, and its zero mentions then kept
    a source younger than a week from any silence alert (the same weekday a week ago
    had none). A window the first mention falls in is left out too: it was part watched."""
    if began is None:
        return []
    return [ago for ago in days if now - timedelta(days=ago) - window >= began]


def same_weekday(
    days: Mapping[int, Mapping[str, int]], known: Mapping[str, Sequence[int]]
) -> dict[str, float]:
    """Mentions per source in the same hours of the same weekday, averaged over the
    whole weeks ago among its ``known`` days; a source whose known days do not reach a
    week back is left out. A brand mentioned on weekdays only averaged 7 a day over a
    week and paged every weekend."""
    out = {}
    for name, agos in known.items():
        weeks = [ago for ago in agos if ago % 7 == 0]
        if weeks:
            out[name] = sum(days[ago].get(name, 0) for ago in weeks) / len(weeks)
    return out


def silence_from_counts(
    silent: Sequence[str],
    baseline: Mapping[str, int],
    config: AlertsConfig,
    *,
    weekly: Mapping[str, float],
    days_known: Mapping[str, int],
) -> list[Alert]:
    """The rule: expected = the mentions in the same hours of the baseline days, per
    day, or those of the same weekday (``weekly``, where known) if fewer; alert when
    expected >= silence_min_expected (5 by default: zero by chance has odds under 1%).
    ``days_known``: how many baseline days each source was watched in; a source with
    none has no baseline and no alert."""
    alerts = []
    for name in silent:
        known = days_known.get(name, 0)
        if not known:
            continue
        expected = baseline.get(name, 0) / known
        if name in weekly:
            expected = min(expected, weekly[name])
        if expected >= config.silence_min_expected:
            text = (
                f"source {name}: no mentions for {config.silence_hours:g} h "
                f"(usually about {expected:.0f} in that time)"
            )
            alerts.append(Alert(f"silence:{name}", "silence", text))
    return alerts


def mention_counts(
    session: Session, sources: Collection[str], *, since: datetime, until: datetime | None
) -> dict[str, int]:
    """Customers' mentions per source created in [since, until): a range of
    ix_messages_created. The brand's own posts a search brings in are no sign that
    customers can still reach us."""
    if not sources:
        return {}
    query = select(Message.source, func.count()).where(
        Message.created_at >= since,
        from_customer(),
        Message.source.in_(list(sources)),
    )
    if until is not None:
        query = query.where(Message.created_at < until)
    rows = session.execute(query.group_by(Message.source))
    return {str(name): int(count) for name, count in rows}


def outbox_alerts(
    status: Status, config: AlertsConfig, *, now: datetime, late: timedelta | None
) -> list[Alert]:
    """At ``outbox_backlog`` actions waiting or the oldest ``late`` overdue (status's
    Limits.outbox_late: ``outbox_due_minutes``, plus cron's interval; None: off);
    once raised, until both are down to half their threshold. A backlog drained about as
    fast as it fills hovers at its threshold: each crossing was a new alert and each
    dip a recovery notice, a page every few minutes for one lasting condition. Actions
    held for a reset the platform named (a rate limit's, the X write budget's midnight)
    are not counted: the dispatcher is right not to send them, and a brand's replies
    held until midnight paged every realert_minutes all evening. A retry's backoff after
    failed sends is counted: a channel that keeps failing is what this alert is for."""
    backlog = status.outbox_backlog
    overdue = now - status.oldest_due_at if status.oldest_due_at is not None else timedelta(0)
    if any(a.key == OUTBOX_KEY for a in status.alerts):
        deep = bool(config.outbox_backlog) and backlog * 2 > config.outbox_backlog
        overdue_long = late is not None and overdue * 2 > late
    else:
        deep = bool(config.outbox_backlog) and backlog >= config.outbox_backlog
        overdue_long = late is not None and overdue >= late
    if not (deep or overdue_long):
        return []
    actions = "1 action" if backlog == 1 else f"{backlog} actions"
    text = f"outbox backing up: {actions} waiting, {_first_due(overdue)}"
    return [Alert(OUTBOX_KEY, "outbox-backlog", text)]


def _first_due(overdue: timedelta) -> str:
    """The oldest waiting action's due time in words. A backlog of actions that all wait
    for their retry (a channel outage) has its first one still ahead: "due -10 min
    ago" read as a typo, and hid that the dispatcher is not the one stuck."""
    if overdue < timedelta(0):
        return f"the next due in {math.ceil(-overdue.total_seconds() / 60)} min"
    return f"the oldest due {int(overdue.total_seconds() // 60)} min ago"


def widest_page(settings: Settings) -> int:
    """The most posts one request of an enabled X source may read (0: none): the read
    budget stops polling once that no longer fits in what is left of the day."""
    sizes = [
        s.max_results
        for s in settings.sources
        if s.enabled and isinstance(s, XMentionsSourceConfig | XSearchSourceConfig)
    ]
    return x_usage.worst_case_reads(max(sizes, default=0))


def budget_alerts(
    usage_today: Mapping[str, int],
    limits: Mapping[str, int],
    percent: int,
    *,
    now: datetime,
    notify: Sequence[str] = (),
    page: int = 0,
) -> list[Alert]:
    """Once per UTC day and budget when ``percent`` of it is spent (x.budget.notify also
    gets it, like the stop at 100%), or, for reads, when only one request of ``page``
    posts still fits, if that comes first: the sources stop short of the limit, at 50%
    of a budget of 600 with pages of 100 (300 with their includes), and the warning came
    after the stop or never."""
    counters = {"reads": x_usage.READS, "writes": x_usage.WRITES}
    alerts = []
    for which, limit in limits.items():
        used = usage_today.get(counters[which], 0)
        if limit <= 0:
            continue
        stops_first = which == "reads" and 0 < page < limit and used >= limit - page
        if used * 100 >= limit * percent or stops_first:
            text = f"X {which} budget {used * 100 // limit}% used today ({used} of {limit})"
            if stops_first and used * 100 < limit * percent:
                text += f": polling stops once a page of {page} posts no longer fits"
            key = f"x-budget:{which}:{x_usage.day_of(now)}"
            alerts.append(Alert(key, "x-budget", text, recovers=False, channels=tuple(notify)))
    return alerts
