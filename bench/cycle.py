"""Start-up time of `inchannel run --once` and the throughput of one full cycle.

    .venv/bin/python bench/cycle.py [--runs 5] [--scale 100]

1. Start-up: wall time of `inchannel run --once` on the demo config in a fresh
   process, over a fresh migrated SQLite file (median of --runs).
2. Cycle throughput: one in-process `run_cycle` (poll, score, case, rules, outbox,
   recording responder) over the 35 sample mentions, and over the samples repeated
   --scale times with fresh ids, on SQLite and (if reachable) PostgreSQL.
Writes bench/results/cycle.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.pipeline import run_cycle  # noqa: E402
from monitor.runtime import build_runtime  # noqa: E402
from monitor.settings import load_settings  # noqa: E402
from monitor.store.db import upgrade  # noqa: E402
from monitor.store.scratch import postgres_reachable, scratch_postgres  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SAMPLES = REPO / "config" / "samples" / "mentions.jsonl"


def demo_copy(workdir: Path, db_url: str, feed: Path) -> Path:
    config = workdir / "config"
    shutil.copytree(REPO / "config", config, dirs_exist_ok=True)
    text_ = (config / "inchannel.yaml").read_text(encoding="utf-8")
    text_ = text_.replace("sqlite:///../var/inchannel.db", db_url)
    text_ = text_.replace("path: samples/mentions.jsonl", f"path: {feed}")
    text_ = text_.replace("page_size: 6", "page_size: 500")
    text_ = text_.replace("path: ../var/recorded-posts.jsonl", "path: null")
    (config / "inchannel.yaml").write_text(text_, encoding="utf-8")
    return config / "inchannel.yaml"


def startup(runs: int) -> dict[str, float]:
    cli = str(REPO / ".venv" / "bin" / "inchannel")
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            config = demo_copy(work, f"sqlite:///{work}/inchannel.db", SAMPLES)
            subprocess.run(
                [cli, "db", "upgrade", "--config", str(config)], check=True, capture_output=True
            )
            started = time.perf_counter()
            subprocess.run(
                [cli, "run", "--once", "--config", str(config)],
                check=True,
                capture_output=True,
                cwd=work,
            )
            times.append(time.perf_counter() - started)
    return {"median_s": statistics.median(times), "min_s": min(times), "runs": runs}


def scaled_feed(path: Path, scale: int) -> int:
    rows = [json.loads(line) for line in SAMPLES.read_text(encoding="utf-8").splitlines() if line]
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for copy in range(scale):
            for row in rows:
                row = dict(row)
                suffix = f"-{copy}"
                for key in ("id", "conversation_id", "in_reply_to", "author_id"):
                    if row.get(key):
                        row[key] = f"{row[key]}{suffix}"
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    return count


def cycle(db_url: str, feed: Path, n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(demo_copy(Path(tmp), db_url, feed))
        rt = build_runtime(settings)
        upgrade(rt.engine)
        started = time.perf_counter()
        run_cycle(rt)
        elapsed = time.perf_counter() - started
        rt.engine.dispose()
    return {"mentions": n, "seconds": elapsed, "mentions_per_s": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=100)
    args = parser.parse_args()
    results: dict[str, Any] = {"startup_run_once": startup(args.runs)}
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "scaled.jsonl"
        n_big = scaled_feed(big, args.scale)
        for label, feed, n in (("samples", SAMPLES, 35), ("scaled", big, n_big)):
            results[f"sqlite_{label}"] = cycle(f"sqlite:///{tmp}/{label}.db", feed, n)
            if postgres_reachable():
                with scratch_postgres(prefix="inchannel_bench") as url:
                    results[f"postgresql_{label}"] = cycle(url, feed, n)
    print(
        f"start-up of `inchannel run --once` (demo config, 35 mentions): "
        f"median {results['startup_run_once']['median_s']:.2f} s, "
        f"min {results['startup_run_once']['min_s']:.2f} s over {args.runs} runs"
    )
    print(f"{'case':<22}{'mentions':>10}{'seconds':>10}{'mentions/s':>12}")
    for key, value in results.items():
        if key.startswith(("sqlite", "postgresql")):
            print(
                f"{key:<22}{value['mentions']:>10}{value['seconds']:>10.2f}{value['mentions_per_s']:>12.0f}"
            )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "cycle.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {out / 'cycle.json'}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
