"""X adapter figures: requests per poll cycle, mentions ingested per second from the
local FakeAPI server (one mentions page of 100), and API use per day at the defaults.

Run: .venv/bin/python bench/x.py   (prints a table, writes bench/results/x.json)
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.clock import FakeClock  # noqa: E402
from monitor.pipeline import poll_source, run_cycle  # noqa: E402
from monitor.runtime import build_runtime  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.sources.x_settings import XMentionsSourceConfig, XSearchSourceConfig  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from tests.fakeapi import FakeAPI  # noqa: E402
from tests.xapi import MENTIONS, body, ok, tweet, user  # noqa: E402

ROUNDS = 20
DAY = 86_400
# The traffic one brand is assumed to see per day when sizing the budget.
MENTIONS_PER_DAY = 300
KEYWORD_HITS_PER_DAY = 300


def page_of_100(start: int) -> dict[str, Any]:
    tweets = [
        tweet(start + i, f"@acme order {i} is late", author=str(100 + i % 50)) for i in range(100)
    ]
    users = [user(str(100 + i), f"customer{i}") for i in range(50)]
    return body(tweets, users=users)


def settings(tmp: Path, api: FakeAPI) -> Settings:
    return Settings.model_validate(
        {
            "brand": {"name": "Acme", "accounts": {"x": ["acme"]}},
            "database": {"url": f"sqlite:///{tmp / 'bench.db'}"},
            "sources": [{"name": "mentions", "type": "x_mentions", "thread_depth": 0}],
            "responders": {"x": {"type": "recording", "path": None}},
            "rules": {"path": str(REPO / "config" / "rules")},
            # The shipped rules escalate to these teams.
            "teams": [{"name": t} for t in ("care", "tech", "billing", "international")],
            "x": {
                "user_id": "783214",
                "bearer_token": "b",
                "api_base_url": api.base_url,
                "budget": {"reads_per_day": 1_000_000},  # measure speed, not the budget
            },
        }
    )


def measure() -> dict[str, Any]:
    timings: list[float] = []
    cycle_requests = 0
    with FakeAPI() as api, tempfile.TemporaryDirectory() as tmp:
        rt = build_runtime(settings(Path(tmp), api), clock=FakeClock())
        upgrade(rt.engine)
        for n in range(ROUNDS):
            api.add("GET", MENTIONS, ok(page_of_100(1000 * (n + 1))))
            before = len(api.requests)
            started = time.perf_counter()
            poll_source(rt, "mentions")
            timings.append(time.perf_counter() - started)
            cycle_requests = len(api.requests) - before
            rt.clock.advance(seconds=120)  # type: ignore[attr-defined]
        api.add("GET", MENTIONS, ok(page_of_100(99_000)))
        before = len(api.requests)
        run_cycle(rt)  # poll, score, decide, record replies: still one API request
        full_cycle_requests = len(api.requests) - before
        rt.engine.dispose()
    median = statistics.median(timings)
    return {
        "requests_per_poll": cycle_requests,
        "requests_per_full_cycle": full_cycle_requests,
        "poll_seconds_median": median,
        "mentions_per_second": 100 / median,
        "rounds": ROUNDS,
    }


def per_day() -> dict[str, Any]:
    mentions = XMentionsSourceConfig(name="m", type="x_mentions")
    search = XSearchSourceConfig(name="s", type="x_search", query="acme")
    requests = DAY / mentions.interval_seconds + DAY / search.interval_seconds
    # The overlap re-reads posts of the last overlap_seconds before the newest one.
    overlap = mentions.overlap_seconds / mentions.interval_seconds
    reads = (MENTIONS_PER_DAY + KEYWORD_HITS_PER_DAY) * (1 + overlap)
    return {
        "mentions_interval_s": mentions.interval_seconds,
        "search_interval_s": search.interval_seconds,
        "requests_per_day": round(requests),
        "requests_per_15_min_mentions": 900 / mentions.interval_seconds,
        "posts_read_per_day": round(reads),
        # Upper bound: every post by a different author, every user billed.
        "user_reads_per_day": round(reads),
        "read_cost_per_day_usd": round(reads * (0.005 + 0.010), 2),
        "read_cost_per_30_days_usd": round(reads * (0.005 + 0.010) * 30, 2),
        "budget_reads_per_day": 2000,
        "max_read_cost_per_30_days_at_budget_usd": 2000 * (0.005 + 0.010) * 30,
    }


def main() -> None:
    figures = {"ingest": measure(), "per_day": per_day()}
    for section, values in figures.items():
        print(f"{section}:")
        for key, value in values.items():
            shown = f"{value:,.3f}" if isinstance(value, float) else f"{value}"
            print(f"  {key:<32} {shown:>16}")
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "x.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
