"""Spike detection: negative mentions (overall and per case tag) against their baseline.

The current window slides (the last ``window_minutes``), so a crisis shows at once; the
baseline is the average count per window over the ``baseline_hours`` before it. An
alert needs ``current >= factor * baseline`` and ``current >= min_count`` (so with a
zero baseline ``min_count`` alone decides). Its key names the scope only ("spike:all",
"spike:tag:<tag>") and it carries ``every=window_minutes``: monitor.alerting sends a
scope at most once per window by the time it was last sent, so a lasting spike alerts
once per ``window_minutes`` (like ElastAlert's spike rule with realert set to the
window), and a burst that stays in the sliding window across a clock boundary does
not alert twice.

Hours of the baseline the daemon was down (monitor.alerting keeps its recent down
periods) are left out of it, their mentions and their windows: a catch-up after a long
downtime can lose posts to a gap (X's max_pages, Reddit's ~1,000-item listings), and
the hours it could not read averaged in as quiet ones. So are the hours in which any
configured source was failing while the daemon ran (an outage, revoked credentials, its
read budget spent), for the same reason: all sources' mentions of those hours, since
one source's share of the counts is not known.

The history begins with the oldest mention the daemon read, not the oldest stored: a
backfill of a week in September, long before the daemon first ran, dated it to
September, and the hours between (read by nobody) averaged in as quiet ones. A
backfill's window counts when it reaches the history the daemon read, or the current
window: those hours were all read, by the import.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, not_, select
from sqlalchemy.orm import Session

from monitor.alerting import Alert, Downtime, bounded_key, merged
from monitor.alerts_settings import SpikeConfig
from monitor.domain import Direction, Label
from monitor.notifications import excerpt
from monitor.store.models import Case, Message
from monitor.threads import BACKFILL_TAG

# One check alerts on at most this many tags (the largest spikes), so a burst of
# mentions carrying many tags cannot flood the channels. Tags whose notice of this
# window went out already send nothing and take no place.
MAX_TAG_ALERTS = 5
TAG_CHARS = 40


@dataclass(frozen=True, slots=True)
class Counts:
    current: int
    baseline_total: int
    # Windows of history the baseline spans: fewer than baseline_hours on a new
    # install or after downtime (None: all of them).
    windows: float | None = None
    # Hours of the baseline left out because the daemon was down then.
    down_hours: float = 0.0
    # Hours of it left out because a source was failing then (the daemon running).
    failing_hours: float = 0.0


@dataclass(frozen=True, slots=True)
class Baseline:
    """The windows the baseline averages over, where its history begins (None: not
    before the current window), and the periods the sources were not read (clipped to
    the baseline, overlaps merged) whose mentions it leaves out."""

    windows: float | None
    first: datetime | None = None
    left_out: tuple[Downtime, ...] = ()
    down_hours: float = 0.0
    failing_hours: float = 0.0


def windows_in_baseline(config: SpikeConfig) -> float:
    return config.baseline_hours * 60 / config.window_minutes


def baseline_span(config: SpikeConfig) -> timedelta:
    """How far back the check reads: the baseline and the current window. A down period
    that ended before that is no longer needed."""
    return timedelta(hours=config.baseline_hours, minutes=config.window_minutes)


def baseline(counts: Counts, config: SpikeConfig) -> float:
    return counts.baseline_total / (counts.windows or windows_in_baseline(config))


def is_spike(counts: Counts, config: SpikeConfig) -> bool:
    baseline_ = baseline(counts, config)
    return counts.current >= config.min_count and counts.current >= config.factor * baseline_


def spike_alerts(
    overall: Counts,
    by_tag: Mapping[str, Counts],
    config: SpikeConfig,
    *,
    held: Collection[str] = frozenset(),
) -> list[Alert]:
    """The spikes now. ``held``: keys notified within their window, which send nothing
    now: they stay listed, but only the others are ranked for the MAX_TAG_ALERTS
    places. Ranked with them, five lasting spikes hid a new one for as long as they
    lasted."""
    every = timedelta(minutes=config.window_minutes)
    alerts = []
    if is_spike(overall, config):
        text = f"spike: {_describe(overall, config)}"
        alerts.append(Alert("spike:all", "spike", text, recovers=False, every=every))
    spiking = sorted(
        ((tag, c) for tag, c in by_tag.items() if _watched(tag, config) and is_spike(c, config)),
        key=lambda item: (-item[1].current, item[0]),
    )
    keyed = [(bounded_key(f"spike:tag:{tag}"), tag, c) for tag, c in spiking]
    due = [item for item in keyed if item[0] not in held]
    shown = [item for item in keyed if item[0] in held] + due[:MAX_TAG_ALERTS]
    for key, tag, counts in shown:
        text = f"spike in tag {excerpt(tag)[:TAG_CHARS]!r}: {_describe(counts, config)}"
        alerts.append(Alert(key, "spike", text, recovers=False, every=every))
    return alerts


def _watched(tag: str, config: SpikeConfig) -> bool:
    # "backfill" marks imported history, not a topic: watched with every tag, a backfill
    # up to now would report its own import as a spike.
    if config.tags is True:
        return tag != BACKFILL_TAG
    return isinstance(config.tags, list) and tag in config.tags


def _describe(counts: Counts, config: SpikeConfig) -> str:
    usual_count = baseline(counts, config)
    usual = f"usually {usual_count:.1f}" if usual_count else "usually none"
    span = f"baseline {config.baseline_hours} h"
    if counts.windows is not None:
        left_out = counts.down_hours + counts.failing_hours
        history = counts.windows * config.window_minutes / 60 + left_out
        if history < config.baseline_hours:
            span += f", {round(history, 1):g} h of history"
    if counts.down_hours:
        span += f", {round(counts.down_hours, 1):g} h of it down"
    if counts.failing_hours:
        span += f", {round(counts.failing_hours, 1):g} h of it with a source failing"
    return (
        f"{counts.current} negative mentions in the last {config.window_minutes} min "
        f"({usual}; {span})"
    )


def _history(
    first: datetime | None, config: SpikeConfig, *, current_from: datetime
) -> float | None:
    """The baseline windows the stored history (from ``first``) covers. A new install has
    only hours of it: averaged over all of baseline_hours, a steady brand's own rate read
    as a spike for its first day. A window partly covered counts whole. None: no history
    before the window, a zero baseline, so min_count decides as documented."""
    full = windows_in_baseline(config)
    if first is None or first >= current_from:
        return None
    window = timedelta(minutes=config.window_minutes)
    return float(min(full, max(1, math.ceil((current_from - first) / window))))


def first_watched(
    session: Session, backfilled: Sequence[Downtime], *, current_from: datetime
) -> datetime | None:
    """Where the history begins: the oldest mention stored outside the ``backfilled``
    windows (the daemon's reading, a first poll's catch-up included), or earlier where
    backfilled windows reach it without a gap. Without one, only windows reaching the
    current window count. None: no history before the current window."""
    windows = merged(backfilled)
    first = _first_read(session, windows)
    start = current_from if first is None else min(first, current_from)
    for window in reversed(windows):
        if window.start < start <= window.end:
            start = window.start
    return start if start < current_from or first is not None else None


def _first_read(session: Session, backfilled: Sequence[Downtime]) -> datetime | None:
    """The oldest mention stored outside the ``backfilled`` windows: one index range per
    gap between them, oldest first, so the backfilled mentions are never scanned.

    A gap begins after its window's end, not at it: a stopped import's window ends,
    exclusive, at the first mention it did not import, and ones it did import may share
    that second (X and Reddit give seconds). Counted as the daemon's reading, such a
    mention dated the history back through the window it was imported with."""
    bounds = [None, *(edge for w in backfilled for edge in (w.start, w.end)), None]
    for after, before in zip(bounds[::2], bounds[1::2], strict=True):
        # Thread context (a parent post from last year) is no sign of when we began
        # watching.
        query = select(func.min(Message.created_at)).where(
            Message.direction != Direction.CONTEXT.value
        )
        if after is not None:
            query = query.where(Message.created_at > after)
        if before is not None:
            query = query.where(Message.created_at < before)
        found = session.scalar(query)
        if found is not None:
            return found
    return None


def baseline_of(
    session: Session,
    config: SpikeConfig,
    down: Sequence[Downtime],
    *,
    current_from: datetime,
    failing: Sequence[Downtime] = (),
    backfilled: Sequence[Downtime] = (),
) -> Baseline:
    """The history windows less the hours of them the daemon was down or a source was
    failing. When less than one window was read, those hours are all there is:
    counted as read (what the catch-up got), rather than a zero baseline letting
    min_count alone decide."""
    first = first_watched(session, backfilled, current_from=current_from)
    windows = _history(first, config, current_from=current_from)
    if windows is None or first is None or not (down or failing):
        return Baseline(windows, first)
    start = max(first, current_from - timedelta(hours=config.baseline_hours))
    # A source failing when the daemon stopped shows failing until its first poll after
    # the restart: that period overlaps the downtime, counted once.
    left_out = merged(_clipped([*down, *failing], start, current_from))
    minutes = _minutes(left_out)
    watched = windows - minutes / config.window_minutes
    if not left_out or watched < 1:
        return Baseline(windows, first)
    down_hours = _minutes(merged(_clipped(down, start, current_from))) / 60
    return Baseline(watched, first, tuple(left_out), down_hours, minutes / 60 - down_hours)


def _clipped(periods: Sequence[Downtime], start: datetime, end: datetime) -> list[Downtime]:
    return [
        Downtime(max(p.start, start), min(p.end, end))
        for p in periods
        if p.end > start and p.start < end
    ]


def _minutes(periods: Sequence[Downtime]) -> float:
    return sum((p.end - p.start).total_seconds() for p in periods) / 60


def _watched_time(left_out: Sequence[Downtime]) -> list[ColumnElement[bool]]:
    return [not_(and_(Message.created_at >= d.start, Message.created_at < d.end)) for d in left_out]


def negative_counts(
    session: Session,
    config: SpikeConfig,
    *,
    now: datetime,
    down: Sequence[Downtime] = (),
    failing: Sequence[Downtime] = (),
    backfilled: Sequence[Downtime] = (),
) -> tuple[Counts, dict[str, Counts]]:
    """Negative inbound mentions in the current window and the baseline (less the
    ``down`` and ``failing`` periods, and from where its history begins:
    :func:`baseline_of`), overall and per tag of their case: one range scan of
    ``ix_messages_created``, grouped by case in the database so only one row per case
    comes back."""
    current_from = now - timedelta(minutes=config.window_minutes)
    base = baseline_of(
        session, config, down, current_from=current_from, failing=failing, backfilled=backfilled
    )
    # A backfill's mentions from before the history began are not averaged over the
    # windows of the history.
    since = max(current_from - timedelta(hours=config.baseline_hours), base.first or current_from)
    in_current = case((Message.created_at >= current_from, 1), else_=0)
    per_case = (
        select(
            Message.case_id.label("case_id"),
            func.sum(in_current).label("current"),
            func.count().label("total"),
        )
        .where(
            Message.created_at >= since,
            Message.created_at < now,
            Message.label == Label.NEGATIVE.value,
            Message.direction == Direction.INBOUND.value,
            *_watched_time(base.left_out),
        )
        .group_by(Message.case_id)
        .subquery()
    )
    rows = session.execute(
        select(per_case.c.current, per_case.c.total, Case.tags).outerjoin(
            Case, Case.id == per_case.c.case_id
        )
    )
    overall_current = overall_total = 0
    by_tag: dict[str, list[int]] = {}
    for current, total, tags in rows:
        current, total = int(current or 0), int(total)
        overall_current, overall_total = overall_current + current, overall_total + total
        for tag in set(tags or []) if config.tags else ():
            pair = by_tag.setdefault(str(tag), [0, 0])
            pair[0], pair[1] = pair[0] + current, pair[1] + total - current
    left_out = (base.windows, base.down_hours, base.failing_hours)
    overall = Counts(overall_current, overall_total - overall_current, *left_out)
    return overall, {tag: Counts(c, b, *left_out) for tag, (c, b) in by_tag.items()}
