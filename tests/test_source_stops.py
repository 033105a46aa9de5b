"""A source stopped by a permanent error, and a failed poll under a lost lease."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select

from monitor.cli import main
from monitor.ingest import resume_stopped_sources, take_lease
from monitor.pipeline import poll_source
from monitor.runtime import Runtime
from monitor.sources.base import PollResult, SourceError
from monitor.status import collect
from monitor.store.db import transaction
from monitor.store.models import Message, SourceState
from tests.conftest import RuntimeFactory, mention


class RevokedCredentials:
    name = "feed"

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        raise SourceError("auth rejected", permanent=True)


def stored(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Message)) or 0)


def stop_permanently(rt: Runtime) -> None:
    working = rt.sources["feed"]
    rt.sources["feed"] = RevokedCredentials()
    poll_source(rt, "feed")
    rt.sources["feed"] = working
    assert collect(rt).problems == ["source feed: stopped: auth rejected"]


def test_a_stopped_source_stays_stopped_until_a_worker_starts(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1)])
    stop_permanently(rt)
    rt.clock.advance(days=3)  # type: ignore[attr-defined]
    assert poll_source(rt, "feed") is False
    assert stored(rt) == 0
    # The operator fixes the credentials and restarts: the new worker polls it again.
    assert resume_stopped_sources(rt) == ["feed"]
    poll_source(rt, "feed")
    assert stored(rt) == 1
    assert collect(rt).problems == []
    assert resume_stopped_sources(rt) == []


def test_a_waiting_source_is_not_resumed(make_runtime: RuntimeFactory) -> None:
    # A rate limit or backoff is the platform's wait, not a stop: a restart keeps it.
    rt = make_runtime([mention(1)])
    working = rt.sources["feed"]

    class Failing:
        name = "feed"

        def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
            raise SourceError("503", kind="server")

    rt.sources["feed"] = Failing()
    poll_source(rt, "feed")
    rt.sources["feed"] = working
    assert resume_stopped_sources(rt) == []
    assert poll_source(rt, "feed") is False  # still backing off
    assert stored(rt) == 0


def test_inchannel_run_resumes_stopped_sources(
    make_runtime: RuntimeFactory, tmp_path: Path, db_url: str
) -> None:
    rt = make_runtime([mention(1)])
    stop_permanently(rt)
    import yaml

    from tests.conftest import settings_for

    settings = settings_for(tmp_path, db_url, tmp_path / "feed0.jsonl")
    config = tmp_path / "inchannel.yaml"
    config.write_text(yaml.safe_dump(settings.model_dump(mode="json", exclude_unset=True)))
    result = CliRunner().invoke(main, ["run", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert stored(rt) == 1


def test_a_failure_after_the_lease_was_lost_leaves_the_new_owners_state(
    make_runtime: RuntimeFactory,
) -> None:
    rows = [mention(1)]
    slow, other = make_runtime(rows), make_runtime(rows)

    class TooSlow:
        """Fails after its lease was taken over, as a poll slower than the lease."""

        name = "feed"

        def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
            with transaction(other.sessions) as session:
                state = session.get(SourceState, "feed")
                assert state is not None
                state.lease_expires_at = now  # expired: the other worker may take it
            other.clock.advance(seconds=1)  # type: ignore[attr-defined]
            assert take_lease(other, "feed", other.clock.now())
            raise SourceError("auth rejected", permanent=True)

    slow.sources["feed"] = TooSlow()
    poll_source(slow, "feed")
    with other.sessions() as session:
        state = session.get(SourceState, "feed")
        assert state is not None
        assert (state.lease_owner, state.consecutive_failures, state.next_poll_at) == (
            other.worker_id,
            0,
            None,
        )
    assert poll_source(other, "feed") is False  # its one page: stored, nothing more
    assert stored(other) == 1
