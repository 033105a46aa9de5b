"""The engine's word and label index never changes a decision: it only skips rules
that cannot match. Checked against evaluating every rule, over real tweets."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from monitor.domain import Platform
from monitor.rules.context import Context, Facts
from monitor.rules.index import RuleIndex
from monitor.scoring import Scorer
from tests.conftest import REPO
from tests.rulekit import NOON


def bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_rules", REPO / "bench" / "rules.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_indexed_decisions_equal_evaluating_every_rule(tmp_path: Path) -> None:
    bench = bench_module()
    engine = bench.build_engine(tmp_path / "rules", 100)
    scorer = Scorer()
    context = Context(now=NOON, case_ref="C-1")
    mentions = [m for m in bench.load_tweets()[::4] if m.platform is Platform.X]
    assert len(mentions) == 1050
    skipped = 0
    for mention in mentions:
        score = scorer.score(mention.text)
        facts = Facts(mention, score, context)
        every_rule: list[str] = []
        for rule in engine.rules:
            # An answer rule matches only when an entry fits; this engine has no answers.
            if rule.matcher.find(facts) is not None and rule.spec.then.answer is None:
                every_rule.append(rule.name)
                if rule.spec.then.terminal:
                    break
        assert engine.decide(mention, score, context).matched == tuple(every_rule)
        skipped += len(engine.rules) - len(RuleIndex(engine.rules).candidates(facts))
    assert skipped > 50 * len(mentions)  # the index does skip most rules
