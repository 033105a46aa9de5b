"""Dashboard server time at scale: queue page, case page and reports page.

    .venv/bin/python bench/web.py [--cases 100000] [--requests 200] [--db sqlite,postgresql]

Seeds N cases (3 messages and 1 sent reply each, 40% of them still open) with bulk
INSERTs into a freshly migrated database, signs in as a lead through the login form,
then times requests through starlette's TestClient (routing, middleware, queries and
template rendering; no network): median and p95. Writes bench/results/web.json.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from starlette.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.clock import FakeClock  # noqa: E402
from monitor.runtime import Runtime, build_runtime  # noqa: E402
from monitor.settings import Settings  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from monitor.store.models import ActionRow, Case, Customer, Message  # noqa: E402
from monitor.store.scratch import scratch_postgres  # noqa: E402
from monitor.web.app import create_app  # noqa: E402
from monitor.web.users import create_user  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
TEAMS = ["care", "billing", "tech", "international"]
STATES = ["resolved"] * 45 + ["waiting_customer"] * 15 + ["awaiting_human"] * 25
STATES += ["awaiting_approval"] * 3 + ["auto_replied"] * 7 + ["new"] * 5
TAGS = ["delivery", "billing", "outage", "praise", "question", "refund", "abuse", "vip"]
LABELS = ["negative", "neutral", "positive", "unscored"]
BATCH = 5000


def runtime(url: str) -> Runtime:
    settings = Settings.model_validate(
        {
            "brand": {"name": "Acme"},
            "database": {"url": url},
            "rules": {"path": str(REPO / "config" / "rules")},
            "teams": [{"name": t} for t in TEAMS],
            "base_dir": REPO / "config",
        }
    )
    return build_runtime(settings, clock=FakeClock(NOW))


def _case(i: int, rng: random.Random, customers: int) -> dict[str, Any]:
    opened = NOW - timedelta(minutes=rng.randint(5, 90 * 24 * 60))
    state = rng.choice(STATES)
    team = rng.choice([*TEAMS, None])
    answered = state not in ("new", "awaiting_human", "awaiting_approval") or rng.random() < 0.3
    return {
        "id": i,
        "platform": "x" if i % 3 else "reddit",
        "conversation_id": f"c{i}",
        "customer_id": 1 + i % customers,
        "state": state,
        "priority": rng.choice(["low", "normal", "normal", "normal", "high", "urgent"]),
        "team": team,
        "assignee": rng.choice([None, None, "alice", "bob"]),
        "tags": rng.sample(TAGS, rng.randint(0, 3)),
        "first_label": rng.choice(LABELS),
        "latest_label": rng.choice(LABELS),
        "latest_compound": round(rng.uniform(-1, 1), 3),
        "bot_replies": 1,
        "opened_at": opened,
        "updated_at": opened,
        "first_response_at": opened + timedelta(minutes=rng.randint(1, 600)) if answered else None,
        "resolved_at": opened + timedelta(hours=rng.randint(1, 72))
        if state == "resolved"
        else None,
        "sla_due_at": opened + timedelta(minutes=rng.choice([30, 60, 120, 240])) if team else None,
    }


def _messages(case: dict[str, Any], rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for n, direction in enumerate(("inbound", "outbound", "inbound")):
        rows.append(
            {
                "platform": case["platform"],
                "external_id": f"{case['id']}-{n}",
                "direction": direction,
                "kind": "mention" if direction == "inbound" else "reply",
                "customer_id": case["customer_id"] if direction == "inbound" else None,
                "case_id": case["id"],
                "author_handle": f"user{case['customer_id']}" if direction == "inbound" else "acme",
                "text": f"@acme order {case['id']} message {n}: " + "words " * rng.randint(3, 30),
                "conversation_id": case["conversation_id"],
                "created_at": case["opened_at"] + timedelta(minutes=n * 7),
                "ingested_at": case["opened_at"] + timedelta(minutes=n * 7),
                "processed": True,
                "reply_allowed": True,
                "label": rng.choice(LABELS),
                "lang": "en",
            }
        )
    return rows


def _action(case: dict[str, Any]) -> dict[str, Any]:
    at = case["first_response_at"] or case["opened_at"]
    rule = "delivery-problem" if case["id"] % 2 else None
    return {
        "case_id": case["id"],
        "kind": "reply",
        "platform": case["platform"],
        "target_external_id": f"{case['id']}-0",
        "conversation_id": case["conversation_id"],
        "text": "Sorry about that, we are on it here in the thread.",
        "rule": rule,
        "actor": rule or "alice",
        "status": "sent" if case["first_response_at"] else "draft",
        "attempts": 1,
        "next_attempt_at": at,
        "idempotency_key": f"bench:{case['id']}",
        "created_at": at,
        "updated_at": at,
    }


def seed(rt: Runtime, cases: int) -> float:
    started = time.perf_counter()
    rng = random.Random(9)
    customers = max(1, cases // 3)
    with rt.engine.begin() as conn:
        conn.execute(
            insert(Customer),
            [
                {
                    "id": c,
                    "platform": "x",
                    "platform_user_id": str(c),
                    "handle": f"user{c}",
                    "display_name": f"User {c}",
                    "verified": False,
                    "first_seen_at": NOW,
                    "last_seen_at": NOW,
                }
                for c in range(1, customers + 1)
            ],
        )
    for start in range(1, cases + 1, BATCH):
        batch = [_case(i, rng, customers) for i in range(start, min(cases + 1, start + BATCH))]
        with rt.engine.begin() as conn:
            conn.execute(insert(Case), batch)
            conn.execute(insert(Message), [m for c in batch for m in _messages(c, rng)])
            conn.execute(insert(ActionRow), [_action(c) for c in batch])
    if rt.engine.dialect.name == "postgresql":
        with rt.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
            # Explicit ids above leave the sequences behind; new rows must not collide.
            for table in ("customers", "cases", "messages", "actions"):
                conn.execute(
                    text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
                )
    else:
        with rt.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return time.perf_counter() - started


def signed_in(rt: Runtime) -> TestClient:
    create_user(rt, "lead", "lead", "bench-password-1")
    client = TestClient(create_app(rt))
    nonce = re.search(r'name="nonce" value="([^"]+)"', client.get("/login").text)
    assert nonce is not None
    client.post("/login", data={"name": "lead", "password": "bench-password-1", "nonce": nonce[1]})
    return client


def timed(client: TestClient, paths: Callable[[int], str], n: int) -> dict[str, float]:
    client.get(paths(0))  # warm caches and compiled statements
    samples = []
    for i in range(n):
        started = time.perf_counter()
        answer = client.get(paths(i))
        samples.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (paths(i), answer.status_code)
    samples.sort()
    return {
        "requests": n,
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(0.95 * n) - 1)], 1),
    }


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/web.db"
        return
    with scratch_postgres(PG_ADMIN, prefix="inchannel_bench") as url:
        yield url


def measure(kind: str, cases: int, requests: int) -> dict[str, Any]:
    with database(kind) as url:
        rt = runtime(url)
        upgrade(rt.engine)
        seconds = seed(rt, cases)
        client = signed_in(rt)
        rng = random.Random(1)
        refs = [f"C-{1000 + rng.randint(1, cases)}" for _ in range(requests)]
        result = {
            "db": kind,
            "cases": cases,
            "messages": 3 * cases,
            "seed_s": round(seconds, 1),
            "queue": timed(client, lambda i: "/", requests),
            "queue_team_filter": timed(client, lambda i: f"/?team={TEAMS[i % 4]}", requests),
            "queue_text_search": timed(
                client, lambda i: f"/?q=order+{i + 1}+", max(20, requests // 10)
            ),
            "case": timed(client, lambda i: f"/cases/{refs[i]}", requests),
            "reports_30d": timed(client, lambda i: "/reports?days=30", max(10, requests // 20)),
        }
        rt.engine.dispose()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--db", default="sqlite,postgresql")
    args = parser.parse_args()
    results = []
    for kind in args.db.split(","):
        print(f"{kind}: seeding {args.cases} cases ...", flush=True)
        results.append(measure(kind, args.cases, args.requests))
    print(
        f"\n{'db':<11}{'cases':>8}{'seed s':>8}  {'page':<18}{'n':>5}{'median ms':>11}{'p95 ms':>9}"
    )
    for r in results:
        for page in ("queue", "queue_team_filter", "queue_text_search", "case", "reports_30d"):
            t = r[page]
            print(
                f"{r['db']:<11}{r['cases']:>8}{r['seed_s']:>8}  {page:<18}{t['requests']:>5}"
                f"{t['median_ms']:>11}{t['p95_ms']:>9}"
            )
    out = REPO / "bench" / "results" / "web.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"\nwrote {out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
