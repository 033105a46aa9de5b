"""The connection pool against the threads of one process: every thread that may hold a
connection at once (the daemon's jobs, the dashboard's requests) gets one without
waiting for another to give its back."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import anyio
import anyio.to_thread

from monitor.daemon import build_scheduler
from tests.conftest import RuntimeFactory, mention, write_jsonl


async def _web_threads() -> int:
    # Starlette runs each request's database work in anyio's worker threads, these many
    # at once at the most.
    return int(anyio.to_thread.current_default_thread_limiter().total_tokens)


def test_the_pool_serves_every_thread_of_the_process_at_once(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    feed = write_jsonl(tmp_path / "more.jsonl", [mention(1)])
    sources = [{"name": f"feed{n}", "type": "replay", "path": str(feed)} for n in range(3)]
    rt = make_runtime(sources=sources)
    scheduler = build_scheduler(rt)
    # One connection per job thread, and a second for health (it reads the status while
    # it holds its lock), per dashboard request thread, a metrics scrape and the main
    # thread (which releases the leases as the daemon stops).
    users = len(scheduler.get_jobs()) + 1 + anyio.run(_web_threads) + 2
    all_in = threading.Barrier(users + 1)
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            with rt.engine.connect():
                all_in.wait(timeout=120)
        except BaseException as exc:  # the pool's TimeoutError, or the broken barrier
            failures.append(exc)
            all_in.abort()

    threads = [threading.Thread(target=hold) for _ in range(users)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a thread failed: asserted below
        all_in.wait(timeout=120)
    for thread in threads:
        thread.join()
    assert not failures, f"{len(failures)} of {users} threads: {failures[0]!r}"
