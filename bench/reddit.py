"""Reddit source cost: requests per poll cycle, items ingested per second, and QPM headroom.

Runs the real praw.Reddit against the local FakeAPI (tests/fakeapi.py) with scripted
listings, through the real poll_source step into a fresh SQLite database.

    .venv/bin/python bench/reddit.py

Prints a table and writes bench/results/reddit.json.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.clock import FakeClock  # noqa: E402
from monitor.ingest import poll_source  # noqa: E402
from monitor.runtime import Runtime, build_runtime  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from monitor.store.models import SourceState  # noqa: E402
from tests.fakeapi import FakeAPI, Reply  # noqa: E402
from tests.reddit_fake import (  # noqa: E402
    T0,
    comment,
    listing,
    reddit_section,
    serve_token,
    submission,
)

REDDIT_FREE_QPM = 100  # queries per minute per OAuth client id (platforms.md 5.2)
SUBREDDITS = ["acme", "acmehelp", "gadgets", "shopping", "deals"]
PAGES = 10  # listing pages of 100 comments for the throughput run (max_items <= 1000)
TOKEN_LIFETIME_S = 3600


DEFAULT_SOURCES: list[dict[str, Any]] = [
    {"name": "inbox", "type": "reddit_inbox"},
    {"name": "watch", "type": "reddit_subreddit", "subreddits": SUBREDDITS, "keywords": ["acme"]},
    {"name": "search", "type": "reddit_search"},
]
FIREHOSE = {
    "name": "firehose",
    "type": "reddit_subreddit",
    "subreddits": ["acme"],
    "keywords": ["acme"],
    "submissions": False,
    "max_items": PAGES * 100,
}


def settings(api: FakeAPI, db: Path, sources: list[dict[str, Any]]) -> Settings:
    return Settings.model_validate(
        {
            "brand": {"name": "Acme", "accounts": {"reddit": ["acme_official"]}},
            "database": {"url": f"sqlite:///{db}"},
            "sources": sources,
            "reddit": reddit_section(api),
            "rules": {"path": str(REPO / "config" / "rules")},
            # The shipped rules escalate to these teams.
            "teams": [{"name": t} for t in ("care", "tech", "billing", "international")],
            "base_dir": db.parent,
        }
    )


def fresh(prefix: str, text: str, poll: int, **extra: Any) -> dict[str, Any]:
    """A comment first seen on poll ``poll``, in a thread of its own."""
    link = f"{prefix}{poll}"
    return comment(f"{prefix}{poll}c", text, created=T0 + poll, link=link, **extra)


def seen(prefix: str, text: str, poll: int, **extra: Any) -> list[dict[str, Any]]:
    """A listing as poll ``poll`` reads it, newest first: its new item, then the items of
    the polls before (a listing that stopped above the last poll's newest item would be
    a gap, which the source reports)."""
    return [fresh(prefix, text, p, **extra) for p in range(poll, 0, -1)]


def script_busy_cycle(api: FakeAPI) -> None:
    """Every listing has one new item per poll, each in a thread not seen before: the
    inbox marks read, and thread context is fetched, on every poll."""
    serve_token(api)
    api.add("POST", "/api/read_message/?", Reply.json({}))
    api.add("GET", "/api/info/?", listing(submission("ctx", "A thread")))
    for path, prefix, text, kind in (
        ("/message/mentions", "m", "u/acme_official hi", "username_mention"),
        ("/message/comments/?", "r", "thanks", "comment_reply"),
        ("/message/selfreply/?", "s", "is it fixed?", "post_reply"),
    ):
        api.add("GET", path, *[listing(*seen(prefix, text, p, inbox=kind)) for p in (1, 2)])
    for sub in SUBREDDITS:
        api.add("GET", f"/r/{sub}/comments/?", *[listing(*seen(sub, "acme!", p)) for p in (1, 2)])
        api.add("GET", f"/r/{sub}/new/?", listing())
    api.add("GET", "/r/all/search/?", listing())


def requests_per_poll(rt: Runtime, api: FakeAPI) -> dict[str, dict[str, float]]:
    """Requests each source makes on its second poll (the first one also fetches a token).

    Problems a poll reports (an unscripted route, say) would make the count meaningless,
    so they abort the run.
    """
    table: dict[str, dict[str, float]] = {}
    for name in rt.sources:
        poll_source(rt, name)
    assert isinstance(rt.clock, FakeClock)
    rt.clock.advance(minutes=10)
    for name in rt.sources:
        before = len(api.requests)
        poll_source(rt, name)
        table[name] = {"requests": len(api.requests) - before}
        _check_clean(rt, name)
    return table


def _check_clean(rt: Runtime, name: str) -> None:
    with rt.sessions() as session:
        state = session.get(SourceState, name)
        assert state is not None
        if state.last_error or state.consecutive_failures:
            raise SystemExit(f"source {name} reported: {state.last_error}")


def qpm(table: dict[str, dict[str, float]], rt: Runtime) -> float:
    total = 0.0
    for name, row in table.items():
        config = rt.settings.source(name)
        row["interval_s"] = config.interval_seconds
        row["qpm"] = row["requests"] * 60 / config.interval_seconds
        total += row["qpm"]
    # Each source and the responder hold their own token, refreshed hourly.
    return total + (len(table) + 1) * 60 / TOKEN_LIFETIME_S


def throughput(tmp: Path) -> dict[str, float]:
    """Items per second through poll_source: PAGES pages of 100 keyword hits each."""
    with FakeAPI() as api:
        serve_token(api)
        pages = [
            listing(
                *[
                    comment(f"p{p}x{i}", "acme is great", created=T0 - p * 100 - i)
                    for i in range(100)
                ],
                after=f"t1_p{p}x99" if p + 1 < PAGES else None,
            )
            for p in range(PAGES)
        ]
        api.add("GET", "/api/info/?", listing(submission("abc123", "The thread")))
        api.add("GET", "/r/acme/comments/?", pages[0])
        for p in range(1, PAGES):
            api.add("GET", "/r/acme/comments/?", pages[p], query={"after": f"t1_p{p - 1}x99"})
        config = settings(api, tmp / "firehose.db", [FIREHOSE])
        rt = build_runtime(config, clock=FakeClock())
        upgrade(rt.engine)
        started = time.perf_counter()
        poll_source(rt, "firehose")
        elapsed = time.perf_counter() - started
        _check_clean(rt, "firehose")
        rt.engine.dispose()
        items = PAGES * 100
        return {"items": items, "seconds": elapsed, "items_per_s": items / elapsed,
                "requests": len(api.requests)}  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as raw, FakeAPI() as api:
        tmp = Path(raw)
        script_busy_cycle(api)
        rt = build_runtime(settings(api, tmp / "bench.db", DEFAULT_SOURCES), clock=FakeClock())
        upgrade(rt.engine)
        table = requests_per_poll(rt, api)
        total_qpm = qpm(table, rt)
        rt.engine.dispose()
        speed = throughput(tmp)
    print(f"{'source':<10}{'requests/poll':>15}{'interval s':>12}{'QPM':>8}")
    for name, row in table.items():
        print(f"{name:<10}{row['requests']:>15.0f}{row['interval_s']:>12.0f}{row['qpm']:>8.2f}")
    headroom = 1 - total_qpm / REDDIT_FREE_QPM
    print(f"total QPM incl. hourly tokens: {total_qpm:.2f} of {REDDIT_FREE_QPM} "
          f"(headroom {headroom:.0%}; {len(SUBREDDITS)} watched subreddits)")  # fmt: skip
    print(f"throughput: {speed['items']} items in {speed['seconds']:.2f} s = "
          f"{speed['items_per_s']:.0f} items/s ({speed['requests']:.0f} requests)")  # fmt: skip
    per_sub = 2 * 60 / 60  # comments + new per subreddit at the 60 s default
    spare = math.floor((REDDIT_FREE_QPM - total_qpm) / per_sub)
    print(f"room for about {spare} more watched subreddits at the default interval")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "per_source": table,
        "total_qpm": total_qpm,
        "headroom": headroom,
        "throughput": speed,
        "spare_subreddits": spare,
    }
    (out / "reddit.json").write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
