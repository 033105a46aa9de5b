"""Three `inchannel run` workers on one PostgreSQL database; one is killed with SIGKILL.

The real daemon in real processes: two replay sources with 5,000 mentions between them,
processing and the outbox shared through SKIP LOCKED claims, each source through a
lease. The worker holding a source lease is killed while it is still being read, so its lease,
an open processing transaction and perhaps a claimed reply die with it. Afterwards:
every mention is in exactly one case, every decided reply was posted exactly once, and
no lease is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select

from monitor.domain import ActionKind, ActionStatus, Direction
from monitor.store.db import upgrade
from monitor.store.models import ActionRow, Case, Event, Message, SourceState
from monitor.store.scratch import scratch_postgres
from monitor.testing import split_replay_feed, write_replay_feed
from tests.conftest import PG_ADMIN_URL, PG_OK

pytestmark = pytest.mark.postgres

MENTIONS = 5_000
INCHANNEL = Path(sys.executable).parent / "inchannel"
TEXTS = [
    "my order is late again, where is it?",
    "the app keeps crashing when I pay",
    "love the new store, great service",
    "refund still not here after two weeks",
    "is the shop open on sunday?",
]
RULES = """\
name: answer-late-orders
match:
  text: [order, refund]
then:
  reply: "Sorry {first_name}, we're on it and will update you here."
---
name: crashes-to-tech
match:
  text: [crash]
then:
  escalate: {team: care, reason: app crash}
"""


@pytest.fixture
def database() -> Iterator[str]:
    if not PG_OK:
        pytest.skip("PostgreSQL is not reachable")
    with scratch_postgres(PG_ADMIN_URL, prefix="inchannel_kill") as url:
        yield url


def config(tmp_path: Path, url: str) -> Path:
    feed = tmp_path / "feed.jsonl"
    start = datetime.now(UTC) - timedelta(hours=1)
    write_replay_feed(feed, TEXTS, size=MENTIONS, threads=400, authors=1200, start=start)
    # Two accounts' mentions, split by thread; their authors overlap, so the workers
    # ingesting them meet on the same customers.
    split_replay_feed(feed, [feed, tmp_path / "other.jsonl"])
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "rules.yaml").write_text(RULES, encoding="utf-8")
    path = tmp_path / "inchannel.yaml"
    path.write_text(
        f"""\
brand: {{name: Acme, accounts: {{x: [acme]}}}}
database: {{url: "{url}"}}
sources:
  - {{name: feed, type: replay, path: feed.jsonl, page_size: 10, interval_seconds: 0.2}}
  - {{name: other, type: replay, path: other.jsonl, page_size: 10, interval_seconds: 0.2}}
responders:
  x: {{type: recording, path: posts.jsonl}}
processing: {{interval_seconds: 0.2, batch_size: 100}}
dispatch: {{interval_seconds: 0.2, batch_size: 50}}
workers: {{lease_seconds: 5, stale_claim_seconds: 5}}
rules: {{path: rules, author_cooldown_minutes: 0, max_age_hours: 0}}
web: {{enabled: false}}
""",
        encoding="utf-8",
    )
    return path


def start_worker(config_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(INCHANNEL), "run", "--config", str(config_path)],
            cwd=config_path.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(check: object, timeout: float, what: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def scalar(engine: Engine, query: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]


def inbound(engine: Engine) -> int:
    query = select(func.count()).select_from(Message)
    return scalar(engine, query.where(Message.direction == Direction.INBOUND.value))


def all_done(engine: Engine) -> bool:
    unprocessed = select(func.count()).select_from(Message).where(Message.processed.is_(False))
    unsent = select(func.count()).select_from(ActionRow)
    waiting = [ActionStatus.PENDING, ActionStatus.FAILED, ActionStatus.SENDING]
    unsent = unsent.where(ActionRow.status.in_(waiting))
    return inbound(engine) == MENTIONS and scalar(engine, unprocessed) == 0 == scalar(
        engine, unsent
    )


def lease_holder(engine: Engine) -> str | None:
    with engine.connect() as conn:
        query = select(SourceState.lease_owner).where(SourceState.name == "feed")
        return conn.execute(query).scalar_one_or_none()


def test_three_workers_survive_a_sigkill(tmp_path: Path, database: str) -> None:
    engine = create_engine(database)
    upgrade(engine)
    config_path = config(tmp_path, database)
    workers = [start_worker(config_path, tmp_path / f"worker-{i}.log") for i in range(3)]
    try:
        wait_for(lambda: inbound(engine) >= MENTIONS // 4, 120, "a quarter of the mentions")
        holder = lease_holder(engine)
        assert holder is not None
        victim = next(w for w in workers if f":{w.pid}:" in holder)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        assert inbound(engine) < MENTIONS, "the feed was read before the kill; slow it down"
        wait_for(lambda: all_done(engine), 240, "every mention processed and reply sent")
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
    survivors = [w for w in workers if w is not victim]
    assert [w.returncode for w in survivors] == [0, 0]
    assert_every_mention_in_one_case(engine)
    assert_every_reply_posted_once(engine, tmp_path / "posts.jsonl")
    with engine.connect() as conn:
        held = conn.execute(select(SourceState.name).where(SourceState.lease_owner.is_not(None)))
        assert held.all() == []
    engine.dispose()


def assert_every_mention_in_one_case(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Message.external_id, Message.case_id).where(
                Message.direction == Direction.INBOUND.value
            )
        ).all()
        threads = conn.execute(
            select(Case.platform, Case.conversation_id, Case.customer_id, func.count())
            .group_by(Case.platform, Case.conversation_id, Case.customer_id)
            .having(func.count() > 1)
        ).all()
    assert len(rows) == MENTIONS
    assert len({external_id for external_id, _ in rows}) == MENTIONS
    assert all(case_id is not None for _, case_id in rows)
    assert threads == []  # one case per platform + thread + customer


def assert_every_reply_posted_once(engine: Engine, posts_file: Path) -> None:
    with engine.connect() as conn:
        replies = conn.execute(
            select(ActionRow.idempotency_key, ActionRow.status, ActionRow.id).where(
                ActionRow.kind == ActionKind.REPLY.value
            )
        ).all()
        withdrawn = {
            detail["action"]
            for detail in conn.scalars(select(Event.detail).where(Event.kind == "reply_withdrawn"))
        }
        per_thread = conn.execute(
            select(ActionRow.conversation_id, func.count())
            .where(ActionRow.kind == ActionKind.REPLY.value, ActionRow.status == ActionStatus.SENT)
            .group_by(ActionRow.conversation_id)
        ).all()
    posts = Counter(
        json.loads(line)["idempotency_key"]
        for line in posts_file.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    sent = {key for key, status, _ in replies if status == ActionStatus.SENT.value}
    assert sent, "the rules decided no reply; the test would prove nothing"
    # Workers deciding at once in one thread may queue a reply past the thread's cap;
    # the dispatcher withdraws it (monitor/thread_cap.py), and says so on the case.
    rejected = {i for _, status, i in replies if status == ActionStatus.REJECTED.value}
    assert len(sent) + len(rejected) == len(replies)
    assert rejected == withdrawn
    assert max(n for _, n in per_thread) <= 2  # rules.max_replies_per_thread
    assert set(posts) == sent
    assert max(posts.values()) == 1
