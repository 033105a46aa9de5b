"""Helpers for tests and benchmarks of code built on inchannel (shipped, like FakeClock)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from monitor.store.models import ActionRow, Case, Customer


def seed_pending_replies(sessions: sessionmaker[Session], n: int, *, at: datetime) -> int:
    """One X customer, one case and ``n`` pending reply actions due at ``at``.

    For outbox tests and benchmarks that need work to dispatch without running the
    pipeline. Returns the case id.
    """
    with sessions.begin() as session:
        customer = Customer(
            platform="x",
            platform_user_id="1",
            handle="jane",
            display_name="",
            verified=False,
            first_seen_at=at,
            last_seen_at=at,
        )
        session.add(customer)
        session.flush()
        case = Case(
            platform="x",
            conversation_id="c1",
            customer_id=customer.id,
            state="new",
            priority="normal",
            tags=[],
            bot_replies=0,
            opened_at=at,
            updated_at=at,
        )
        session.add(case)
        session.flush()
        session.add_all(_reply(case.id, i, at) for i in range(n))
        return case.id


def _reply(case_id: int, i: int, at: datetime) -> ActionRow:
    return ActionRow(
        case_id=case_id,
        kind="reply",
        platform="x",
        target_external_id=f"m{i}",
        conversation_id="c1",
        text=f"reply {i}",
        status="pending",
        attempts=0,
        next_attempt_at=at,
        idempotency_key=f"k{i}",
        created_at=at,
        updated_at=at,
    )


def write_replay_feed(
    path: Path,
    texts: Sequence[str],
    *,
    size: int,
    threads: int,
    authors: int,
    start: datetime,
    seed: int = 7,
) -> None:
    """``size`` X mentions of @acme as replay JSONL: text i is ``texts[i % len]``, each in
    a random one of ``threads`` threads by a random one of ``authors`` authors. A
    thread's first mention is its root; later ones reply to the one before."""
    rng = random.Random(seed)
    roots: dict[int, str] = {}
    last: dict[int, str] = {}
    with path.open("w", encoding="utf-8") as out:
        for i in range(size):
            thread, author = rng.randrange(threads), rng.randrange(authors)
            mention_id = f"1{i:012d}"
            row = {
                "platform": "x",
                "id": mention_id,
                "author": f"customer{author}",
                "author_id": str(1_000_000 + author),
                "text": "@acme " + texts[i % len(texts)],
                "created_at": (start + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "conversation_id": roots.setdefault(thread, mention_id),
                "in_reply_to": last.get(thread),
            }
            last[thread] = mention_id
            out.write(json.dumps(row) + "\n")


def split_replay_feed(feed: Path, outputs: Sequence[Path]) -> None:
    """Split a replay feed by thread over ``outputs`` (one per brand account, say): a
    thread's mentions all go to the same file. ``feed`` may be one of the outputs."""
    lines = feed.read_text(encoding="utf-8").splitlines()
    parts: list[list[str]] = [[] for _ in outputs]
    for line in lines:
        parts[int(json.loads(line)["conversation_id"]) % len(outputs)].append(line + "\n")
    for path, part in zip(outputs, parts, strict=True):
        path.write_text("".join(part), encoding="utf-8")
