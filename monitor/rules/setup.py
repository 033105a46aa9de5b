"""Build the RuleEngine from the settings (used by the runtime, check-config and reload)."""

from __future__ import annotations

from datetime import timedelta

from monitor.domain import Platform
from monitor.rules.engine import Guards, RuleEngine, Teams
from monitor.rules.loader import RulesEnv, load_rules
from monitor.settings import Settings


def rules_env(settings: Settings) -> RulesEnv:
    return RulesEnv(
        rules_dir=settings.resolve(settings.rules.path),
        teams={team.name: team.opening_hours() for team in settings.teams},
        channels=frozenset(settings.channels),
        brand=settings.brand.name,
    )


def engine_from_settings(settings: Settings) -> RuleEngine:
    """Load, validate and compile the rules; raise ConfigError listing every problem."""
    ruleset = load_rules(rules_env(settings))
    guards = Guards(
        max_replies_per_thread=settings.rules.max_replies_per_thread,
        author_cooldown=timedelta(minutes=settings.rules.author_cooldown_minutes),
        max_age=timedelta(hours=settings.rules.max_age_hours)
        if settings.rules.max_age_hours
        else None,
    )
    teams = Teams(
        sla_minutes={team.name: team.first_response_minutes for team in settings.teams},
        default=settings.teams[0].name if settings.teams else "care",
    )
    own = {p: settings.brand.own_handles(p.value) for p in Platform}
    return RuleEngine(
        ruleset, brand=settings.brand.name, own_handles=own, guards=guards, teams=teams
    )
