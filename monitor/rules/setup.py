"""Build the RuleEngine from the settings (used by the runtime, check-config and reload)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from monitor.answers.answerer import Answerer
from monitor.answers.loader import load_knowledge_base
from monitor.answers.model import KnowledgeBase
from monitor.brand_accounts import brand_accounts
from monitor.rules.engine import Guards, RuleEngine, Teams
from monitor.rules.loader import RulesEnv, load_rules, rules_version
from monitor.rules.matching import named_sources
from monitor.rules.model import RuleSet
from monitor.settings import Settings
from monitor.yamlpos import ConfigError, Problem


def rules_env(settings: Settings) -> RulesEnv:
    return RulesEnv(
        rules_dir=settings.resolve(settings.rules.path),
        teams={team.name: team.opening_hours() for team in settings.teams},
        channels=frozenset(settings.channels),
        brand=settings.brand.name,
    )


def watched_version(settings: Settings) -> str:
    """What hot reload compares: the rules folder, and the answers folder if there is one."""
    version = rules_version(settings.resolve(settings.rules.path))
    answers = settings.resolve(settings.answers.path)
    if not answers.is_dir():
        return version
    both = f"{version}:{rules_version(answers)}".encode()
    return hashlib.sha256(both).hexdigest()[:16]


# How often hot reload reads the folders while a `git pull` or a copy keeps changing
# them, before it takes the last read as it is (the next reload check loads again).
RELOAD_ATTEMPTS = 3


def engine_from_settings(
    settings: Settings, *, attempts: int = 1, read_as: Callable[[str], None] | None = None
) -> RuleEngine:
    """Load, validate and compile the rules and the knowledge base; raise ConfigError
    listing every problem of both.

    The files are read one by one: a commit landing between two reads (a rule moved
    from one file to another) gives rules that are neither the old nor the new version,
    one rule missing or there twice ("duplicate rule name"). With ``attempts`` above 1
    (hot reload) the folders are hashed before and after reading, and read again when
    they changed meanwhile. A start reads once: it refuses files that do not validate,
    and its first reload check loads what changed.

    ``read_as`` is told the version hashed before each read: an error raised is that
    of the last one, which is the version hot reload must reject."""
    for attempt in range(1, attempts + 1):
        # Hashed before reading: should the folders still change on the last try, the
        # version differs from theirs, so the next reload check loads them. Hashed
        # after, the new hash would be stamped on the old rules and the edit never loaded.
        version = watched_version(settings)
        if read_as is not None:
            read_as(version)
        last = attempt >= attempts
        try:
            engine = _engine(settings, version)
        except (ConfigError, OSError):
            if not last and watched_version(settings) != version:
                continue  # maybe the error of a change half read: read it whole
            raise
        if last or watched_version(settings) == version:
            return engine
    raise ValueError(f"attempts must be at least 1, not {attempts}")


def _engine(settings: Settings, version: str) -> RuleEngine:
    ruleset, kb = _load_both(settings)
    ruleset = replace(
        ruleset,
        version=version,
        warnings=(
            *ruleset.warnings,
            *kb.warnings,
            *_unused_answers(ruleset, kb, settings),
            *_unknown_sources(ruleset, settings),
        ),
    )
    answers = Answerer(kb, answer_at=settings.answers.answer_at, draft_at=settings.answers.draft_at)
    return RuleEngine(
        ruleset,
        brand=settings.brand.name,
        accounts=brand_accounts(settings),
        guards=_guards(settings),
        teams=Teams(
            sla_minutes={team.name: team.first_response_minutes for team in settings.teams},
            default=settings.teams[0].name if settings.teams else "care",
        ),
        answers=answers,
    )


def _load_both(settings: Settings) -> tuple[RuleSet, KnowledgeBase]:
    """Rules and answers, with the problems of both in one ConfigError."""
    problems: list[Problem] = []
    ruleset = kb = None
    try:
        ruleset = load_rules(rules_env(settings))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        kb = load_knowledge_base(
            settings.resolve(settings.answers.path),
            brand=settings.brand.name,
            products=settings.answers.products,
        )
    except ConfigError as exc:
        problems.extend(exc.problems)
    if ruleset is None or kb is None:
        raise ConfigError(problems)
    return ruleset, kb


def _guards(settings: Settings) -> Guards:
    return Guards(
        max_replies_per_thread=settings.rules.max_replies_per_thread,
        author_cooldown=timedelta(minutes=settings.rules.author_cooldown_minutes),
        max_age=timedelta(hours=settings.rules.max_age_hours)
        if settings.rules.max_age_hours
        else None,
    )


def _unknown_sources(ruleset: RuleSet, settings: Settings) -> list[Problem]:
    """A warning, not an error: a rule may be written for a source that is commented
    out for now, but a misspelt name never matches and nothing else would say so."""
    known = {source.name for source in settings.sources}
    listed = ", ".join(sorted(known)) or "none"
    return [
        rule.problem(loc, f"no source is named {name!r} (sources: {listed})", warning=True)
        for rule in ruleset.rules
        for loc, name in named_sources(rule.spec.match)
        if name not in known
    ]


def _unused_answers(ruleset: RuleSet, kb: KnowledgeBase, settings: Settings) -> list[Problem]:
    """An ``answer`` rule with no entries to answer from is allowed (the folder may not
    be written yet) but never answers; say so."""
    if kb.entries:
        return []
    folder = settings.resolve(settings.answers.path)
    return [
        rule.problem(
            ("then", "answer"),
            f"the knowledge base {folder} has no entries; this rule never answers",
            warning=True,
        )
        for rule in ruleset.rules
        if rule.spec.then.answer is not None
    ]
