"""The pure parts of operations alerts: dedupe and realert, spike and silence rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from monitor import jobstate
from monitor.alerting import Alert, bounded_key, reconcile
from monitor.alerts_settings import AlertsConfig, SpikeConfig
from monitor.health_alerts import budget_alerts, failing_alerts, silence_from_counts
from monitor.spikes import Counts, is_spike, spike_alerts
from monitor.status import SourceHealth
from monitor.status_problems import bounded_error

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_new_alert_fires_once_then_realerts_and_recovers() -> None:
    failing = Alert("source-failing:x:1", "source-failing", "x failing")
    plan = reconcile({}, [failing], now=T0, realert=HOUR)
    assert [(a.key, a.sent) for a in plan.fire] == [("source-failing:x:1", 1)]
    later = reconcile(plan.active, [failing], now=T0 + 59 * timedelta(minutes=1), realert=HOUR)
    assert later.fire == []
    assert later.resolved == []
    again = reconcile(later.active, [failing], now=T0 + HOUR, realert=HOUR)
    assert [(a.sent, a.since) for a in again.fire] == [(2, T0)]
    over = reconcile(again.active, [], now=T0 + 2 * HOUR, realert=HOUR)
    assert (over.fire, [a.key for a in over.resolved], over.active) == ([], [failing.key], {})


def test_without_realert_an_episode_fires_once() -> None:
    alert = Alert("silence:x", "silence", "quiet")
    plan = reconcile({}, [alert], now=T0, realert=None)
    assert reconcile(plan.active, [alert], now=T0 + 100 * HOUR, realert=None).fire == []


def test_windowed_alerts_never_realert_and_pass_silently() -> None:
    spike = Alert("spike:all:w1", "spike", "spike", recovers=False)
    plan = reconcile({}, [spike], now=T0, realert=timedelta(minutes=1))
    again = reconcile(plan.active, [spike], now=T0 + HOUR, realert=timedelta(minutes=1))
    assert again.fire == []
    assert reconcile(again.active, [], now=T0 + HOUR, realert=None).resolved == []


def test_long_keys_are_bounded_and_stay_distinct() -> None:
    a, b = bounded_key("spike:tag:" + "a" * 300), bounded_key("spike:tag:" + "a" * 299 + "b")
    assert len(a) == len(b) == 120
    assert a != b
    assert bounded_key("short") == "short"


SPIKE = SpikeConfig(window_minutes=60, baseline_hours=24, factor=3, min_count=10)


@pytest.mark.parametrize(
    ("current", "baseline_total", "expected"),
    [
        (9, 0, False),  # zero baseline: min_count decides
        (10, 0, True),
        (30, 240, True),  # 10 per window usual, 3x
        (29, 240, False),
        (12, 240, False),  # above min_count, not above the factor
        (10, 24, True),  # 1 per window usual
    ],
)
def test_spike_rule(current: int, baseline_total: int, expected: bool) -> None:
    assert is_spike(Counts(current, baseline_total), SPIKE) is expected


def test_spike_alerts_overall_and_per_tag_keyed_by_scope() -> None:
    by_tag = {"billing": Counts(12, 0), "shipping": Counts(2, 0), "x" * 90: Counts(11, 0)}
    alerts = spike_alerts(Counts(14, 24), by_tag, SPIKE)
    assert [a.key for a in alerts] == ["spike:all", "spike:tag:billing", "spike:tag:" + "x" * 90]
    assert alerts[0].text == (
        "spike: 14 negative mentions in the last 60 min (usually 1.0; baseline 24 h)"
    )
    assert alerts[1].text.startswith("spike in tag 'billing': 12 negative mentions")
    assert all(not a.recovers and a.every == HOUR for a in alerts)
    watched = SpikeConfig(tags=["shipping"])
    assert [a.key for a in spike_alerts(Counts(0, 0), by_tag, watched)] == []


def test_one_check_alerts_on_the_five_largest_tag_spikes() -> None:
    # A burst carrying many tags: only the largest MAX_TAG_ALERTS (5) tags are sent.
    by_tag = {f"t{n}": Counts(10 + n, 0) for n in range(7)}
    alerts = spike_alerts(Counts(0, 0), by_tag, SPIKE)
    assert [a.key for a in alerts] == [f"spike:tag:t{n}" for n in (6, 5, 4, 3, 2)]
    # Held keys stay listed and take none of the five places.
    held = {"spike:tag:t6", "spike:tag:t5"}
    keys = [a.key for a in spike_alerts(Counts(0, 0), by_tag, SPIKE, held=held)]
    assert keys == ["spike:tag:t6", "spike:tag:t5", *(f"spike:tag:t{n}" for n in (4, 3, 2, 1, 0))]


def test_an_alert_with_every_sends_at_most_once_per_interval() -> None:
    # A spike's key names its scope, not a clock-aligned window: a burst at 09:59 still
    # counted at 10:00 is the same alert, and one that ends and returns within the
    # interval of the last notice stays quiet (it is held active meanwhile).
    spike = Alert("spike:all", "spike", "spike", recovers=False, every=HOUR)
    minute = timedelta(minutes=1)
    first = reconcile({}, [spike], now=T0 - minute, realert=None)
    assert len(first.fire) == 1
    again = reconcile(first.active, [spike], now=T0 + minute, realert=None)
    assert again.fire == []
    ended = reconcile(again.active, [], now=T0 + 30 * minute, realert=None)
    assert (ended.resolved, list(ended.active)) == ([], ["spike:all"])
    back = reconcile(ended.active, [spike], now=T0 + 58 * minute, realert=None)
    assert back.fire == []
    lasting = reconcile(back.active, [spike], now=T0 + 59 * minute, realert=None)
    assert [(a.sent, a.since) for a in lasting.fire] == [(2, T0 - minute)]
    over = reconcile(lasting.active, [], now=T0 + 2 * HOUR, realert=None)
    assert (over.fire, over.resolved, over.active) == ([], [], {})


def test_silence_needs_a_source_that_usually_has_mentions() -> None:
    config = AlertsConfig(silence_hours=6, silence_baseline_days=7, silence_min_expected=5)
    # The counts are of the same 6 hours on each of the 7 days before: 35 is 5 a day.
    alerts = silence_from_counts(
        ["busy", "quiet", "new"],
        {"busy": 35, "quiet": 34},
        config,
        weekly={},
        days_known=dict.fromkeys(["busy", "quiet", "new"], 7),
    )
    assert [(a.key, a.text) for a in alerts] == [
        ("silence:busy", "source busy: no mentions for 6 h (usually about 5 in that time)")
    ]


def _source(**values: object) -> SourceHealth:
    base: dict[str, object] = {
        "name": "x",
        "configured": True,
        "last_poll_at": T0,
        "last_success_at": None,
        "consecutive_failures": 2,
        "last_error": "HTTP 503\nfrom upstream",
        "rate_limit_reset_at": None,
        "next_poll_at": None,
        "items_total": 0,
        "lease_owner": None,
        "details": {"failing_since": (T0 - timedelta(minutes=15)).isoformat()},
    }
    base.update(values)
    return SourceHealth(**base)  # type: ignore[arg-type]


def failing(sources: list[SourceHealth], minutes: int) -> list[Alert]:
    return failing_alerts(sources, now=T0, minutes=minutes, stale_after={"x": timedelta(minutes=8)})


def test_source_failing_for_n_minutes() -> None:
    (alert,) = failing([_source()], 15)
    assert alert.key == "source-failing:x:20261120T084500"
    assert alert.text == "source x: failing for 15 min, 2 failed polls: HTTP 503 from upstream"
    assert failing([_source()], 16) == []
    assert failing([_source(consecutive_failures=0)], 1) == []
    assert failing([_source(configured=False)], 1) == []
    assert failing([_source()], 0) == []
    stopped = _source(next_poll_at=T0 + timedelta(days=3650))
    assert "stopped (permanent error)" in failing([stopped], 1)[0].text


def test_budget_alert_at_percent_once_per_day() -> None:
    limits = {"reads": 2000, "writes": 100}
    usage = {"x:reads": 1599, "x:writes": 80}
    alerts = budget_alerts(usage, limits, 80, now=T0, notify=("ops",))
    assert [(a.key, a.text, a.channels) for a in alerts] == [
        ("x-budget:writes:2026-11-20", "X writes budget 80% used today (80 of 100)", ("ops",))
    ]
    assert budget_alerts(usage, {"reads": 0, "writes": 0}, 80, now=T0) == []


def test_spike_config_needs_a_baseline_of_at_least_one_window() -> None:
    with pytest.raises(ValidationError, match="baseline_hours must cover"):
        SpikeConfig(window_minutes=120, baseline_hours=1)


def test_spike_tags_that_no_case_can_carry_are_a_config_error() -> None:
    with pytest.raises(ValidationError, match="bad tag 'after hours'"):
        SpikeConfig(tags=["billing", "After hours"])


def test_the_alert_quotes_the_error_as_status_does() -> None:
    """The alert cut the error at 200 characters while `inchannel status` quoted 300 of
    the same failure: the page and the health check said different things."""
    error = "HTTP 503\x1b[2J from upstream " + "<p>down</p> " * 100
    (alert,) = failing([_source(last_error=error)], 15)
    prefix = "source x: failing for 15 min, 2 failed polls: "
    assert alert.text == prefix + bounded_error(error)
    assert len(alert.text) == len(prefix) + jobstate.ERROR_CHARS
    assert alert.text.startswith(prefix + "HTTP 503[2J from upstream <p>down</p>")


def test_read_budget_warning_comes_while_one_page_still_fits() -> None:
    # Pages of 300 (100 posts and their includes) stop polling past 300 of 600.
    warn = budget_alerts({"x:reads": 300}, {"reads": 600}, 80, now=T0, page=300)
    assert [a.text for a in warn] == [
        "X reads budget 50% used today (300 of 600): polling stops once a page of 300 "
        "posts no longer fits"
    ]
    assert budget_alerts({"x:reads": 299}, {"reads": 600}, 80, now=T0, page=300) == []
    # A page that never fits stops the source for good (its own error), no warning.
    assert budget_alerts({"x:reads": 0}, {"reads": 300}, 80, now=T0, page=300) == []
    # The defaults: 80% comes first, with the text it always had.
    usual = budget_alerts({"x:reads": 1600}, {"reads": 2000}, 80, now=T0, page=300)
    assert [a.text for a in usual] == ["X reads budget 80% used today (1600 of 2000)"]
