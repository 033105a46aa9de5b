"""Rule evaluation throughput: 100 rules over the VADER paper's 4,200 tweets.

Scores are computed before the timed loop, so the figure is rule evaluation alone
(RuleEngine.decide: checks, actions, reply filling and guards) on one core.

    .venv/bin/python bench/rules.py [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from monitor.domain import Author, Mention, Platform
from monitor.rules.context import Context
from monitor.rules.engine import RuleEngine, Teams
from monitor.rules.hours import OpeningHours, parse_week, parse_zone
from monitor.rules.loader import RulesEnv, load_rules
from monitor.scoring import Scorer

REPO = Path(__file__).resolve().parents[1]
TWEETS = REPO.parent / "shared" / "data" / "vader-groundtruth" / "tweets_GroundTruth.txt"
RESULTS = REPO / "bench" / "results"
TEAMS = ("care", "billing", "tech", "international")
WORDS = [
    "love",
    "hate",
    "great",
    "bad",
    "sad",
    "happy",
    "today",
    "tomorrow",
    "work",
    "phone",
    "game",
    "movie",
    "night",
    "morning",
    "friends",
    "lol",
    "haha",
    "sick",
    "tired",
    "good",
    "best",
    "worst",
    "awesome",
    "amazing",
    "fail",
    "broken",
    "late",
    "sorry",
    "thanks",
    "please",
    "help",
    "wait",
    "money",
    "pay",
    "buy",
    "order",
    "ship",
    "music",
    "school",
    "home",
    "class",
    "weekend",
    "birthday",
    "party",
    "rain",
    "sun",
    "coffee",
    "tea",
    "sleep",
    "dinner",
    "lunch",
    "car",
    "bus",
    "train",
    "flight",
    "airport",
    "hotel",
    "delay",
    "cancel",
    "refund",
    "customer",
    "service",
    "support",
    "app",
    "update",
    "crash",
    "slow",
    "fast",
    "cheap",
]
TEMPLATE = "Thanks {first_name}, we saw this ({match}) and will reply right here, case {case}."


def generated_rule(n: int, rng: random.Random) -> str:
    words = rng.sample(WORDS, rng.randint(3, 8))
    match = [f"  text: {json.dumps(words)}"]
    if rng.random() < 0.35:
        match.append(f"  label: {rng.choice(['positive', 'negative', 'neutral'])}")
    if rng.random() < 0.25:
        low = round(rng.uniform(-1, 0.5), 2)
        match.append(f'  compound: "{low} .. {round(low + 0.5, 2)}"')
    if rng.random() < 0.1:
        match.append(f"  ~text: {json.dumps(rng.sample(WORDS, 2))}")
    if rng.random() < 0.1:
        match[0] = f'  text (regex): "\\\\b{rng.choice(WORDS)}(s|ed|ing)?\\\\b"'
    if rng.random() < 0.1:
        match.append('  author:\n    followers: "> 1000"')
    if rng.random() < 0.05:
        match.append("  ~business_hours: care")
    then = [f"  tag: [t{n}]"]
    if rng.random() < 0.3:
        then.append(f"  reply: [{json.dumps(TEMPLATE)}, {json.dumps('Hi ' + TEMPLATE)}]")
    if rng.random() < 0.3:
        then.append(f"  escalate: {{team: {rng.choice(TEAMS)}, priority: high}}")
    return (
        f"name: generated-{n}\npriority: {rng.randint(-5, 5)}\nmatch:\n"
        + "\n".join(match)
        + "\nthen:\n"
        + "\n".join(then)
        + "\n"
    )


def build_engine(folder: Path, count: int) -> RuleEngine:
    shutil.copytree(REPO / "config" / "rules", folder)
    shipped = len(load_rules(_env(folder)).rules)
    rng = random.Random(5)
    if count < shipped:
        raise SystemExit(f"--rules {count}: the shipped rules alone are {shipped}")
    docs = [generated_rule(n, rng) for n in range(count - shipped)]
    if docs:  # an empty rules file is refused by the loader
        (folder / "90-generated.yaml").write_text("---\n".join(docs), encoding="utf-8")
    ruleset = load_rules(_env(folder))
    assert len(ruleset.rules) == count, len(ruleset.rules)
    own = {Platform.X: frozenset({"acme"}), Platform.REDDIT: frozenset()}
    return RuleEngine(ruleset, brand="Acme", own_handles=own, teams=Teams(dict.fromkeys(TEAMS, 60)))


def _env(folder: Path) -> RulesEnv:
    office = OpeningHours(parse_zone("Europe/Berlin"), parse_week({"mon-fri": "09:00-17:00"}))
    return RulesEnv(folder, dict.fromkeys(TEAMS, office), frozenset(), "Acme")


def load_tweets() -> list[Mention]:
    mentions = []
    created = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    for line in TWEETS.read_text(encoding="utf-8", errors="replace").splitlines():
        tweet_id, _mean, text = line.split("\t", 2)
        author = Author(tweet_id, f"user{tweet_id}", "Sam Doe", followers=int(tweet_id) % 5000)
        mentions.append(Mention(Platform.X, tweet_id, author, text, created, tweet_id))
    return mentions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    mentions = load_tweets()
    scorer = Scorer()
    scored = [(m, scorer.score(m.text)) for m in mentions]
    context = Context(now=datetime(2026, 11, 20, 12, 0, tzinfo=UTC), case_ref="C-1001")
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        engine = build_engine(Path(tmp) / "rules", args.rules)
        load_ms = (time.perf_counter() - started) * 1000
    wall, cpu, matched = [], [], 0
    for _ in range(args.rounds):
        # CPU time is the one-core figure even when other processes share the machine;
        # wall-clock time is printed next to it.
        started, started_cpu = time.perf_counter(), time.process_time()
        decisions = [engine.decide(m, s, context) for m, s in scored]
        cpu.append(len(scored) / (time.process_time() - started_cpu))
        wall.append(len(scored) / (time.perf_counter() - started))
        matched = sum(bool(d.matched) for d in decisions)
    report = {
        "rules": len(engine.rules),
        "mentions": len(scored),
        "mentions_with_a_match": matched,
        "load_and_compile_ms": round(load_ms, 1),
        "mentions_per_cpu_s_best": round(max(cpu)),
        "mentions_per_cpu_s_median": round(statistics.median(cpu)),
        "mentions_per_wall_s_median": round(statistics.median(wall)),
        "rounds": args.rounds,
        "python": platform.python_version(),
    }
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "rules.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
