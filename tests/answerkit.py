"""Helpers for the knowledge-base tests: a small knowledge base and engine built from
real files through the real loaders."""

from __future__ import annotations

import textwrap
from pathlib import Path

from monitor.answers.answerer import Answerer
from monitor.answers.loader import load_knowledge_base
from monitor.domain import Platform
from monitor.rules.engine import Guards, RuleEngine, Teams
from monitor.rules.loader import load_rules
from tests.rulekit import TEAMS, rules_env, write

SHIPPING = """
id: shipping-countries
questions:
  - Do you ship to Ireland?
  - Which countries do you deliver to?
  - Do you do international shipping?
keywords: [ship, country, international, ireland, spain]
answer:
  x: "Hi {first_name}! We ship to the UK, Ireland and the EU (case {case})."
  reddit: "Hi {first_name}! We ship to:\\n\\n* the UK\\n* Ireland and the EU"
tags: [shipping]
"""
HOURS = """
id: store-hours
questions:
  - What are your store opening hours?
  - What time do your shops open on Sunday?
  - When does the store close today?
answer: "Hi {first_name}! Mon-Sat 9am-8pm, Sun 10am-4pm."
"""
HOLIDAY_HOURS = """
id: holiday-hours
valid: {from: 2026-12-01, until: 2027-01-02}
supersedes: [store-hours]
questions:
  - What are your opening hours over Christmas?
  - Are your stores open on Boxing Day?
  - What time do your shops open on Sunday?
answer: "Hi {first_name}! Christmas hours: closed 25-26 Dec."
"""
WARRANTY = """
id: warranty-length
questions:
  - How long is the warranty?
  - What warranty do your products come with?
  - Is my blender still under guarantee?
answer: "Hi {first_name}! Two years on every appliance."
"""
ENTRIES = (SHIPPING, HOURS, HOLIDAY_HOURS, WARRANTY)

ANSWER_RULE = """
name: answer-questions
priority: 50
then:
  answer: {min_confidence: 0.55}
---
name: complaint
match: {label: negative}
then:
  reply: "Sorry {first_name}, a person will answer here."
  escalate: {team: care}
---
name: question-draft
match: {text: ["do you", "how do i"]}
then:
  draft: "Hi {first_name}, "
"""


def knowledge_base_dir(folder: Path, *entries: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n---\n".join(textwrap.dedent(e).strip() for e in (entries or ENTRIES))
    (folder / "answers.yaml").write_text(text + "\n", encoding="utf-8")
    return folder


def answerer(folder: Path, *entries: str, answer_at: float = 0.55) -> Answerer:
    kb = load_knowledge_base(knowledge_base_dir(folder, *entries), brand="Acme")
    return Answerer(kb, answer_at=answer_at, draft_at=0.35)


def answer_engine(tmp_path: Path, rules: str = ANSWER_RULE, **guards: object) -> RuleEngine:
    rules_dir = tmp_path / "rules"
    write(rules_dir, rules)
    own = {Platform.X: frozenset({"acme"}), Platform.REDDIT: frozenset({"acme_official"})}
    return RuleEngine(
        load_rules(rules_env(rules_dir)),
        brand="Acme",
        own_handles=own,
        guards=Guards(**guards),  # type: ignore[arg-type]
        teams=Teams(dict.fromkeys(TEAMS, 60), default="care"),
        answers=answerer(tmp_path / "answers"),
    )
