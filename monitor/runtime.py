"""The objects every step function needs, built once from the settings."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock, SystemClock
from monitor.domain import Platform
from monitor.rules.engine import RuleEngine
from monitor.rules.setup import engine_from_settings
from monitor.scoring import Scorer
from monitor.settings import Settings, SourceConfig
from monitor.sources.base import Source
from monitor.sources.replay import ReplaySource
from monitor.store.db import make_engine, session_factory
from responders.base import Responder
from responders.recording import RecordingResponder

DEFAULT_RECORDING = Path("var/recorded-posts.jsonl")


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    sources: dict[str, Source]
    responders: dict[Platform, Responder]
    scorer: Scorer
    rules: RuleEngine
    clock: Clock = field(default_factory=SystemClock)
    stopping: threading.Event = field(default_factory=threading.Event)

    def own_handles(self, platform: Platform) -> frozenset[str]:
        return self.settings.brand.own_handles(platform.value)


def build_source(settings: Settings, config: SourceConfig) -> Source:
    return ReplaySource(config.name, settings.resolve(config.path), page_size=config.page_size)


def build_responders(settings: Settings, *, dry_run: bool = False) -> dict[Platform, Responder]:
    """One responder per platform. Until a platform responder is configured, and always
    under ``--dry-run``, posts are recorded instead of sent."""
    recorders: dict[Path | None, RecordingResponder] = {}
    responders: dict[Platform, Responder] = {}
    for platform in Platform:
        config = settings.responders.get(platform.value)
        if config is None or dry_run:
            path: Path | None = DEFAULT_RECORDING
        else:
            path = settings.resolve(config.path) if config.path else None
        responders[platform] = recorders.setdefault(path, RecordingResponder(path))
    return responders


def build_rule_engine(settings: Settings) -> RuleEngine:
    return engine_from_settings(settings)


def build_runtime(
    settings: Settings, *, clock: Clock | None = None, dry_run: bool = False
) -> Runtime:
    engine = make_engine(settings.database.url, echo=settings.database.echo)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        sources={s.name: build_source(settings, s) for s in settings.sources if s.enabled},
        responders=build_responders(settings, dry_run=dry_run),
        scorer=Scorer(settings.scoring),
        rules=build_rule_engine(settings),
        clock=clock or SystemClock(),
    )
