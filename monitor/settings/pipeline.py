"""How mentions come in, are handled and go out: the platform-free replay source and
recording responder, processing, rules, the knowledge base, dispatch and the workers'
hand-over. (The X and Reddit sections are in monitor.sources.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from monitor.domain import MAX_WAIT_HOURS, MAX_WAIT_MINUTES, MAX_WAIT_SECONDS, NAME_CHARS
from monitor.settings.base import ConfigPath, Strict


class ReplaySourceConfig(Strict):
    type: Literal["replay"]
    name: str = Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[A-Za-z0-9_.-]+$")
    path: ConfigPath
    interval_seconds: float = Field(default=30, gt=0, le=MAX_WAIT_SECONDS)
    page_size: int = Field(default=20, ge=1, le=1000)
    # Move every mention's times so the file's newest lands when the daemon first reads
    # it, keeping the gaps (the demo: its fixed sample dates otherwise age). Off by
    # default: a replayed real history keeps its real dates.
    shift_to_now: bool = False
    enabled: bool = True


class RecordingResponderConfig(Strict):
    type: Literal["recording"] = "recording"
    # Where would-be posts are appended as JSON lines (None: memory only).
    path: ConfigPath | None = Path("var/recorded-posts.jsonl")


class Dispatch(Strict):
    interval_seconds: float = Field(default=5, gt=0, le=MAX_WAIT_SECONDS)
    batch_size: int = Field(default=50, ge=1, le=1000)
    max_attempts: int = Field(default=6, ge=1, le=50)
    backoff_base_seconds: float = Field(default=30, gt=0, le=MAX_WAIT_SECONDS)
    backoff_cap_seconds: float = Field(default=3600, gt=0, le=MAX_WAIT_SECONDS)
    # Notifications have nobody to take over when they fail: they are retried (backoff
    # up to backoff_cap_seconds) until they are this old, not max_attempts times.
    notify_retry_hours: float = Field(default=24, gt=0, le=24 * 14)


class Workers(Strict):
    """How workers sharing one database hand work over when one of them dies."""

    # A source's lease lasts this long (at least 3 poll intervals, and an X source's at
    # least its longest poll: ingest.source_lease_seconds) and is renewed as each poll
    # starts; a worker killed without clean-up blocks its sources this long.
    lease_seconds: float = Field(default=120, ge=5, le=MAX_WAIT_SECONDS)
    # A reply claimed for sending this long ago belongs to a dead worker: another
    # worker checks the platform for it (never re-sends blindly) and finishes it.
    stale_claim_seconds: float = Field(default=600, ge=5, le=MAX_WAIT_SECONDS)
    # How often cron runs `inchannel run --once` (0: a daemon runs, the health job each
    # minute). Status and the alerts then allow this much more between a source's polls,
    # the health checks and the decisions: the gap between runs is the schedule.
    run_once_every_minutes: float = Field(default=0, ge=0, le=MAX_WAIT_MINUTES)

    @property
    def between_runs(self) -> timedelta:
        """The gap cron leaves between cycles; zero for a daemon."""
        return timedelta(minutes=self.run_once_every_minutes)


class Processing(Strict):
    interval_seconds: float = Field(default=5, gt=0, le=MAX_WAIT_SECONDS)
    batch_size: int = Field(default=200, ge=1, le=10_000)


class RulesConfig(Strict):
    path: ConfigPath = Path("rules")
    max_replies_per_thread: int = Field(default=2, ge=0)
    author_cooldown_minutes: float = Field(default=30, ge=0, le=MAX_WAIT_MINUTES)
    # The bot does not reply to mentions older than this (0: no limit); people still can.
    max_age_hours: float = Field(default=24, ge=0, le=MAX_WAIT_HOURS)


def _searchable(word: str) -> str:
    if not any(c.isalnum() for c in word):
        raise ValueError(f"{word!r} has no searchable word")
    return word


class AnswersConfig(Strict):
    """The knowledge base (docs/answers.md): a folder of entries and two thresholds on
    the match confidence (0..1), chosen on bench/answers.py's evaluation set."""

    path: ConfigPath = Path("answers")
    # At or above: the `answer` action posts the entry in the thread.
    answer_at: float = Field(default=0.35, gt=0, le=1)
    # At or above (and below answer_at): a draft with the entry for a person to approve.
    # From 0.15 up to answer_at the proposed entry is right 66% of the time on the 754
    # labelled tuning mentions, 78% on the blind ones (bench/answers.py).
    draft_at: float = Field(default=0.15, gt=0, le=1)
    # The brand's products ("kettle", "air fryer"): a question naming one is still a
    # question for an entry that holds for every product (returns, warranty, payment).
    # An entry about particular products says so with its own `products:`.
    products: list[Annotated[str, AfterValidator(_searchable)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _ordered(self) -> AnswersConfig:
        if self.draft_at > self.answer_at:
            raise ValueError("draft_at must not be above answer_at")
        return self
