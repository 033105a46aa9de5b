"""Cost of one health check (check_health) on a large messages table.

    .venv/bin/python bench/alerts.py [--messages 200000] [--days 30]

For SQLite and PostgreSQL (if reachable): spread N inbound messages (a third negative,
cases tagged from a small set) evenly over D days ending now, then time the spike
counting query, the silence counts and the whole check_health step (median of 9 runs),
and print the query plans. Writes bench/results/alerts.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import insert, text  # noqa: E402

from monitor.clock import FakeClock  # noqa: E402
from monitor.health_alerts import check_health, mention_counts  # noqa: E402
from monitor.runtime import Runtime, build_runtime  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.spikes import negative_counts  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from monitor.store.models import Case, Customer, Message  # noqa: E402
from monitor.store.scratch import postgres_reachable, scratch_postgres  # noqa: E402

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
TAGS = [["billing"], ["shipping"], ["app"], [], ["billing", "app"]]
CASES = 5000
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def seed(rt: Runtime, n: int, days: int) -> None:
    step = timedelta(days=days) / n
    with rt.sessions.begin() as session:
        customer = Customer(
            platform="x", platform_user_id="1", handle="c", first_seen_at=NOW, last_seen_at=NOW
        )
        session.add(customer)
        session.flush()
        cases = [
            {
                "platform": "x",
                "conversation_id": f"c{i}",
                "customer_id": customer.id,
                "state": "new",
                "priority": "normal",
                "tags": TAGS[i % len(TAGS)],
                "bot_replies": 0,
                "opened_at": NOW,
                "updated_at": NOW,
            }
            for i in range(CASES)
        ]
        session.execute(insert(Case), cases)
        for start in range(0, n, 10_000):
            rows = [
                _row(i, NOW - step * (n - i), customer.id)
                for i in range(start, min(n, start + 10_000))
            ]
            session.execute(insert(Message), rows)


def _row(i: int, at: datetime, customer: int) -> dict[str, Any]:
    return {
        "platform": "x",
        "external_id": str(i),
        "direction": "inbound",
        "kind": "mention",
        "source": f"s{i % 3}",
        "customer_id": customer,
        "case_id": 1 + i % CASES,
        "author_handle": "c",
        "text": "@acme hello",
        "conversation_id": f"c{i % CASES}",
        "created_at": at,
        "ingested_at": at,
        "processed": True,
        "label": ("negative", "neutral", "positive")[i % 3],
        "compound": 0.0,
        "reply_allowed": True,
    }


def median_ms(fn: Callable[[], object], runs: int = 9) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def measure(url: str, n: int, days: int) -> dict[str, Any]:
    settings = Settings.model_validate(
        {
            "brand": {"name": "Acme"},
            "database": {"url": url},
            "sources": [{"name": f"s{i}", "type": "replay", "path": "/dev/null"} for i in range(3)],
            "rules": {"path": str(REPO / "config" / "rules")},
            "teams": [{"name": t} for t in ("care", "billing", "tech", "international")],
        }
    )
    rt = build_runtime(settings, clock=FakeClock(NOW))
    upgrade(rt.engine)
    seed(rt, n, days)
    spike = settings.alerts.spike
    with rt.sessions() as session:
        session.execute(text("ANALYZE"))
        result = {
            "messages": n,
            "days": days,
            "spike_query_ms": median_ms(lambda: negative_counts(session, spike, now=NOW)),
            "silence_recent_ms": median_ms(
                lambda: mention_counts(
                    session, ["s0", "s1", "s2"], since=NOW - timedelta(hours=6), until=None
                )
            ),
            "silence_baseline_ms": median_ms(
                lambda: mention_counts(
                    session,
                    ["s0", "s1", "s2"],
                    since=NOW - timedelta(days=7, hours=6),
                    until=NOW - timedelta(hours=6),
                )
            ),
            "plan": _plan(session, rt),
        }
    result["check_health_ms"] = median_ms(lambda: check_health(rt))
    rt.engine.dispose()
    return result


def _plan(session: Any, rt: Runtime) -> list[str]:
    since = (NOW - timedelta(hours=25)).isoformat(sep=" ")
    where = f"created_at >= '{since}' AND label = 'negative' AND direction = 'inbound'"
    sql = f"SELECT case_id, count(*) FROM messages WHERE {where} GROUP BY case_id"
    prefix = "EXPLAIN QUERY PLAN " if rt.engine.dialect.name == "sqlite" else "EXPLAIN "
    return [" ".join(str(c) for c in row) for row in session.execute(text(prefix + sql))]


@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite:///{tmp}/bench.db"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30)
    args = parser.parse_args()
    results = {}
    with sqlite_url() as url:
        results["sqlite"] = measure(url, args.messages, args.days)
    if postgres_reachable(PG):
        with scratch_postgres(PG, prefix="inchannel_bench") as url:
            results["postgresql"] = measure(url, args.messages, args.days)
    out = REPO / "bench" / "results" / "alerts.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
