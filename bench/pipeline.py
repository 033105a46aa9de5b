"""The full-pipeline benchmark: ingest → score → case → rules → outbox → responder.

    .venv/bin/python bench/pipeline.py [--big 100000] [--workers 3] [--no-postgres]

1. Raw vaderSentiment over the 4,200 tweets of the VADER paper (median of 3 passes).
2. The same tweets as mentions of the demo brand (spread over 300 threads and 1,000
   authors) through `run_cycle` with the demo's default rule set and the recording
   responder, on SQLite and PostgreSQL. Each run is a fresh process on a fresh
   database, so its peak RSS is its own.
   After the run, the same process times scoring and the rules (answers included)
   over the 4,200 texts with no database (the floor no storage work can remove) and
   raw VADER again: each run's ratio uses its own process's VADER time.
3. --big mentions (the tweets again with fresh ids; threads and authors scaled in
   proportion) on SQLite and, with --big-postgres, on PostgreSQL: throughput and peak
   RSS as the data grows.
4. PostgreSQL with 1 and with --workers worker processes sharing the database over
   --worker-size mentions, once from one replay source (leased by one worker, so one
   worker ingests everything) and once split by thread into --workers sources (a brand
   with several accounts); processing and the outbox are claimed with SKIP LOCKED.
   Each worker is the daemon itself (monitor.daemon.run_forever: a poll job per
   source, the process and dispatch jobs, each in its own thread), with job intervals
   of 0.1-0.5 s, timed until every mention is processed and every reply sent. 1 and N
   workers run back to back --pairs times; the speed-up is the median of the pairs.
Prints a table and writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TWEETS = REPO.parent / "shared" / "data" / "vader-groundtruth" / "tweets_GroundTruth.txt"
sys.path.insert(0, str(REPO))

from cycle import demo_copy  # noqa: E402

from monitor.testing import split_replay_feed, write_replay_feed  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
THREADS_PER_4200, AUTHORS_PER_4200 = 300, 1000
WORKER_DEADLINE_SECONDS = 1800


def tweets() -> list[str]:
    rows = TWEETS.read_text(encoding="utf-8").splitlines()
    return [row.split("\t", 2)[2].strip() for row in rows if row.strip()]


def write_feed(path: Path, size: int) -> None:
    """``size`` mentions of the tweets over threads and authors in the 4,200 : 300 : 1,000
    proportion of the issue."""
    write_replay_feed(
        path,
        tweets(),
        size=size,
        threads=max(1, round(size * THREADS_PER_4200 / 4200)),
        authors=max(1, round(size * AUTHORS_PER_4200 / 4200)),
        start=datetime.now(UTC) - timedelta(seconds=size),
    )


def raw_vader_seconds(texts: list[str], passes: int = 3) -> float:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        for text in texts:
            analyzer.polarity_scores(text)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- child processes --------------------------------------------------------------


def child_cycle(config: Path, *, floor: bool) -> dict[str, Any]:
    """One `run --once` worth of work in this process, timed after start-up; with
    ``floor``, also the no-database floor (once per benchmark is enough)."""
    sys.path.insert(0, str(REPO))
    from monitor.pipeline import run_cycle
    from monitor.runtime import build_runtime, settled
    from monitor.settings import load_settings

    rt = build_runtime(load_settings(config))
    with settled(rt):  # as `inchannel run` works: models loaded, start-up's heap frozen
        started = time.perf_counter()
        report = run_cycle(rt)
        seconds = time.perf_counter() - started
    compute = {"compute_seconds": compute_floor(rt, tweets())} if floor else {}
    # Raw VADER again in this process, right after the run: on a shared machine the
    # CPU's speed drifts between processes, and the ratio compares like with like.
    vader = raw_vader_seconds(tweets())
    return {
        "seconds": seconds,
        **compute,
        "raw_vader_seconds": vader,
        "polls": report.polls,
        **counts(rt),
        **peak_rss(),
    }


def compute_floor(rt: Any, texts: list[str]) -> float:
    """Scoring and the rules (answers included) over the 4,200 texts with no database:
    the part of the pipeline that no storage work can remove. A slight underestimate:
    reading the feed and turning decisions into JSON are not storage either."""
    from monitor.domain import Author, Mention, Platform
    from monitor.rules.context import Context

    now = datetime.now(UTC)
    mentions = [
        Mention(
            platform=Platform.X,
            external_id=str(i),
            author=Author(id=str(i % AUTHORS_PER_4200), handle=f"user{i % AUTHORS_PER_4200}"),
            text="@acme " + text,
            created_at=now,
            conversation_id=str(i % THREADS_PER_4200),
        )
        for i, text in enumerate(texts)
    ]
    context = Context(now=now, case_ref="C-1")
    times = []
    for _ in range(3):  # the median of 3 passes, like raw VADER's
        started = time.perf_counter()
        for mention in mentions:
            rt.rules.decide(mention, rt.scorer.score(mention.text, lang=mention.lang), context)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def child_worker(config: Path) -> dict[str, Any]:
    """One `inchannel run` worker: the daemon's own scheduler (a poll job per source, the
    process and dispatch jobs, each in its own thread) until the parent says all is
    done, then the daemon's clean stop."""
    import threading

    sys.path.insert(0, str(REPO))
    from monitor.daemon import run_forever
    from monitor.runtime import build_runtime, settled
    from monitor.settings import load_settings

    rt = build_runtime(load_settings(config))
    with settled(rt):  # as `inchannel run` works
        Path(os.environ["BENCH_READY"]).touch()
        while not Path(os.environ["BENCH_GO"]).exists():
            time.sleep(0.01)
        daemon = threading.Thread(target=run_forever, args=(rt,))
        daemon.start()
        # Only the parent asks the database whether all is done: three workers counting
        # rows ten times a second cost PostgreSQL a good part of a CPU.
        while not Path(os.environ["BENCH_STOP"]).exists():
            time.sleep(0.05)
        rt.stopping.set()
        daemon.join()
    return peak_rss()


def finished(sessions: Any, expected: int) -> bool:
    from sqlalchemy import func, select

    from monitor.domain import ActionStatus, Direction
    from monitor.store.models import ActionRow, Message

    with sessions() as session:
        # Inbound only: the replies dispatch stores are messages too.
        inbound = Message.direction == Direction.INBOUND.value
        stored = session.scalar(select(func.count()).select_from(Message).where(inbound)) or 0
        waiting = session.scalar(
            select(func.count()).select_from(Message).where(Message.processed.is_(False))
        )
        unsent = session.scalar(
            select(func.count())
            .select_from(ActionRow)
            .where(ActionRow.status.in_([ActionStatus.PENDING, ActionStatus.SENDING]))
        )
    return bool(stored >= expected and waiting == 0 and unsent == 0)


def counts(rt: Any) -> dict[str, Any]:
    from sqlalchemy import func, select

    from monitor.store.models import ActionRow, Case, Message

    with rt.sessions() as session:
        actions = session.execute(
            select(ActionRow.kind, ActionRow.status, func.count()).group_by(
                ActionRow.kind, ActionRow.status
            )
        ).all()
        return {
            "messages": session.scalar(select(func.count()).select_from(Message)),
            "cases": session.scalar(select(func.count()).select_from(Case)),
            "actions": {f"{kind}:{status}": n for kind, status, n in actions},
        }


def peak_rss() -> dict[str, float]:
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# --- the parent ---------------------------------------------------------------------


def run_child(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def result_of(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit code {process.returncode}")
    parsed: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return parsed


def migrated(db_url: str, workdir: Path, feed: Path) -> Path:
    config = demo_copy(workdir, db_url, feed)
    cli = Path(sys.executable).parent / "inchannel"
    subprocess.run(
        [str(cli), "db", "upgrade", "--config", str(config)], check=True, capture_output=True
    )
    return config


def cycle_run(
    backend: str, size: int, feed: Path, tmp: Path, *, floor: bool = False
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(dir=tmp))
    extra = ["--floor"] if floor else []
    if backend == "sqlite":
        config = migrated(f"sqlite:///{work}/b.db", work, feed)
        return {"size": size, **result_of(run_child("--child-cycle", str(config), *extra))}
    from monitor.store.scratch import scratch_postgres

    with scratch_postgres(PG_ADMIN, prefix="inchannel_bench") as url:
        config = migrated(url, work, feed)
        return {"size": size, **result_of(run_child("--child-cycle", str(config), *extra))}


def shard(feed: Path, shards: int, work: Path) -> list[Path]:
    """The feed split by thread into ``shards`` files: one per brand account, say."""
    paths = [work / f"shard-{i}.jsonl" for i in range(shards)]
    split_replay_feed(feed, paths)
    return paths


def short_intervals(config: Path) -> None:
    """Job intervals of a fraction of a second: a drained job waits for its next run,
    and the default 5 s would measure the wait, not the work."""
    import yaml

    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    for source in data["sources"]:
        source["interval_seconds"] = 0.5
    data["processing"]["interval_seconds"] = data["dispatch"]["interval_seconds"] = 0.1
    config.write_text(yaml.safe_dump(data), encoding="utf-8")


def with_sources(config: Path, feeds: list[Path]) -> None:
    """Replace the config's sources with one replay source per feed."""
    import yaml

    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    base = data["sources"][0]
    data["sources"] = [{**base, "name": f"feed-{i}", "path": str(f)} for i, f in enumerate(feeds)]
    config.write_text(yaml.safe_dump(data), encoding="utf-8")


def workers_run(
    workers: int, size: int, feed: Path, tmp: Path, *, sources: int = 1
) -> dict[str, Any]:
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from monitor.store.scratch import scratch_postgres

    work = Path(tempfile.mkdtemp(dir=tmp))
    with scratch_postgres(PG_ADMIN, prefix="inchannel_bench") as url:
        config = migrated(url, work, feed)
        if sources > 1:
            with_sources(config, shard(feed, sources, work))
        short_intervals(config)
        go, stop = work / "go", work / "stop"
        ready = [work / f"ready-{i}" for i in range(workers)]
        signals = {"BENCH_GO": str(go), "BENCH_STOP": str(stop)}
        children = [
            run_child("--child-worker", str(config), env={"BENCH_READY": str(r), **signals})
            for r in ready
        ]
        while not all(r.exists() for r in ready):
            time.sleep(0.05)
        engine = create_engine(url)
        sessions = sessionmaker(engine)
        go.touch()
        started, busy_before = time.perf_counter(), cpu_ticks()
        while not finished(sessions, size):
            if any(child.poll() is not None for child in children):
                raise SystemExit("a benchmark worker exited before the work was done")
            if time.perf_counter() - started > WORKER_DEADLINE_SECONDS:
                raise SystemExit("the workers did not finish within the deadline")
            time.sleep(0.1)
        wall = time.perf_counter() - started
        busy = cpu_busy(busy_before, cpu_ticks())
        stop.touch()
        engine.dispose()
        results = [result_of(child) for child in children]
    return {
        "workers": workers,
        "sources": sources,
        "size": size,
        "seconds": wall,
        "mentions_per_s": size / wall,
        "cpus_busy": busy,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in results),
    }


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of the whole machine, PostgreSQL included (Linux only)."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def cpu_busy(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    """How many of the machine's CPUs were busy on average between the two readings: the
    speed-up of more workers is bounded by the CPUs left idle by one."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--big", type=int, default=100_000, help="mentions in the growth run (0: skip)"
    )
    parser.add_argument("--big-postgres", action="store_true", help="also run --big on PostgreSQL")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-size", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=3, help="1-vs-N worker runs, back to back")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from monitor.store.scratch import postgres_reachable

    head = f"{'backend':<11}{'size':>8}{'seconds':>9}{'mention/s':>11}{'÷VADER':>10}"
    print(f"{head}{'RSS MB':>10}  actions")
    postgres = not args.no_postgres and postgres_reachable(PG_ADMIN)
    texts = tweets()
    results: dict[str, Any] = {"raw_vader_seconds": raw_vader_seconds(texts), "runs": []}
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        feeds: dict[int, Path] = {}

        def feed(size: int) -> Path:
            if size not in feeds:
                feeds[size] = tmp / f"feed-{size}.jsonl"
                write_feed(feeds[size], size)
            return feeds[size]

        runs: list[dict[str, Any]] = results["runs"]
        for backend in ["sqlite", "postgresql"] if postgres else ["sqlite"]:
            # The floor once, in the first (SQLite) process: it has no database.
            run = cycle_run(backend, len(texts), feed(len(texts)), tmp, floor=not runs)
            runs.append({"backend": backend, **run})
            print_run(runs[-1], runs[-1]["raw_vader_seconds"])
        if args.big:
            backends = ["sqlite", "postgresql"] if postgres and args.big_postgres else ["sqlite"]
            for backend in backends:
                runs.append(
                    {"backend": backend, **cycle_run(backend, args.big, feed(args.big), tmp)}
                )
                print_run(runs[-1], runs[-1]["raw_vader_seconds"] * args.big / len(texts))
        if postgres and args.workers > 1:
            big = feed(args.worker_size)
            results["workers"] = [
                compare_workers(args.workers, args.worker_size, big, tmp, sources, args.pairs)
                for sources in (1, args.workers)
            ]
    report(results, len(texts))


def compare_workers(
    workers: int, size: int, feed: Path, tmp: Path, sources: int, pairs: int
) -> dict[str, Any]:
    """1 worker, then ``workers``, ``pairs`` times over: the machine's speed drifts from
    minute to minute, so each speed-up compares two runs back to back, and the median of
    the pairs is the figure."""
    runs = []
    for _ in range(pairs):
        one = workers_run(1, size, feed, tmp, sources=sources)
        many = workers_run(workers, size, feed, tmp, sources=sources)
        runs.append({"one": one, "many": many, "speedup": one["seconds"] / many["seconds"]})
        print_pair(runs[-1])
    speedups = [r["speedup"] for r in runs]
    return {"workers": workers, "sources": sources, "size": size, "pairs": runs,
            "speedup_median": statistics.median(speedups)}  # fmt: skip


def print_run(run: dict[str, Any], vader_seconds: float) -> None:
    run["mentions_per_s"] = run["size"] / run["seconds"]
    run["ratio_to_raw_vader"] = run["seconds"] / vader_seconds
    print(
        f"{run['backend']:<11}{run['size']:>8}{run['seconds']:>9.2f}{run['mentions_per_s']:>11.0f}"
        f"{run['ratio_to_raw_vader']:>9.1f}x{run['peak_rss_mb']:>10.0f}  {run['actions']}",
        flush=True,
    )


def print_pair(pair: dict[str, Any]) -> None:
    for r in (pair["one"], pair["many"]):
        cpus = f", {r['cpus_busy']:.2f} of {os.cpu_count()} CPUs busy" if r["cpus_busy"] else ""
        print(
            f"postgresql {r['workers']} worker(s), {r['sources']} source(s): {r['size']} "
            f"mentions in {r['seconds']:.2f} s ({r['mentions_per_s']:.0f}/s, "
            f"peak RSS {r['peak_rss_mb']:.0f} MB per worker{cpus})",
            flush=True,
        )


def report(results: dict[str, Any], n_tweets: int) -> None:
    vader = results["raw_vader_seconds"]
    print(f"raw vaderSentiment: {n_tweets} tweets in {vader:.3f} s ({n_tweets / vader:.0f}/s)")
    for run in results["runs"]:
        print(f"  in the {run['backend']} {run['size']} process: {run['raw_vader_seconds']:.3f} s")
    first = results["runs"][0]
    floor, vader = first["compute_seconds"], first["raw_vader_seconds"]
    results["compute_ratio_to_raw_vader"] = floor / vader
    print(
        f"scoring + rules + answers with no database: {n_tweets} in {floor:.3f} s "
        f"= {floor / vader:.1f}x raw VADER (what storage work cannot remove)"
    )
    for w in results.get("workers", []):
        each = ", ".join(f"{r['speedup']:.2f}x" for r in w["pairs"])
        print(
            f"speed-up of {w['workers']} workers over 1, {w['sources']} source(s), "
            f"{w['size']} mentions on PostgreSQL: median {w['speedup_median']:.2f}x ({each})"
        )
    write_results("pipeline", results)


def write_results(name: str, results: dict[str, Any]) -> None:
    """bench/results/NAME.json, and say so."""
    out = REPO / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(f"wrote {out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    logging.disable(logging.WARNING)  # log lines (a line per batch, spike alerts) are not timed
    if len(sys.argv) > 2 and sys.argv[1] == "--child-cycle":
        print(json.dumps(child_cycle(Path(sys.argv[2]), floor="--floor" in sys.argv[3:])))
    elif len(sys.argv) > 2 and sys.argv[1] == "--child-worker":
        print(json.dumps(child_worker(Path(sys.argv[2]))))
    else:
        main()
