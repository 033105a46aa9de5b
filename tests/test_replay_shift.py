"""shift_to_now: the demo's fixed sample dates move to the day the demo runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, update

from monitor.clock import FakeClock
from monitor.domain import Direction
from monitor.ingest import poll_source
from monitor.pipeline import run_cycle
from monitor.runtime import build_runtime
from monitor.settings import ReplaySourceConfig, load_settings
from monitor.sources.replay import ReplaySource
from monitor.store.db import upgrade
from monitor.store.models import Message, SourceState
from monitor.web.reports import build_report
from tests.conftest import RuntimeFactory, demo_copy, mention, write_jsonl

DEMO_DAY = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


def _demo(tmp_path: Path, start: datetime) -> tuple[Path, FakeClock]:
    """The shipped demo config, migrated, and a clock at ``start``."""
    path = demo_copy(tmp_path)
    rt = build_runtime(load_settings(path), clock=FakeClock(start))
    upgrade(rt.engine)
    rt.engine.dispose()
    return path, FakeClock(start)


def test_a_demo_started_on_a_later_day_shows_its_mentions_that_day(tmp_path: Path) -> None:
    # The samples are dated 2026-11-20: replayed as written, the bot's replies were
    # posted months after the messages and the reports' 30-day window was empty.
    path, clock = _demo(tmp_path, DEMO_DAY)
    rt = build_runtime(load_settings(path), clock=clock)
    run_cycle(rt)
    with rt.sessions() as session:
        times = list(
            session.scalars(
                select(Message.created_at).where(Message.direction == Direction.INBOUND.value)
            )
        )
    assert times
    assert max(times) == DEMO_DAY
    assert all(t.date() == DEMO_DAY.date() for t in times)
    # The gaps are kept: the samples span 08:00 to 11:20.
    assert max(times) - min(times) == timedelta(hours=3, minutes=20)
    report = build_report(rt)
    assert sum(n for _day, _platform, _label, n in report.volume) > 0
    rt.engine.dispose()


def test_a_second_start_stores_nothing_again_and_moves_nothing(tmp_path: Path) -> None:
    path, clock = _demo(tmp_path, DEMO_DAY)
    first = build_runtime(load_settings(path), clock=clock)
    run_cycle(first)
    with first.sessions() as session:
        before = sorted(session.execute(select(Message.external_id, Message.created_at)).all())
    first.engine.dispose()
    # Days later, `make run` again: a new source, a new offset. The cursor says the file
    # is served; even read again from the top (a reset cursor) every mention is a
    # duplicate by its id, and the stored ones keep their dates.
    later = build_runtime(load_settings(path), clock=FakeClock(DEMO_DAY + timedelta(days=4)))
    run_cycle(later)
    with later.sessions() as session:
        session.execute(update(SourceState).values(cursor=None))
        session.commit()
    run_cycle(later)
    with later.sessions() as session:
        after = sorted(session.execute(select(Message.external_id, Message.created_at)).all())
    assert after == before
    later.engine.dispose()


def test_thread_parents_and_account_ages_move_with_their_mentions(tmp_path: Path) -> None:
    feed = write_jsonl(
        tmp_path / "feed.jsonl",
        [
            mention(1, created_at="2026-11-20T08:00:00Z", author_created_at="2026-11-17T08:00:00Z"),
            mention(
                2, created_at="2026-11-20T09:00:00Z", conversation_id="1001", in_reply_to="1001"
            ),
            mention(3, created_at="2026-11-20T10:00:00Z"),
        ],
    )
    source = ReplaySource("feed", feed, page_size=1, shift_to_now=True)
    pages = []
    cursor = None
    for now in (DEMO_DAY, DEMO_DAY + timedelta(minutes=5), DEMO_DAY + timedelta(minutes=9)):
        result = source.poll(cursor, now=now)
        pages.extend(result.mentions)
        cursor = result.cursor
    # One offset for the whole file, fixed at the first read: the parent in the first
    # page and its reply in the second keep their hour between them.
    assert [m.created_at for m in pages] == [
        DEMO_DAY - timedelta(hours=2),
        DEMO_DAY - timedelta(hours=1),
        DEMO_DAY,
    ]
    assert pages[0].author.account_created_at == DEMO_DAY - timedelta(days=3, hours=2)


def test_a_line_appended_later_is_never_dated_in_the_future(tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [mention(1, created_at="2026-11-20T10:00:00Z")])
    source = ReplaySource("feed", feed, shift_to_now=True)
    first = source.poll(None, now=DEMO_DAY)
    with feed.open("a", encoding="utf-8") as handle:
        handle.write(
            write_jsonl(
                tmp_path / "x.jsonl", [mention(2, created_at="2027-03-01T11:00:00Z")]
            ).read_text(encoding="utf-8")
        )
    later = DEMO_DAY + timedelta(minutes=1)
    (appended,) = source.poll(first.cursor, now=later).mentions
    assert appended.created_at == later


def test_off_by_default_the_file_dates_are_kept(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    assert poll_source(rt, "feed") is False
    with rt.sessions() as session:
        (stored,) = session.scalars(select(Message.created_at))
        assert session.scalar(select(func.count()).select_from(Message)) == 1
    assert stored == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_shift_to_now_must_be_a_boolean() -> None:
    with pytest.raises(ValidationError, match="shift_to_now"):
        ReplaySourceConfig.model_validate(
            {"type": "replay", "name": "demo", "path": "f.jsonl", "shift_to_now": "soon"}
        )
