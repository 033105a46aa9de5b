"""Outbox dispatch throughput with the recording responder, and crash duplicates.

    .venv/bin/python bench/dispatch.py [--actions 2000]

For SQLite and PostgreSQL (if reachable): seed N pending reply actions, then time
`dispatch_outbox` until the outbox is empty, with one worker and with two workers
(threads with their own engines). Then the crash check: N actions, the "process" dies
after each platform post (half before, half after the platform accepted it), a restarted
dispatcher runs after the stale-claim window, and we count posts per action (must be 1).
Writes bench/results/dispatch.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.clock import FakeClock  # noqa: E402
from monitor.domain import Action, Platform  # noqa: E402
from monitor.pipeline import dispatch_outbox  # noqa: E402
from monitor.runtime import Runtime, build_runtime  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from monitor.store.scratch import postgres_reachable, scratch_postgres  # noqa: E402
from monitor.testing import seed_pending_replies  # noqa: E402
from responders.base import SendResult  # noqa: E402
from responders.recording import RecordingResponder  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def runtime(url: str, clock: FakeClock | None = None) -> Runtime:
    settings = Settings.model_validate(
        {
            "brand": {"name": "Acme"},
            "database": {"url": url},
            "rules": {"path": str(REPO / "config" / "rules")},
            # The shipped rules escalate to these teams.
            "teams": [{"name": t} for t in ("care", "tech", "billing", "international")],
            "responders": {"x": {"type": "recording", "path": None}},
            "dispatch": {"batch_size": 100},
            "base_dir": REPO / "config",
        }
    )
    return build_runtime(settings, clock=clock or FakeClock(T0 + timedelta(minutes=1)))


def drain(rt: Runtime) -> None:
    while dispatch_outbox(rt):
        pass


def throughput(url: str, n: int, workers: int) -> dict[str, float]:
    rts = [runtime(url) for _ in range(workers)]
    upgrade(rts[0].engine)
    seed_pending_replies(rts[0].sessions, n, at=T0)
    shared = RecordingResponder(None)
    for rt in rts:
        rt.responders[Platform.X] = shared
    threads = [threading.Thread(target=drain, args=(rt,)) for rt in rts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    posts = Counter(p.idempotency_key for p in shared.posts)
    for rt in rts:
        rt.engine.dispose()
    return {
        "actions": n,
        "workers": workers,
        "seconds": elapsed,
        "actions_per_s": n / elapsed,
        "duplicates": sum(c - 1 for c in posts.values()),
        "sent": len(posts),
    }


class Crash(BaseException):
    pass


class CrashingPlatform(RecordingResponder):
    """Dies around every post: before the platform got it (odd ids) or after (even)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.dying = True

    def send(self, action: Action) -> SendResult:
        if not self.dying:
            return super().send(action)
        if action.id % 2:
            raise Crash
        super().send(action)
        raise Crash


def crash_duplicates(url: str, n: int) -> dict[str, int]:
    clock = FakeClock(T0 + timedelta(minutes=1))
    rt = runtime(url, clock)
    upgrade(rt.engine)
    seed_pending_replies(rt.sessions, n, at=T0)
    platform = CrashingPlatform()
    rt.responders[Platform.X] = platform
    for _ in range(n):
        with contextlib.suppress(Crash):
            dispatch_outbox(rt)
    platform.dying = False
    clock.advance(minutes=11)
    drain(rt)
    posts = Counter(p.idempotency_key for p in platform.posts)
    rt.engine.dispose()
    return {"actions": n, "posted": len(posts), "duplicates": sum(c - 1 for c in posts.values())}


def on_each_engine(tmp: Path, job: Any) -> dict[str, Any]:
    out = {"sqlite": job(f"sqlite:///{tmp}/{uuid.uuid4().hex}.db")}
    if postgres_reachable():
        with scratch_postgres(prefix="inchannel_bench") as url:
            out["postgresql"] = job(url)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--actions", type=int, default=2000)
    args = parser.parse_args()
    n = args.actions
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            results[f"workers_{workers}"] = on_each_engine(
                Path(tmp), lambda url, w=workers: throughput(url, n, w)
            )
        results["crash"] = on_each_engine(Path(tmp), lambda url: crash_duplicates(url, 200))
    print(f"{'engine':<12}{'workers':>8}{'actions':>9}{'seconds':>9}{'actions/s':>11}{'dupes':>7}")
    for workers in (1, 2):
        for engine, r in results[f"workers_{workers}"].items():
            print(
                f"{engine:<12}{workers:>8}{r['actions']:>9}{r['seconds']:>9.2f}"
                f"{r['actions_per_s']:>11.0f}{r['duplicates']:>7}"
            )
    for engine, r in results["crash"].items():
        print(
            f"crash test {engine}: {r['actions']} actions, each interrupted once; "
            f"{r['posted']} posted, {r['duplicates']} duplicate posts"
        )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "dispatch.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
