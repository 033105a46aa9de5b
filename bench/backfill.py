"""Backfill throughput: history through the pipeline, decided and never answered.

    .venv/bin/python bench/backfill.py [--size 4200] [--no-postgres]

The 4,200 tweets of the VADER paper as history (300 threads, 1,000 authors, a mention a
second over the last 70 minutes, as in bench/pipeline.py), imported with `inchannel
backfill`'s code from a replay source into a fresh database with the demo config, on
SQLite and PostgreSQL. The replay pages hold --page-size mentions (default 100, the
largest page X and Reddit return); once all are fetched they are imported oldest first
in chunks of `processing.batch_size` (the demo's 200), one transaction each. Prints
mentions/s and what was decided; writes bench/results/backfill.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline import PG_ADMIN, migrated, peak_rss, write_feed, write_results  # noqa: E402

from monitor.backfill import backfill  # noqa: E402
from monitor.runtime import build_runtime  # noqa: E402
from monitor.settings import load_settings  # noqa: E402
from monitor.sources.base import Window  # noqa: E402
from monitor.store.scratch import postgres_reachable, scratch_postgres  # noqa: E402


def run(db_url: str, work: Path, feed: Path, page_size: int) -> dict[str, Any]:
    config = migrated(db_url, work, feed)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["sources"][0]["page_size"] = page_size
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    rt = build_runtime(load_settings(config))
    rt.scorer.score("@acme warm-up: load the models before the clock starts")
    source = next(iter(rt.sources))
    started = time.perf_counter()
    report = backfill(rt, source, Window(datetime.now(UTC) - timedelta(days=90)))
    seconds = time.perf_counter() - started
    rt.engine.dispose()
    return {
        "ingested": report.ingested,
        "seconds": seconds,
        "mentions_per_s": report.ingested / seconds,
        "cases_opened": report.cases_opened,
        "decisions": dict(report.decisions),
        "suppressed": report.suppressed,
        "failure": report.failure,
        **peak_rss(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4200)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"size": args.size, "page_size": args.page_size, "runs": {}}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        feed = tmp / "feed.jsonl"
        write_feed(feed, args.size)
        (tmp / "sqlite").mkdir()
        results["runs"]["sqlite"] = run(
            f"sqlite:///{tmp}/sqlite/b.db", tmp / "sqlite", feed, args.page_size
        )
        if not args.no_postgres and postgres_reachable(PG_ADMIN):
            (tmp / "pg").mkdir()
            with scratch_postgres(PG_ADMIN, prefix="inchannel_bench") as url:
                results["runs"]["postgresql"] = run(url, tmp / "pg", feed, args.page_size)
    for backend, r in results["runs"].items():
        print(
            f"{backend:<11} {r['ingested']} mentions in {r['seconds']:.2f} s = "
            f"{r['mentions_per_s']:.0f}/s; {r['cases_opened']} cases, decisions "
            f"{r['decisions']}, {r['suppressed']} actions suppressed"
        )
    write_results("backfill", results)


if __name__ == "__main__":
    logging.disable(logging.WARNING)
    main()
