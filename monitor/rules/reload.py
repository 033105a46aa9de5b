"""Hot reload: pick up changed rule files while the daemon runs.

Every run compares the content hash of the rules folder with the running engine's. A
changed folder that validates replaces the engine; one that does not leaves the last
good rules running (DESIGN rule 7), and the error is logged and stored in the
``source_state`` row ``@rules`` so ``inchannel status`` (a separate process) shows it.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from monitor.rules.setup import RELOAD_ATTEMPTS, engine_from_settings, watched_version
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import SourceState
from monitor.store.queries import locked_source_state
from monitor.yamlpos import ConfigError

log = logging.getLogger("inchannel.rules")

# "@" cannot start a source name, so this row never collides with a real source.
RULES_STATE = "@rules"
RELOAD_SECONDS = 30
MAX_STORED_ERROR = 4_000


class RuleReloader:
    def __init__(self, rt: Runtime, *, publish: bool = True) -> None:
        self.rt = rt
        self.rejected_version: str | None = None  # so a broken file is reported once
        # The @rules row reports the daemon's rules; a dashboard reloading for itself
        # (ReloadOnUse) leaves it to the daemon.
        self.publish = publish
        # Whether the @rules row shows what this reloader last decided: a write the
        # database refused (it was away) is made again at the next check.
        self._published = False
        self._rejected_error = ""

    def check(self) -> bool:
        """One reload check; always returns False (a step with no backlog)."""
        # The answers folder is watched too: it is part of what the rules do.
        version = watched_version(self.rt.settings)
        running = self.rt.rules  # None: a dashboard started while the files were broken
        if running is not None and version == running.version:
            # Back to the running rules (a bad edit was reverted): clear the error.
            if self.rejected_version is not None or not self._published:
                self.rejected_version = None
                self._publish(error=None)
        elif version != self.rejected_version:
            self._load(version)
        elif not self._published:
            self._publish(error=self._rejected_error, rejected=version)
        return False

    def _load(self, version: str) -> None:
        # The version each read was made of: a read tried again because the files
        # changed meanwhile failed on the later version, and rejected under the first
        # one, the next check read (and logged, and counted) the same files again.
        read = [version]
        try:
            engine = engine_from_settings(
                self.rt.settings, attempts=RELOAD_ATTEMPTS, read_as=read.append
            )
        except (ConfigError, OSError) as exc:
            self._reject(read[-1], str(exc))
            return
        except Exception as exc:  # an input no check foresaw: the running rules stay
            log.exception("rules version=%s: loading crashed", read[-1])
            self._reject(read[-1], f"loading crashed ({type(exc).__name__}: {exc}); see the log")
            return
        previous = _version(self.rt)
        self.rt.rules, self.rt.rules_error = engine, None
        self.rejected_version = None
        for warning in engine.ruleset.warnings:
            log.warning("rules: %s", warning)
        log.info(
            "rules reloaded version=%s (was %s) rules=%d",
            engine.version, previous, len(engine.rules),
        )  # fmt: skip
        self._publish(error=None)

    def _reject(self, version: str, error: str) -> None:
        """Keep the running rules and report the rejected version once (ElastAlert's
        way: a bad edit must not stop the bot, nor leave it running no rules)."""
        self.rejected_version, self._rejected_error = version, error
        log.error(
            "rules version=%s rejected, still running version=%s:\n%s",
            version, _version(self.rt), error,
        )  # fmt: skip
        self._publish(error=error, rejected=version)

    def _publish(self, *, error: str | None, rejected: str | None = None) -> None:
        if not self.publish:
            return
        self._published = False
        now, running = self.rt.clock.now(), self.rt.loaded_rules()
        details: dict[str, Any] = {
            "version": running.version,
            "rules": len(running.rules),
            "rejected_version": rejected,
        }
        with transaction(self.rt.sessions) as session:
            # Locked: each worker adds its rejection to the count it reads.
            row = locked_source_state(session, RULES_STATE)
            row.last_poll_at = now
            row.last_error = error[:MAX_STORED_ERROR] if error else None
            if error is None:
                row.last_success_at = now
                row.consecutive_failures = 0
            else:
                row.consecutive_failures += 1
            row.details = details
        self._published = True


class ReloadOnUse:
    """Hot reload for a process without the daemon's jobs (``inchannel serve``): checked
    when a request comes, at most every RELOAD_SECONDS. Without it the dashboard kept
    the knowledge base it started with, and a person starting a reply from an entry
    posted the text the files no longer say."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._reloader = RuleReloader(rt, publish=False)
        self._due: datetime | None = None
        self._lock = threading.Lock()  # requests run in a thread pool: one check at a time

    def check(self) -> None:
        with self._lock:
            now = self.rt.clock.now()
            if self._due is not None and now < self._due:
                return
            self._due = now + timedelta(seconds=RELOAD_SECONDS)
            try:
                self._reloader.check()
            except Exception:  # an unreadable folder must not fail the request
                log.exception("rules reload failed; still running version=%s", _version(self.rt))


def _version(rt: Runtime) -> str:
    return rt.rules.version if rt.rules is not None else "none"


def read_rules_state(session: Session) -> tuple[dict[str, Any], str | None, datetime | None] | None:
    """(details, last error, last successful load) as the daemon last stored them."""
    row = session.get(SourceState, RULES_STATE)
    if row is None:
        return None
    return dict(row.details or {}), row.last_error, row.last_success_at
