"""Knowledge-base answers: precision and coverage on labelled sets, and matching speed.

Four labelled sets of brand mentions, written apart from the entries' example
questions (label: the entry that answers it, "-" no entry answers it, "!" not a
question), are all tuning data now; the thresholds are chosen on the 754 together:

- bench/data/answers_eval.tsv (225): the first tuning set; its errors built the matcher.
- bench/data/answers_holdout.tsv (141): written before that tuning, run once, then read.
- bench/data/answers_holdout2.tsv (155): written blind, run once as the held-out set of
  the second tuning, then read: its wrong answers (on-topic questions no entry answers)
  led to the uncovered-words factor of the confidence.
- bench/data/answers_holdout3.tsv (233): written blind by someone else, run once with
  the matcher frozen (0.925 precision at 0.525 coverage), then read.

bench/data/answers_holdout4.tsv (251) and answers_holdout5.tsv (254) are the
held-out sets: written blind on 2026-12-02 by two writers who saw only the entries'
ids, descriptions and answer texts, after all tuning; run once each on the frozen
matcher (fa1e22a), only reported (their rows, pooled as "held-out", and sweeps),
never used to choose anything. Their errors have been read since: a change to the
matcher needs a new blind set before its figures mean anything.

- auto-answers: confidence >= answer_at. precision = right entry / all auto-answers
  (an answer to an unanswerable question or a complaint counts as wrong); coverage =
  right auto-answers / answerable questions.
- drafts: draft_at <= confidence < answer_at, the same two figures; "proposed"
  coverage counts answers and drafts together.
- speed: Answerer.assess (question detection, normalisation, bm25s retrieval,
  confidence) with the shipped entries plus synthetic ones up to 100.

    .venv/bin/python bench/answers.py [--rounds 5] [--no-holdout]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from monitor.answers.answerer import Answerer
from monitor.answers.loader import load_knowledge_base
from monitor.answers.model import Entry, KnowledgeBase
from monitor.domain import Platform
from monitor.settings import AnswersConfig, Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO / "bench" / "data" / "answers_eval.tsv"
# Written before the first tuning, run once, then (its errors read) added to tuning.
HOLDOUT = REPO / "bench" / "data" / "answers_holdout.tsv"
# Written blind before the second tuning, run once, then (its errors read) tuning too.
HOLDOUT2 = REPO / "bench" / "data" / "answers_holdout2.tsv"
# Written blind by someone else, run once as the third held-out set, then read: tuning.
HOLDOUT3 = REPO / "bench" / "data" / "answers_holdout3.tsv"
# Written blind after all tuning, by someone else: the held-out set, when present.
HOLDOUT4 = REPO / "bench" / "data" / "answers_holdout4.tsv"
# Written blind the same way on the same day, run once on the same frozen matcher.
HOLDOUT5 = REPO / "bench" / "data" / "answers_holdout5.tsv"
HELD_OUT = {"holdout4": HOLDOUT4, "holdout5": HOLDOUT5}
TUNING = {"eval": EVAL, "holdout1": HOLDOUT, "holdout2": HOLDOUT2, "holdout3": HOLDOUT3}
RESULTS = REPO / "bench" / "results"
DEFAULT_DAY = datetime(2026, 11, 20, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    label: str  # entry id, "-" (unanswerable question) or "!" (not a question)
    platform: str
    when: datetime
    text: str


def load_eval(path: Path = EVAL) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        label, plat, day, text = line.split("\t")
        when = datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC) if day else DEFAULT_DAY
        items.append(Item(label, plat, when, text))
    return items


def assess_all(answerer: Answerer, items: list[Item]) -> list[tuple[Item, str | None, float]]:
    out = []
    for item in items:
        found = answerer.assess(item.text, now=item.when)
        out.append((item, found.hit.entry.id if found.hit else None, found.confidence))
    return out


def through_rules(settings: Settings, items: list[Item]) -> list[tuple[Item, str | None, float]]:
    """What the shipped rules do with each mention, as the daemon decides it: the
    answer rule's other conditions (a very upset customer, a problem report) and the
    rules before it count too. Encoded for ``figures`` as 1.0 posted, 0.5 drafted."""
    from monitor.domain import Author, Mention
    from monitor.rules.dryrun import dry_run
    from monitor.rules.setup import engine_from_settings
    from monitor.scoring import Scorer

    mentions = [
        Mention(
            platform=Platform(item.platform),
            external_id=str(n),
            author=Author(id=str(n), handle=f"customer{n}"),  # no reply cap or cooldown
            text=item.text,
            created_at=item.when,
            conversation_id=str(n),
        )
        for n, item in enumerate(items)
    ]
    decided = dry_run(engine_from_settings(settings), Scorer(settings.scoring), mentions)
    out = []
    for item, (_, _, decision) in zip(items, decided, strict=True):
        reply = decision.reply
        if reply is None or reply.answer is None:
            out.append((item, None, 0.0))
        else:
            out.append((item, reply.answer, 0.5 if reply.draft else 1.0))
    return out


def figures(
    results: list[tuple[Item, str | None, float]], answer_at: float, draft_at: float
) -> dict[str, float]:
    answerable = sum(1 for item, _, _ in results if item.label not in ("-", "!"))
    answered = [(i, e) for i, e, c in results if e is not None and c >= answer_at]
    drafted = [(i, e) for i, e, c in results if e is not None and draft_at <= c < answer_at]
    right_answers = sum(1 for i, e in answered if e == i.label)
    right_drafts = sum(1 for i, e in drafted if e == i.label)
    return {
        "answers": len(answered),
        "answer_precision": round(right_answers / len(answered), 3) if answered else 1.0,
        "answer_coverage": round(right_answers / answerable, 3),
        "drafts": len(drafted),
        "draft_precision": round(right_drafts / len(drafted), 3) if drafted else 1.0,
        "draft_coverage": round(right_drafts / answerable, 3),
        "proposed_coverage": round((right_answers + right_drafts) / answerable, 3),
        "wrong_public_answers": len(answered) - right_answers,
    }


# The thresholds looked at: 0.05 steps. The uncovered-words factor puts answers that
# are right 95% of the time around 0.2, below the old grid's 0.20 floor.
GRID = [t / 100 for t in range(5, 100, 5)]


def sweep(results: list[tuple[Item, str | None, float]]) -> list[tuple[float, dict[str, float]]]:
    """Auto-answer figures per threshold: what the defaults are chosen from (tuning set)."""
    return [(t, figures(results, t, t)) for t in GRID]


# The target for public answers (issue 11): at most one wrong answer in twenty.
MIN_ANSWER_PRECISION = 0.95
# On text the matcher was not tuned on, wrong answers have come out about twice as
# often as on the tuning set (docs/answers.md: 1.000 -> 0.933 on the blind set 2;
# 0.95 -> ~0.93 and lower in cross-validation), so the threshold keeps half the
# target's error rate on the tuning set.
TUNING_PRECISION = 1 - (1 - MIN_ANSWER_PRECISION) / 2
# Drafts are read by a person before anything is posted: a proposed entry right two
# times in three saves the agent the search; below that it costs more than it saves.
MIN_DRAFT_PRECISION = 0.65


def choose(results: list[tuple[Item, str | None, float]]) -> tuple[float, float]:
    """The rule the shipped thresholds follow, on the tuning set: answer_at is the
    threshold with the most right answers among those whose answers keep
    TUNING_PRECISION (the higher one on a tie); draft_at is the lowest threshold
    whose drafts keep MIN_DRAFT_PRECISION."""
    kept = [t for t in GRID if _precision(figures(results, t, t)) >= TUNING_PRECISION]
    covered = {t: figures(results, t, t)["answer_coverage"] for t in kept}
    answer_at = max(kept, key=lambda t: (covered[t], t), default=GRID[-1])
    draft_at = next(
        t
        for t in GRID
        if t >= answer_at
        or figures(results, answer_at, t)["draft_precision"] >= MIN_DRAFT_PRECISION
    )
    return answer_at, min(draft_at, answer_at)


def _precision(fig: dict[str, float]) -> float:
    """Unrounded: 0.9496 must not pass as 0.950."""
    answers = fig["answers"]
    return (answers - fig["wrong_public_answers"]) / answers if answers else 1.0


THINGS = "toaster kettle blender mixer grinder juicer fryer oven hob hood fridge iron"
TOPICS = "filter cable light timer setting colour size noise button display lid handle"
VERBS = "replace reset clean fix adjust change find order buy use"


def synthetic_entries(count: int, seed: int = 7) -> list[Entry]:
    """Plausible extra entries so the speed test runs with 100."""
    rng = random.Random(seed)
    things = THINGS.split()
    topics = TOPICS.split()
    verbs = VERBS.split()
    out = []
    for n in range(count):
        thing, topic, verb = rng.choice(things), rng.choice(topics), rng.choice(verbs)
        questions = (
            f"How do I {verb} the {topic} on my {thing}?",
            f"Can I {verb} the {thing} {topic} myself?",
            f"Where is the {topic} on the {thing} model {n}?",
            f"Is the {thing} {topic} easy to {verb}?",
        )
        text = f"Hi! Here's how to {verb} the {topic} on the {thing} {n}."
        out.append(Entry(f"synthetic-{n}", questions, dict.fromkeys(Platform, text)))
    return out


def speed(kb: KnowledgeBase, items: list[Item], rounds: int) -> dict[str, float]:
    extra = synthetic_entries(100 - len(kb.entries))
    big = replace(kb, entries=(*kb.entries, *extra))
    answerer = Answerer(big, answer_at=0.6, draft_at=0.35)
    answerer.assess("warm up the index", now=DEFAULT_DAY)
    texts = [(i.text, i.when) for i in items]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text, when in texts:
            answerer.assess(text, now=when)
        best = min(best, time.perf_counter() - started)
    return {"entries": len(big.entries), "mentions": len(texts), "per_second": len(texts) / best}


def row(name: str, count: int, fig: dict[str, float]) -> str:
    return (
        f"{name:<8} {count:>5}  {fig['answers']:>7}  {fig['answer_precision']:>9.3f}"
        f"  {fig['answer_coverage']:>8.3f}  {fig['drafts']:>6}  {fig['draft_precision']:>9.3f}"
        f"  {fig['draft_coverage']:>8.3f}  {fig['proposed_coverage']:>8.3f}"
    )


def print_sweep(title: str, points: list[tuple[float, dict[str, float]]]) -> None:
    print(f"\n{title} sweep (auto-answer threshold: answers, precision, coverage, wrong)")
    for threshold, fig in points:
        print(
            f"  {threshold:.2f}  {fig['answers']:>4}  {fig['answer_precision']:.3f}"
            f"  {fig['answer_coverage']:.3f}  {fig['wrong_public_answers']:>3}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-holdout", action="store_true", help="tuning sets only: while choosing anything"
    )
    args = parser.parse_args()
    settings = load_settings(REPO / "config" / "inchannel.yaml")
    config: AnswersConfig = settings.answers
    kb = load_knowledge_base(
        settings.resolve(config.path), brand=settings.brand.name, products=config.products
    )
    answerer = Answerer(kb, answer_at=config.answer_at, draft_at=config.draft_at)
    sets = {name: load_eval(path) for name, path in TUNING.items()}
    sets["tuning"] = [item for part in list(sets.values()) for item in part]
    held_out = {} if args.no_holdout else {n: p for n, p in HELD_OUT.items() if p.exists()}
    for name, path in held_out.items():
        sets[name] = load_eval(path)
    reported = list(held_out)  # their sweeps are printed, never used to choose
    if len(held_out) > 1:
        sets["held-out"] = [item for name in held_out for item in sets[name]]
        reported.append("held-out")
    report: dict[str, object] = {
        "entries": len(kb.entries),
        "answer_at": config.answer_at,
        "draft_at": config.draft_at,
        "python": platform.python_version(),
    }
    print(f"{len(kb.entries)} entries; answer_at {config.answer_at}, draft_at {config.draft_at}")
    print("set      items  answers  precision  coverage  drafts  precision  coverage  proposed")
    results = {name: assess_all(answerer, part) for name, part in sets.items()}
    for name, part in sets.items():
        fig = figures(results[name], config.answer_at, config.draft_at)
        report[name] = {"items": len(part), **fig}
        print(row(name, len(part), fig))
    tuning_sweep = sweep(results["tuning"])
    print_sweep("tuning", tuning_sweep)
    answer_at, draft_at = choose(results["tuning"])
    print(f"thresholds by the rule on the tuning set: answer_at {answer_at}, draft_at {draft_at}")
    report["chosen_on_tuning"] = {"answer_at": answer_at, "draft_at": draft_at}
    report["tuning_sweep"] = [{"threshold": t, **f} for t, f in tuning_sweep]
    for name in reported:
        points = sweep(results[name])
        print_sweep(f"held-out ({name})", points)
        report[f"{name}_sweep"] = [{"threshold": t, **f} for t, f in points]
    if not held_out:
        print("\nno held-out set: bench/data/answers_holdout4.tsv is not there (yet)")
    print("\nthrough the shipped rules (what the daemon posts and drafts)")
    print("set      items  answers  precision  coverage  drafts  precision  coverage  proposed")
    for name, part in sets.items():
        fig = figures(through_rules(settings, part), 0.75, 0.25)
        report[f"{name}_through_rules"] = fig
        print(row(name, len(part), fig))
    fast = speed(kb, sets["eval"], args.rounds)
    report["speed"] = fast
    print(
        f"\nspeed: {fast['per_second']:,.0f} mentions/s with {fast['entries']} entries "
        f"(best of {args.rounds} rounds over {fast['mentions']} mentions, one core)"
    )
    if args.no_holdout:
        return  # a partial run does not overwrite the recorded results
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "answers.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
