"""Operations alerts: which are active, when to (re)send one, and delivery.

Detectors (monitor.health_alerts, monitor.spikes) say which conditions hold *now*, each
as an :class:`Alert` whose key names its episode ("source-failing:x:<since>"), day
("x-budget:reads:<day>") or scope ("spike:all"). :func:`reconcile` compares them with the
alerts active before and decides what to send: a new key fires once; a key still active
fires again after ``realert`` (episodes) or its own ``every`` (spikes); an episode whose
key is gone has recovered. A key with ``every`` stays active (quiet) until ``every`` has
passed since it was sent, so a condition that flaps around its threshold still sends at
most one notification per ``every``.

The active set lives in the details of the ``@alerts`` row of ``source_state`` (no
extra table; ``inchannel status`` reads it, but does not list it as a source). The health job locks
that row for one short transaction, so workers running the job at once see each other's
alerts; the outbox's unique idempotency key backs that up for notifications. The row is
also the job's heartbeat: ``last_poll_at`` is the last check and ``last_success_at`` the
first check of the current unbroken run of checks (status: is the daemon running, and
since when). Its details also keep the daemon's recent down periods (the gaps between
checks) and the recent periods in which a configured source was failing, which the
spike baseline leaves out (monitor.spikes), and the windows ``inchannel backfill``
imported, which it may count (the hours were read, if not by the daemon).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from monitor import notifications
from monitor.domain import ActionStatus
from monitor.store.models import ActionRow, Event, SourceState
from monitor.store.queries import insert_state_row

log = logging.getLogger("inchannel.alerts")

ALERTS_STATE = "@alerts"
ACTOR = "system"
MAX_TEXT = 400
# Idempotency keys are at most 200 characters; a key built from long tag names is cut.
MAX_KEY = 120
# The health job runs every minute on every worker (monitor.daemon): a check more than
# this long after the one before starts a new run of checks (the daemon was down). Cron
# running `run --once` adds its interval (workers.run_once_every_minutes).
HEARTBEAT_GAP = timedelta(minutes=5)
# Down periods kept in the @alerts row, the newest: checks run far apart (a cron line
# every 10 minutes) would otherwise grow the row the health job rewrites every minute.
MAX_DOWN_PERIODS = 48


@dataclass(frozen=True, slots=True)
class Alert:
    """A condition that holds now."""

    key: str
    kind: str
    text: str
    # False for windows and days that simply pass (spikes, budget): no recovery notice.
    recovers: bool = True
    channels: tuple[str, ...] = ()  # in addition to alerts.channels
    # At most one notification per this interval (a lasting condition repeats this
    # often instead of after realert); None: realert decides.
    every: timedelta | None = None


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    key: str
    kind: str
    text: str
    since: datetime
    sent_at: datetime
    sent: int  # notifications so far in this episode
    recovers: bool = True
    channels: tuple[str, ...] = ()
    every: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Downtime:
    """A period the sources were not read: a gap in the health checks (the daemon down
    from ``start``, its last check, to ``end``, the first check after it), or a
    configured source failing (from the first failure of the first source to fail, to
    the last check that saw one failing)."""

    start: datetime
    end: datetime


# The @alerts row's details keys of the two kinds of period the sources were not read,
# and of the windows backfills read (stored as Downtime too: a start and an end).
DOWN, FAILING, BACKFILLED = "down", "failing", "backfilled"
# The heartbeat (ISO 8601, or None) the row had when `inchannel db copy` wrote it into
# another database: while it is unchanged, no worker has checked health there.
COPIED = "copied_heartbeat"


@dataclass(frozen=True, slots=True)
class Plan:
    fire: list[ActiveAlert]
    resolved: list[ActiveAlert]
    active: dict[str, ActiveAlert]
    # Windows and days that have passed (spikes, budget): no notice, and none of theirs
    # still waiting for a channel is sent after them.
    expired: list[ActiveAlert] = field(default_factory=list)


def bounded_key(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"{key[: MAX_KEY - 17]}~{digest}"


def reconcile(
    previous: Mapping[str, ActiveAlert],
    current: Sequence[Alert],
    *,
    now: datetime,
    realert: timedelta | None,
) -> Plan:
    fire: list[ActiveAlert] = []
    active: dict[str, ActiveAlert] = {}
    previous = {key: _sent_by(a, now) for key, a in previous.items()}
    for alert in current:
        entry, send = _step(previous.get(alert.key), alert, now, realert)
        if send:
            fire.append(entry)
        active[alert.key] = entry
    gone = [a for key, a in previous.items() if key not in active]
    # Held until its interval has passed, so its return within it is no new alert.
    active.update((a.key, a) for a in gone if a.every and now - a.sent_at < a.every)
    resolved = [a for a in gone if a.key not in active and a.recovers]
    expired = [a for a in gone if a.key not in active and not a.recovers]
    return Plan(fire, resolved, active, expired)


def held(active: Iterable[ActiveAlert], now: datetime) -> set[str]:
    """The keys with an ``every`` whose last notice is less than ``every`` ago: sent
    again now, they would send nothing (:func:`_step`)."""
    return {
        a.key for a in active if a.every is not None and now - _sent_by(a, now).sent_at < a.every
    }


def _sent_by(alert: ActiveAlert, now: datetime) -> ActiveAlert:
    """The alert as sent no later than ``now``. A clock stepped back (NTP correcting a
    host that ran ahead) left its send time in the future: the interval since it, read
    as negative, held the next notice of a lasting spike (or a realert) until the clock
    caught up, hours on. Counted from the first check after the step, it holds one
    interval at most, as designed, and sends nothing twice."""
    return replace(alert, sent_at=now) if alert.sent_at > now else alert


def _step(
    before: ActiveAlert | None, alert: Alert, now: datetime, realert: timedelta | None
) -> tuple[ActiveAlert, bool]:
    """The alert's next active entry, and whether to send it now."""
    if before is None:
        entry = ActiveAlert(
            key=alert.key,
            kind=alert.kind,
            text=alert.text,
            since=now,
            sent_at=now,
            sent=1,
            recovers=alert.recovers,
            channels=alert.channels,
            every=alert.every,
        )
        return entry, True
    # Windows and days that simply pass (recovers=False) repeat only with their own every.
    interval = alert.every or (realert if alert.recovers else None)
    if interval and now - before.sent_at >= interval:
        return replace(before, text=alert.text, sent_at=now, sent=before.sent + 1), True
    return replace(before, text=alert.text), False


def lock_state(
    session: Session,
    now: datetime,
    *,
    keep_down: timedelta | None = None,
    between_runs: timedelta = timedelta(0),
) -> dict[str, ActiveAlert]:
    """Take the ``@alerts`` row's write lock for this transaction; return the active set.
    A check after a gap (longer than HEARTBEAT_GAP plus ``between_runs``, the interval
    of a cron line running `run --once`) records the gap as a down period; those that
    ended more than ``keep_down`` ago are dropped (None: only the newest
    MAX_DOWN_PERIODS are kept).

    The lock comes first: it blocks a second worker's health check (FOR UPDATE on
    PostgreSQL, the single writer lock the INSERT takes on SQLite) until this
    transaction ends, so only one worker sees the gap.
    """
    insert_state_row(session, ALERTS_STATE)
    last_check = session.scalar(
        select(SourceState.last_poll_at).where(SourceState.name == ALERTS_STATE).with_for_update()
    )
    # A first check, or one after a gap, starts a new run (and the gap is a down period).
    new_run = last_check is None or last_check < now - (HEARTBEAT_GAP + between_runs)
    run_start = now if new_run else SourceState.last_success_at
    session.execute(
        update(SourceState)
        .where(SourceState.name == ALERTS_STATE)
        .values(last_poll_at=now, last_success_at=run_start)
    )
    state = session.get(SourceState, ALERTS_STATE)
    assert state is not None
    new_down = Downtime(last_check, now) if new_run and last_check is not None else None
    before = downtime(state.details)
    down = _kept(before, new_down, now, keep_down)
    if down != before:
        _save_periods(state, DOWN, down)
    return {a.key: a for a in decode(state.details)}


def record_failing(
    session: Session, since: datetime | None, now: datetime, *, keep: timedelta | None
) -> None:
    """After lock_state: record that a configured source has been failing from
    ``since`` to this check (None: none is failing now). The same run of failures
    (the same ``since``) extends its period; the period ends at the last check that saw
    it, a check interval at most before the first success. Kept like the down periods:
    those ending more than ``keep`` ago dropped, at most MAX_DOWN_PERIODS."""
    state = session.get(SourceState, ALERTS_STATE)
    assert state is not None
    before = failing_periods(state.details)
    periods = before
    if since is not None and since < now:
        same_run = bool(periods) and periods[-1].start == since
        periods = [*(periods[:-1] if same_run else periods), Downtime(since, now)]
    periods = _kept(periods, None, now, keep)
    if periods != before:
        _save_periods(state, FAILING, periods)


def record_backfill(session: Session, window: Downtime) -> None:
    """Record that a backfill imported everything posted in ``window``. Merged with the
    windows before (a rerun of one window, or its continuation, adds nothing); none is
    dropped for its age, as the down periods are: a window forgotten would leave its
    mentions as the oldest the daemon read (monitor.spikes). Only the newest
    MAX_DOWN_PERIODS are kept. The row is locked as the health check locks it: its
    details are rewritten whole, and one written meanwhile would be lost."""
    insert_state_row(session, ALERTS_STATE)
    query = select(SourceState).where(SourceState.name == ALERTS_STATE).with_for_update()
    state = session.scalars(query).one()
    periods = merged([*backfilled(state.details), window])
    _save_periods(state, BACKFILLED, periods[-MAX_DOWN_PERIODS:])


def merged(periods: Sequence[Downtime]) -> list[Downtime]:
    """``periods`` oldest first, those that overlap or touch joined into one."""
    out: list[Downtime] = []
    for period in sorted(periods, key=lambda p: p.start):
        if out and period.start <= out[-1].end:
            out[-1] = Downtime(out[-1].start, max(out[-1].end, period.end))
        else:
            out.append(period)
    return out


def _save_periods(state: SourceState, key: str, periods: Sequence[Downtime]) -> None:
    state.details = {**(state.details or {}), key: [_encode_down(d) for d in periods]}


def _kept(
    down: list[Downtime], new: Downtime | None, now: datetime, keep: timedelta | None
) -> list[Downtime]:
    periods = [*down, new] if new is not None else down
    if keep is not None:
        periods = [d for d in periods if d.end > now - keep]
    return periods[-MAX_DOWN_PERIODS:]


def save_state(session: Session, active: Mapping[str, ActiveAlert]) -> None:
    state = session.get(SourceState, ALERTS_STATE)
    assert state is not None
    state.details = {**(state.details or {}), "active": [_encode(a) for a in active.values()]}


def recorded_downtime(session: Session) -> list[Downtime]:
    """The down periods kept, as this transaction sees them (after lock_state: with
    the gap this check found)."""
    state = session.get(SourceState, ALERTS_STATE)
    return downtime(state.details) if state is not None else []


def recorded_failing(session: Session) -> list[Downtime]:
    """The periods a configured source was failing, as this transaction sees them."""
    state = session.get(SourceState, ALERTS_STATE)
    return failing_periods(state.details) if state is not None else []


def recorded_backfills(session: Session) -> list[Downtime]:
    """The windows backfills imported, as this transaction sees them."""
    state = session.get(SourceState, ALERTS_STATE)
    return backfilled(state.details) if state is not None else []


def backfilled(details: Mapping[str, Any] | None) -> list[Downtime]:
    """The windows backfills imported, kept in the ``@alerts`` row's details, oldest
    first and disjoint."""
    return _periods(details, BACKFILLED)


def downtime(details: Mapping[str, Any] | None) -> list[Downtime]:
    """The down periods kept in the ``@alerts`` row's details, oldest first."""
    return _periods(details, DOWN)


def failing_periods(details: Mapping[str, Any] | None) -> list[Downtime]:
    """The periods a configured source was failing, kept in the ``@alerts`` row's
    details, oldest first."""
    return _periods(details, FAILING)


def _periods(details: Mapping[str, Any] | None, key: str) -> list[Downtime]:
    return [
        Downtime(datetime.fromisoformat(start), datetime.fromisoformat(end))
        for start, end in (details or {}).get(key, [])
    ]


def _encode_down(period: Downtime) -> list[str]:
    return [period.start.isoformat(), period.end.isoformat()]


def deliver(
    session: Session,
    plan: Plan,
    *,
    channels: Sequence[str],
    now: datetime,
    unwatched: Mapping[str, str] | None = None,
) -> None:
    """Log, record and queue one notification per channel for each alert to send.
    ``unwatched``: the keys of alerts that ended because what they watch left the config,
    with what it was ("source feed", "platform x")."""
    for alert in plan.fire:
        log.warning("alert=%s key=%s %s", alert.kind, alert.key, alert.text)
        tag = _tag(alert, alert.sent)
        _record(session, alert, "alert", alert.text, tag, channels, now)
    for alert in plan.resolved:
        # A clock stepped back (or a worker's running ahead) puts since after now.
        minutes = max(0, int((now - alert.since).total_seconds() // 60))
        gone = (unwatched or {}).get(alert.key)
        # Nothing recovered: "resolved" told the team a source taken out polled again.
        ended = f"ended, {gone} no longer configured" if gone else "resolved"
        text = f"{ended} (raised {minutes} min ago): {alert.text}"
        log.info("alert=%s key=%s %s", alert.kind, alert.key, text)
        tag = _tag(alert, "resolved")
        reached = _withdraw_unsent(session, alert, _targets(alert, channels), now)
        _record(session, alert, "alert_resolved", text, tag, reached, now, extra=False)
    for alert in plan.expired:
        # Sent after its window or day (a channel down meanwhile), "in the last 60 min"
        # or "used today" told of a spike or a budget long over as current.
        _withdraw_unsent(session, alert, _targets(alert, channels), now)


def _targets(alert: ActiveAlert, channels: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*channels, *alert.channels]))


def _tag(alert: ActiveAlert, send: int | str) -> str:
    """One notification of the episode: its ``send``-th, or its "resolved" notice."""
    return f"{alert.since:%Y%m%dT%H%M%S}:{send}"


def _alert_key(alert: ActiveAlert, tag: str) -> str:
    """The key an alert's notifications are queued under (one per episode and send)."""
    return f"alert:{alert.key}:{tag}"


def _withdraw_unsent(
    session: Session, alert: ActiveAlert, targets: Sequence[str], now: datetime
) -> list[str]:
    """The channels that got (or are being sent) a notification of the ended episode;
    its notifications still waiting elsewhere are suppressed. Like Alertmanager, no
    recovery notice for an alert nobody heard of: behind a channel down for an hour,
    the retried alert and its recovery notice raced, "resolved" often came first, and
    the alert then reported as current a condition long over. A dead one (its channel
    down past notify_retry_hours) is suppressed too: a lead retrying it later (status,
    the Health page, `cases retry`) sent the over alert as current, with no notice
    after it."""
    keys = {
        notifications.notify_key(_alert_key(alert, _tag(alert, n)), channel): channel
        for n in range(1, alert.sent + 1)
        for channel in targets
    }
    if not keys:
        return []
    rows = session.execute(
        select(ActionRow.idempotency_key, ActionRow.status).where(
            ActionRow.idempotency_key.in_(list(keys))
        )
    )
    out = (ActionStatus.SENT.value, ActionStatus.SENDING.value)
    reached = {keys[str(key)] for key, status in rows if status in out}
    session.execute(
        update(ActionRow)
        .where(
            ActionRow.idempotency_key.in_(list(keys)),
            ActionRow.status.in_(
                [ActionStatus.PENDING.value, ActionStatus.FAILED.value, ActionStatus.DEAD.value]
            ),
        )
        .values(status=ActionStatus.SUPPRESSED.value, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return [channel for channel in targets if channel in reached]


def _record(
    session: Session,
    alert: ActiveAlert,
    kind: str,
    text: str,
    tag: str,
    channels: Sequence[str],
    now: datetime,
    *,
    extra: bool = True,
) -> None:
    # extra: add the alert's own channels (already among ``channels`` when False).
    targets = _targets(alert, channels) if extra else list(channels)
    detail = {"alert": alert.kind, "key": alert.key, "text": text, "channels": targets}
    session.add(Event(case_id=None, kind=kind, actor=ACTOR, detail=detail, at=now))
    notifications.enqueue(
        session,
        case=None,
        # Alerts quote what is not ours (an API's error body, a tag): inert, as mention
        # text is (no ping, no link hiding its address; the quoted parts come without
        # control characters, status_problems.bounded_error). The event keeps the text
        # as it was.
        text=f"[inchannel] {notifications.inert_markup(text)}",
        key=_alert_key(alert, tag),
        actor=ACTOR,
        now=now,
        channels=targets,
    )


def decode(details: Mapping[str, Any] | None) -> list[ActiveAlert]:
    """The active alerts stored in the ``@alerts`` row's details (status reads them too)."""
    out = []
    for item in (details or {}).get("active", []):
        out.append(
            ActiveAlert(
                key=str(item["key"]),
                kind=str(item["kind"]),
                text=str(item["text"]),
                since=datetime.fromisoformat(item["since"]),
                sent_at=datetime.fromisoformat(item["sent_at"]),
                sent=int(item["sent"]),
                recovers=bool(item.get("recovers", True)),
                channels=tuple(item.get("channels", ())),
                every=_seconds(item.get("every_seconds")),
            )
        )
    return out


def _encode(alert: ActiveAlert) -> dict[str, Any]:
    return {
        "key": alert.key,
        "kind": alert.kind,
        "text": alert.text[:MAX_TEXT],
        "since": alert.since.isoformat(),
        "sent_at": alert.sent_at.isoformat(),
        "sent": alert.sent,
        "recovers": alert.recovers,
        "channels": list(alert.channels),
        "every_seconds": alert.every.total_seconds() if alert.every else None,
    }


def _seconds(value: Any) -> timedelta | None:
    return timedelta(seconds=float(value)) if isinstance(value, int | float) else None
