"""The engine's word and label index never changes a decision: it only skips rules
that cannot match. Checked against evaluating every rule, over real tweets."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

from monitor.domain import Label, Platform
from monitor.rules.checks import NEVER, Needs
from monitor.rules.context import Context, Facts
from monitor.rules.engine import RuleEngine
from monitor.rules.index import RuleIndex
from monitor.rules.setup import engine_from_settings
from monitor.scoring import Scorer
from monitor.settings import load_settings
from monitor.sources.replay import parse_mention
from tests.conftest import REPO
from tests.conftest import mention as mention_row
from tests.rulekit import NOON, engine
from tests.rulekit import score as labelled


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


# --- what the index requires of a mention, any: and all: blocks included ---------------


def needs_of(tmp_path: Path, match: str, label: str = "neutral") -> Needs | None:
    rules = engine(
        tmp_path, f"name: probe\nmatch:\n{textwrap.indent(match, '  ')}\nthen: {{tag: [x]}}\n"
    )
    return rules.rules[0].matcher.needs(label)


def test_an_any_block_needs_the_union_of_its_branches_words(tmp_path: Path) -> None:
    match = "any:\n  - text: [outage, site down]\n  - text: smoke\n    ~text: smoking hot\n"
    assert needs_of(tmp_path, match) == Needs(frozenset({"outage", "site", "smoke"}))


def test_a_regex_branch_adds_its_required_literals(tmp_path: Path) -> None:
    match = "any:\n  - text: fire\n  - text (regex): '\\bsparks?\\b'\n"
    assert needs_of(tmp_path, match) == Needs(frozenset({"fire"}), frozenset({"spark"}))


@pytest.mark.parametrize(
    "branch",
    [
        "label: negative",  # no text at all
        "text (regex): '\\bf[*u]\\w'",  # a regex with no literal of two characters
        "~text: fine",  # a negated check matches when the words are absent
        "not: {text: fine}",
    ],
)
def test_a_branch_with_no_requirement_leaves_the_any_block_unknown(
    tmp_path: Path, branch: str
) -> None:
    assert needs_of(tmp_path, f"any:\n  - text: fire\n  - {branch}\n", "negative") is None


def test_a_branch_whose_label_is_ruled_out_needs_nothing_of_the_others(tmp_path: Path) -> None:
    # complaint-to-human's shape: "label: negative" alone, or a word.
    match = "any:\n  - label: negative\n  - text: broken\n"
    assert needs_of(tmp_path, match, "negative") is None
    assert needs_of(tmp_path, match, "positive") == Needs(frozenset({"broken"}))
    assert needs_of(tmp_path, "label: negative\ntext: broken\n", "positive") == NEVER


def test_a_block_needs_the_cheapest_of_its_checks_requirements(tmp_path: Path) -> None:
    # Each check alone must pass: any one requirement will do, the fewest literals, then
    # the fewest words.
    match = "text: [a, b, c]\nany:\n  - text: fire\n  - text: smoke\n"
    assert needs_of(tmp_path, match) == Needs(frozenset({"fire", "smoke"}))
    match = "text (regex): '\\bsparks?\\b'\ntext: [a, b, c]\n"
    assert needs_of(tmp_path, match) == Needs(frozenset({"a", "b", "c"}))


def test_rules_whose_text_is_inside_any_blocks_are_skipped(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: outage
        match:
          any:
            - text: ["outage", "won't load"]
            - text (regex): '\\b(site|app)\\s+is\\s+down\\b'
        then: {tag: [outage]}
        ---
        name: complaint
        match:
          any: [{label: negative}, {text: broken}]
        then: {tag: [complaint]}
        """,
    )
    index = RuleIndex(rules.rules)
    context = Context(now=NOON, case_ref="C-1")
    calm = parse_mention(mention_row(1, "@acme what a lovely morning"))
    assert index.candidates(Facts(calm, labelled(), context)) == []
    assert index.candidates(Facts(calm, labelled(Label.NEGATIVE, -0.5), context)) == [1]
    down = parse_mention(mention_row(2, "@acme the app is down"))
    assert index.candidates(Facts(down, labelled(), context)) == [0]


def test_emoji_and_starts_with_values_index_their_rules(tmp_path: Path) -> None:
    rules = engine(
        tmp_path,
        """
        name: retweet
        match: {text (starts-with): "RT @"}
        then: {ignore: true}
        ---
        name: upset
        match:
          any: [{text (includes): ["👎", "😡"]}, {text: broken}]
        then: {tag: [complaint]}
        """,
    )
    index = RuleIndex(rules.rules)
    context = Context(now=NOON, case_ref="C-1")
    for n, (text, expected) in enumerate(
        [("@acme lovely morning", []), ("RT @acme: sale", [0]), ("@acme 😡😡", [1])]
    ):
        item = parse_mention(mention_row(n, text))
        assert index.candidates(Facts(item, labelled(), context)) == expected, text


# --- the shipped rules decide the same with the index as without it --------------------

# Texts for the any: branches of config/rules/ (their own examples), beside the tweets.
BRANCHES = [
    "the air fryer smells of burning plastic, is that normal?",
    "my kettle sparked and tripped the electrics",
    "the kettle sparks joy",
    "smoke coming out of the toaster",
    "smoking hot prices today",
    "the site is down again",
    "price is down 20%",
    "payment failed and I was charged",
    "payment not working",
    "my kettle is not working",
    "checkout page keeps timing out",
    "f*** you",
    "I'm reporting you to trading standards",
    "my lawyer will hear about this",
    "my sister is a lawyer and loves your app",
    "is this email a scam?",
    "follow and rt to win #giveaway",
    "I won your giveaway and the prize never arrived",
    "wow such fast delivery, only took 3 weeks 🙃",
    "thanks for the 3 hour wait",
    "great, another kettle that leaks",
    "thank you so much, my order is still missing",
    "thanks for fixing the outage so fast",
    "where's my parcel??",
    "still waiting for my refund",
    "got my refund, thanks!",
    "how long does a refund take?",
    "charged twice for one order",
    "can I get an invoice for my order?",
    "this invoice is wrong, terrible",
    "do you ship to Ireland?",
    "RT @someone look at this",
    "chargeback incoming",
    "so annoyed 😡",
    "👎 broken again",
    "waited 2 months for this 🙄",
]


def test_shipped_rules_decide_the_same_without_the_index() -> None:
    settings = load_settings(REPO / "config" / "inchannel.yaml")
    indexed = engine_from_settings(settings)
    every_rule = RuleEngine(
        indexed.ruleset,
        brand=indexed.brand,
        accounts=indexed.accounts,
        guards=indexed.guards,
        teams=indexed.teams,
        limits=indexed.limits,
        answers=indexed.answers,
        indexed=False,
    )
    scorer = Scorer(settings.scoring)
    tweets = [m for m in bench_module().load_tweets()[::8] if m.platform is Platform.X]
    texts = [f"@acme {text}" for text in BRANCHES] + [m.text for m in tweets]
    context = Context(now=NOON, case_ref="C-1")
    matched = 0
    for n, text in enumerate(texts):
        item = parse_mention(mention_row(n, text))
        # Every label too: an any: branch may need a word for one label only.
        for sentiment in (scorer.score(item.text), *(labelled(label) for label in Label)):
            expected = every_rule.decide(item, sentiment, context)
            assert indexed.decide(item, sentiment, context) == expected, text
            matched += bool(expected.matched)
    assert matched > len(texts)  # the sample exercises the rules
