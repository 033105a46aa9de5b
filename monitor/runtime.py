"""The objects every step function needs, built once from the settings."""

from __future__ import annotations

import functools
import gc
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from monitor.brand_accounts import BrandAccounts, brand_accounts
from monitor.clock import Clock, SystemClock
from monitor.domain import Platform
from monitor.metrics import Metrics
from monitor.reply_turns import Counted
from monitor.rules.engine import RuleEngine
from monitor.rules.setup import engine_from_settings
from monitor.scoring import Scorer
from monitor.settings import (
    RecordingResponderConfig,
    ReplaySourceConfig,
    Settings,
    SourceConfig,
)
from monitor.sources.base import Source
from monitor.sources.reddit_settings import (
    RedditInboxSourceConfig,
    RedditResponderConfig,
    RedditSearchSourceConfig,
    RedditSubredditSourceConfig,
)
from monitor.sources.replay import ReplaySource
from monitor.sources.x_settings import XResponderConfig
from monitor.store.db import engine_for, session_factory
from monitor.yamlpos import ConfigError
from responders.base import Responder
from responders.notify import Notifier
from responders.recording import RecordingResponder

DEFAULT_RECORDING = Path("var/recorded-posts.jsonl")
# The daemon's jobs besides the polls, a thread each (monitor.daemon.build_scheduler):
# process, dispatch, sla, health and rules-reload. health holds a second connection
# while it reads the status (monitor.health_alerts).
DAEMON_STEPS = 5
DAEMON_NESTED = 1
# The dashboard runs each request's database work in anyio's worker threads (Starlette's
# run_in_threadpool), at most these many at once: anyio's default limit.
WEB_THREADS = 40
# The main thread (it releases the leases as the daemon stops) and a metrics scrape.
OTHER_THREADS = 2


def connection_users(settings: Settings) -> int:
    """The database connections one process may hold at once: a thread per job and per
    dashboard request, counted whether or not this process serves the dashboard, as the
    pool only opens what is asked for. docs/operations.md tells it for max_connections."""
    polls = sum(1 for source in settings.sources if source.enabled)
    return polls + DAEMON_STEPS + DAEMON_NESTED + WEB_THREADS + OTHER_THREADS


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    sources: dict[str, Source]
    responders: dict[Platform, Responder]
    notifier: Responder
    scorer: Scorer
    # None only where people work cases (serve, `cases`, `users`) while a rule file is
    # broken: `run` refuses to start without rules, which decide everything it does.
    rules: RuleEngine | None
    clock: Clock = field(default_factory=SystemClock)
    # Names this process in source leases: host, pid and a random part (pids get reused).
    worker_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    )
    stopping: threading.Event = field(default_factory=threading.Event)
    # The host's own clock, measured against the database server's (monitor.clock_skew):
    # never ``clock``, which tests replace with a fake one; tests shift this one instead.
    host_clock: Clock = field(default_factory=SystemClock)
    # Set while the health job's last measurement of it was beyond the bound: the
    # daemon's polls then hand their leases over and take none, and processing, dispatch
    # and the SLA check run no batch (monitor.daemon).
    clock_skewed: threading.Event = field(default_factory=threading.Event)
    metrics: Metrics = field(default_factory=Metrics)
    rules_error: ConfigError | None = None  # why ``rules`` is None
    # Messages processing cannot decide, by id, and until when they are left out of its
    # batches (monitor.batch_retry): one such message held up every one after it.
    set_aside: dict[int, datetime] = field(default_factory=dict)
    # Each rule's reply actions counted so far, for its variants' rotation (reply_turns).
    reply_turns: Counted = field(default_factory=Counted)

    @functools.cached_property
    def brand_accounts(self) -> BrandAccounts:
        """The brand's accounts, read once: ingest asks for every mention, and building
        them each time cost ~1% of a 4,200-mention run."""
        return brand_accounts(self.settings)

    def own_handles(self, platform: Platform) -> frozenset[str]:
        return self.settings.brand.own_handles(platform.value)

    def loaded_rules(self) -> RuleEngine:
        """The rules, for the daemon's steps (a runtime built for them always has some)."""
        if self.rules is None:
            raise RuntimeError(f"the rules are not loaded: {self.rules_problem()}")
        return self.rules

    def rules_problem(self) -> str:
        """Why the rules did not load, in one line: the first error and how many more."""
        problems = self.rules_error.problems if self.rules_error else []
        errors = [p for p in problems if not p.warning]
        if not errors:
            return "the rule files did not load"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return f"{errors[0]}{more}"


def build_source(
    settings: Settings,
    config: SourceConfig,
    sessions: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
) -> Source:
    """The adapter for one configured source. Each platform module is imported only
    when a source of its type is configured (tweepy and praw load slowly)."""
    if isinstance(config, ReplaySourceConfig):
        return ReplaySource(
            config.name,
            settings.resolve(config.path),
            page_size=config.page_size,
            shift_to_now=config.shift_to_now,
        )
    reddit_types = (RedditInboxSourceConfig, RedditSubredditSourceConfig, RedditSearchSourceConfig)
    if isinstance(config, reddit_types):
        # Imported here: monitor.ingest imports this module.
        from monitor.ingest import source_stale_after
        from monitor.sources.reddit_sources import build_reddit_source

        assert settings.reddit is not None  # Settings validation requires the section
        source = build_reddit_source(config, settings.reddit, settings.brand, clock)
        # The gap after which a failing listing's run starts again, as a source's does.
        source.stale_after = source_stale_after(settings, config)
        return source
    from monitor.sources.x_build import build_x_source

    assert sessions is not None, "X sources keep usage and details in the database"
    return build_x_source(settings, config, sessions, clock or SystemClock())


def build_responders(
    settings: Settings,
    *,
    dry_run: bool = False,
    sessions: sessionmaker[Session] | None = None,
    clock: Clock | None = None,
) -> dict[Platform, Responder]:
    """One responder per platform. Until a platform responder is configured, and always
    under ``--dry-run``, posts are recorded instead of sent."""
    recorders: dict[Path | None, RecordingResponder] = {}
    responders: dict[Platform, Responder] = {}
    for platform in Platform:
        config = settings.responders.get(platform.value)
        if isinstance(config, XResponderConfig) and not dry_run:
            from monitor.sources.x_build import build_x_responder

            assert sessions is not None, "the X responder keeps usage in the database"
            responders[platform] = build_x_responder(settings, sessions, clock or SystemClock())
            continue
        if isinstance(config, RedditResponderConfig) and not dry_run:
            from responders.reddit import build_reddit_responder

            assert settings.reddit is not None  # Settings validation requires the section
            responders[platform] = build_reddit_responder(settings.reddit, settings.brand)
            continue
        if isinstance(config, RecordingResponderConfig) and not dry_run:
            path = settings.resolve(config.path) if config.path else None
        else:
            path = DEFAULT_RECORDING
        responders[platform] = recorders.setdefault(path, RecordingResponder(path))
    return responders


def build_notifier(
    settings: Settings, *, dry_run: bool = False, clock: Clock | None = None
) -> Responder:
    """Apprise channels; under --dry-run notifications are recorded like posts."""
    limits = {name: channel.max_chars for name, channel in settings.channels.items()}
    if dry_run:
        # Cut as the channels would get it: a dry run shows what an SMS channel reads.
        return RecordingResponder(DEFAULT_RECORDING, limits)
    urls = {name: channel.url for name, channel in settings.channels.items()}
    return Notifier(urls, clock, limits)


def build_rule_engine(settings: Settings) -> RuleEngine:
    return engine_from_settings(settings)


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    dry_run: bool = False,
    rules_optional: bool = False,
    rules: RuleEngine | None = None,
) -> Runtime:
    """With ``rules_optional`` broken rule files leave ``rules`` None and the reason in
    ``rules_error`` instead of raising ConfigError. Given ``rules`` (already loaded and
    validated), the rule files are not read again."""
    clock = clock or SystemClock()
    rules_error = None
    if rules is None:
        rules, rules_error = _rules(settings, optional=rules_optional)
    engine = engine_for(settings.database, connections=connection_users(settings))
    sessions = session_factory(engine)
    return Runtime(
        settings=settings,
        engine=engine,
        sessions=sessions,
        sources={
            s.name: build_source(settings, s, sessions, clock)
            for s in settings.sources
            if s.enabled
        },
        responders=build_responders(settings, dry_run=dry_run, sessions=sessions, clock=clock),
        notifier=build_notifier(settings, dry_run=dry_run, clock=clock),
        scorer=Scorer(settings.scoring),
        rules=rules,
        rules_error=rules_error,
        clock=clock,
    )


def _rules(settings: Settings, *, optional: bool) -> tuple[RuleEngine | None, ConfigError | None]:
    # A broken rules commit is when the social team answers by hand: the dashboard and
    # the case commands go on without rules rather than refuse to start.
    try:
        return build_rule_engine(settings), None
    except ConfigError as exc:
        if not optional:
            raise
        return None, exc


@contextmanager
def settled(rt: Runtime) -> Iterator[None]:
    """Around a worker's work, once start-up is over: load what the scorer loads on
    first use, then take every object alive now (settings, rules, the lexicons and
    language models) out of the garbage collector's generations. Left in, each full
    collection walked them all again: about a tenth of a busy cycle's time
    (bench/pipeline.py). Start-up's own garbage is collected first; at the end the
    objects are given back to the collector, for a caller in the same process."""
    rt.scorer.score("@brand warm-up")
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
