"""Helpers for the rules tests: write rule files, build the real engine, decide."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.domain import Decision, Label, Platform, Score
from monitor.rules.context import Context
from monitor.rules.engine import Guards, RuleEngine, Teams
from monitor.rules.hours import OpeningHours, parse_week, parse_zone
from monitor.rules.loader import RulesEnv, load_rules
from monitor.sources.replay import parse_mention
from monitor.yamlpos import ConfigError
from tests.conftest import mention

TEAMS = ("care", "billing", "tech", "international")
NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday


def always_open() -> OpeningHours:
    return OpeningHours(parse_zone("UTC"), None)


def rules_env(folder: Path, **teams: OpeningHours) -> RulesEnv:
    hours = {name: always_open() for name in TEAMS} | teams
    return RulesEnv(folder, hours, frozenset({"slack-care", "pager"}), "Acme")


def write(folder: Path, text: str, name: str = "rules.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def engine(folder: Path, text: str | None = None, **teams: OpeningHours) -> RuleEngine:
    if text is not None:
        write(folder, text)
    own = {Platform.X: frozenset({"acme"}), Platform.REDDIT: frozenset({"acme_official"})}
    return RuleEngine(
        load_rules(rules_env(folder, **teams)),
        brand="Acme",
        own_handles=own,
        guards=Guards(),
        teams=Teams(dict.fromkeys(TEAMS, 60), default="care"),
    )


def problems(folder: Path, text: str | None = None) -> list[str]:
    """Every problem check-config would print, with the folder shown as ``{dir}``."""
    if text is not None:
        write(folder, text)
    try:
        ruleset = load_rules(rules_env(folder))
    except ConfigError as exc:
        found = exc.problems
    else:
        found = list(ruleset.warnings)
    return [str(p).replace(str(folder), "{dir}") for p in found]


def score(label: Label = Label.NEUTRAL, compound: float = 0.0, **extra: Any) -> Score:
    return Score(compound, 0.0, 1.0, 0.0, label, **extra)


def decide(
    rule_engine: RuleEngine,
    text: str = "@acme hello",
    *,
    sentiment: Score | None = None,
    context: Context | None = None,
    **fields: Any,
) -> Decision:
    item = parse_mention(mention(1, text, **fields))
    return rule_engine.decide(
        item, sentiment or score(), context or Context(now=NOON, case_ref="C-1001")
    )


def week(table: dict[str, str], zone: str = "Europe/Berlin", *holidays: Any) -> OpeningHours:
    return OpeningHours(parse_zone(zone), parse_week(table), frozenset(holidays))
