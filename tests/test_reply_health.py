"""Replies failing on a platform while its sources read fine: every reply refused (posting
credentials revoked, an account suspended, an app without write access) goes to a person
case by case, and status and the operations alerts must say so too. SQLite and
PostgreSQL, a FakeClock, the responder faked at its boundary."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from monitor import reply_health
from monitor.domain import Action, Platform
from monitor.health_alerts import check_health
from monitor.pipeline import dispatch_outbox, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import ActionRow, SourceState
from responders.base import ResponderError, SendResult
from tests.conftest import REPO, RuntimeFactory, mention
from tests.test_health_alerts import OPS, QUIET, clock, delivered, notes
from tests.test_metrics import scrape, value

THANKS = "@acme thank you so much, wonderful service!"
REVOKED = "X refused our credentials (401 Unauthorized)"
_ids = itertools.count(1)


class Platform401:
    """A platform that refuses every post while ``down``, as with revoked credentials."""

    def __init__(self, error: ResponderError | None = None) -> None:
        self.down = True
        self.error = error or ResponderError(REVOKED, permanent=True)
        self.posts: list[str] = []

    def send(self, action: Action) -> SendResult:
        if self.down:
            raise self.error
        self.posts.append(action.text)
        return SendResult(f"p{len(self.posts)}")

    def find_own_reply(self, action: Action) -> str | None:
        return None


def replying(make: RuntimeFactory, **alerts: Any) -> tuple[Runtime, Platform401]:
    """A runtime whose feed is empty, every reply refused."""
    rt = make(channels=OPS, alerts={"channels": ["ops"], **QUIET, **alerts})
    platform = Platform401()
    rt.responders[Platform.X] = platform
    ops = Platform401()
    ops.down = False  # the ops channel takes the alerts
    rt.notifier = ops  # type: ignore[assignment]
    return rt, platform


def minutes_of_replies(rt: Runtime, minutes: int, every: int = 5) -> None:
    """The daemon for ``minutes``: a customer thanks the brand every ``every`` minutes
    from the first (0: never), the feed is polled and each mention answered each minute, and
    the health checked."""
    feed = Path(rt.settings.sources[0].path)  # type: ignore[union-attr]
    for minute in range(minutes):
        now = clock(rt).now()
        if every and minute % every == 0:
            n = next(_ids)
            row = mention(n, THANKS, created_at=now.isoformat().replace("+00:00", "Z"))
            with feed.open("a", encoding="utf-8") as out:
                out.write(json.dumps(row) + "\n")
        poll_source(rt, "feed")
        process_pending(rt)
        dispatch_outbox(rt)
        check_health(rt)
        clock(rt).advance(minutes=1)


def reply_problems(rt: Runtime) -> list[str]:
    return [p for p in collect(rt).problems if p.startswith("replies")]


def test_every_reply_refused_is_a_problem_and_an_alert_until_one_is_posted(
    make_runtime: RuntimeFactory,
) -> None:
    # Sources read fine, each refused reply went to a person, and status said healthy:
    # nothing told the operator that no reply had been posted for an hour.
    rt, platform = replying(make_runtime, source_failing_minutes=15)
    minutes_of_replies(rt, 15)  # refused at 09:00, 09:05, 09:10: for 10 min
    assert reply_problems(rt) == []
    minutes_of_replies(rt, 6)  # and at 09:15 and 09:20
    status = collect(rt)
    assert not status.healthy
    assert [s.name for s in status.sources if s.consecutive_failures] == ["@replies:x"]
    assert reply_problems(rt) == [
        f"replies on x: failing for 21 min, 5 failed sends and none posted: {REVOKED}"
    ]
    alerts = [text for channel, text in notes(rt) if "replies" in text]
    assert alerts == [
        f"[inchannel] replies on x: failing for 15 min, 4 failed sends and none posted: {REVOKED}"
    ]
    platform.down = False
    minutes_of_replies(rt, 5)
    assert platform.posts  # the next reply went out
    assert reply_problems(rt) == []
    assert collect(rt).healthy
    assert notes(rt)[-1][1].startswith("[inchannel] resolved (raised 6 min ago): replies on x")


def test_one_refused_reply_on_a_quiet_day_is_no_problem(make_runtime: RuntimeFactory) -> None:
    # A deleted post or a locked thread refuses one reply: no sign the platform refuses
    # them all, however long the next reply takes to come.
    rt, _ = replying(make_runtime)
    minutes_of_replies(rt, 1)
    minutes_of_replies(rt, 120, every=0)
    assert reply_problems(rt) == []
    assert collect(rt).healthy


def test_rate_limited_replies_are_not_failing(make_runtime: RuntimeFactory) -> None:
    # A rate limit refuses nothing for good, and has its own waits and alerts.
    rt, platform = replying(make_runtime)
    platform.error = ResponderError("429 Too Many Requests", rate_limited=True)
    minutes_of_replies(rt, 40)
    assert reply_problems(rt) == []


def test_status_shows_the_failing_replies_as_a_row(make_runtime: RuntimeFactory) -> None:
    # `status --json` and the Health page list the row with the sources, as a failing job's.
    rt, _ = replying(make_runtime)
    minutes_of_replies(rt, 21)
    row = next(s for s in collect(rt).sources if s.name == "@replies:x")
    assert (row.configured, row.consecutive_failures, row.last_error) == (False, 5, REVOKED)
    assert row.details == {"failing_since": "2026-11-20T09:00:00+00:00"}
    assert row.last_poll_at == datetime.fromisoformat("2026-11-20T09:20:00+00:00")
    with rt.sessions() as session:
        dead = session.scalars(select(ActionRow.status).where(ActionRow.kind == "reply")).all()
    assert set(dead) == {"dead"}  # each went to a person, as before


def test_replies_posted_leave_no_row(make_runtime: RuntimeFactory) -> None:
    # The usual case costs nothing: no row is written while no reply fails.
    rt, platform = replying(make_runtime)
    platform.down = False
    minutes_of_replies(rt, 11)
    assert len(platform.posts) == 3
    assert [s.name for s in collect(rt).sources] == ["feed"]


def test_the_run_of_refused_replies_is_a_gauge_per_platform(make_runtime: RuntimeFactory) -> None:
    # Only inchannel_healthy turned 0: a dashboard or an alert rule on the metrics could
    # not tell which platform refuses, nor see the run grow before the alert's minutes.
    rt, platform = replying(make_runtime)
    failures = "inchannel_reply_consecutive_failures"
    before = scrape(rt)
    for name in ("x", "reddit"):  # there from the start, at 0
        assert before[(failures, (("platform", name),))] == 0
    minutes_of_replies(rt, 21)
    failing = scrape(rt)
    assert value(failing, failures, platform="x") == 5
    assert value(failing, failures, platform="reddit") == 0
    platform.down = False
    minutes_of_replies(rt, 5)
    assert value(scrape(rt), failures, platform="x") == 0


@pytest.mark.parametrize(
    "responders",
    [{}, {"x": {"type": "recording", "path": None}}],  # none, or one that posts nowhere
)
def test_a_platform_taken_out_of_the_config_is_not_called_recovered(
    make_runtime: RuntimeFactory, responders: dict[str, Any]
) -> None:
    # Its source and responder removed, no reply goes to the platform any more: the
    # run could end only with a reply posted there, so the alert was re-sent and status
    # unhealthy for good, or "resolved" when a retry went to the recording responder.
    rt, _ = replying(make_runtime)
    minutes_of_replies(rt, 21)
    delivered(rt)
    feed = rt.settings.sources[0].model_dump()
    later = make_runtime(
        channels=OPS,
        alerts={"channels": ["ops"], **QUIET},
        sources=[{**feed, "enabled": False}],
        responders=responders,
    )
    clock(later).set(clock(rt).now())
    check_health(later)
    assert notes(later)[-1][1].startswith(
        "[inchannel] ended, platform x no longer configured (raised 6 min ago): replies on x"
    )
    assert reply_problems(later) == []
    assert collect(later).healthy
    assert value(scrape(later), "inchannel_reply_consecutive_failures", platform="x") == 0


def test_the_readme_and_the_health_page_docs_name_the_replies_row(
    make_runtime: RuntimeFactory,
) -> None:
    # The run is a `@replies:<platform>` row among the sources of `inchannel status` and
    # the Health page; the README's status row and docs/dashboard.md's Health page told
    # of sources only, so an operator had no word of what the row was.
    rt, _ = replying(make_runtime, source_failing_minutes=15)
    minutes_of_replies(rt, 21)
    assert "@replies:x" in [s.name for s in collect(rt).sources]
    readme = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    (row,) = [line for line in readme if line.startswith("| `inchannel status")]
    assert "`@replies:<platform>`" in row
    dashboard = (REPO / "docs" / "dashboard.md").read_text(encoding="utf-8")
    health = dashboard.split("**Health** (`/health`)", 1)[1].split("\n\n", 1)[0]
    assert "`@replies:<platform>`" in " ".join(health.split())


def test_only_the_failures_after_a_groups_last_posted_reply_are_a_run(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = replying(make_runtime)
    refused = ResponderError(REVOKED, permanent=True)
    name = reply_health.state_name(Platform.X)

    def failures() -> int | None:
        with rt.sessions() as session:
            state = session.scalars(select(SourceState).where(SourceState.name == name)).first()
            return None if state is None else state.consecutive_failures

    now = clock(rt).now()
    with transaction(rt.sessions) as session:  # refused, then one posted: no run
        reply_health.record(session, [(Platform.X, refused), (Platform.X, None)], now)
    assert failures() is None
    with transaction(rt.sessions) as session:  # posted, then two refused: a run of two
        sends = [(Platform.X, None), (Platform.X, refused), (Platform.X, refused)]
        reply_health.record(session, sends, now)
    assert failures() == 2
    with transaction(rt.sessions) as session:  # one refused, then posted: over
        reply_health.record(session, [(Platform.X, refused), (Platform.X, None)], now)
    assert failures() == 0
