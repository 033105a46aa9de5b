"""The ``alerts:`` section: operations alerts and negative-mention spikes (docs/operations.md).

Part of the config file's models (monitor.settings). A threshold of 0 turns its alert off.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.domain import MAX_WAIT_MINUTES, TAG, TAG_RULE
from monitor.strict_model import Strict
from monitor.yamlpos import did_you_mean


class SpikeConfig(Strict):
    enabled: bool = True
    # The current window slides: the last window_minutes, compared with the average
    # window of the baseline_hours before it.
    window_minutes: int = Field(default=60, ge=5, le=24 * 60)
    baseline_hours: int = Field(default=24, ge=1, le=24 * 28)
    factor: float = Field(default=3, ge=1)
    min_count: int = Field(default=10, ge=1)
    # Also per case tag: true (every tag), false, or the tags to watch.
    tags: bool | list[str] = True

    @field_validator("tags")
    @classmethod
    def _tags_as_cases_store_them(cls, tags: bool | list[str]) -> bool | list[str]:
        """Cases store tags lower-cased (rules and the dashboard lower them): a listed
        ``VIP`` matched no case, and that tag's spikes went unreported without a word."""
        if isinstance(tags, bool):
            return tags
        clean = [tag.strip().lower() for tag in tags]
        bad = [tag for tag in clean if not TAG.match(tag)]
        if bad:
            raise ValueError(f"bad tag {bad[0][:40]!r}: {TAG_RULE}")
        return list(dict.fromkeys(clean))

    @model_validator(mode="after")
    def _baseline_covers_a_window(self) -> SpikeConfig:
        if self.baseline_hours * 60 < self.window_minutes:
            raise ValueError("baseline_hours must cover at least one window_minutes")
        return self


class AlertsConfig(Strict):
    # Names under the top-level `channels:`; none: alerts are only logged and recorded.
    channels: list[str] = Field(default_factory=list)
    source_failing_minutes: int = Field(default=15, ge=0, le=MAX_WAIT_MINUTES)
    # A source is silent after this long without mentions, if it usually has at least
    # silence_min_expected mentions in those hours of the day (averaged over the same
    # hours of the silence_baseline_days before).
    silence_hours: float = Field(default=6, ge=0, le=24 * 7)
    silence_baseline_days: int = Field(default=7, ge=1, le=28)
    silence_min_expected: float = Field(default=5, gt=0)
    # Actions waiting (pending or failed), or the oldest one overdue by this much.
    outbox_backlog: int = Field(default=500, ge=0)
    outbox_due_minutes: int = Field(default=15, ge=0, le=MAX_WAIT_MINUTES)
    x_budget_percent: int = Field(default=80, ge=0, le=100)
    # Repeat an alert whose condition still holds this often (0: once per episode).
    realert_minutes: int = Field(default=60, ge=0, le=MAX_WAIT_MINUTES)
    spike: SpikeConfig = SpikeConfig()


def check_channels(alerts: AlertsConfig, known: Collection[str]) -> None:
    """Raise a ValidationError located at ``channels[i]`` for each unknown channel name."""
    refuse_unknown_channels(
        "AlertsConfig", [(("channels", i), name) for i, name in enumerate(alerts.channels)], known
    )


def refuse_unknown_channels(
    title: str,
    named: Iterable[tuple[tuple[str | int, ...], str]],
    known: Collection[str],
    label: str = "",
) -> None:
    """Raise a ValidationError at each ``(loc, name)`` whose channel is not in ``known``:
    at the name itself, so check-config points at the line with the typo. ``label``
    starts each message (``team 'care': ``)."""
    names = ", ".join(sorted(known)) or "none configured"
    errors = []
    for loc, name in named:
        if name in known:
            continue
        shown, hint = shown_channel(name, known)
        errors.append(
            InitErrorDetails(
                type=PydanticCustomError(
                    "unknown_channel",
                    "{label}unknown channel {name}{hint} (channels: {names})",
                    {"label": label, "name": shown, "hint": hint, "names": names},
                ),
                loc=loc,
                input=shown,
            )
        )
    if errors:
        raise ValidationError.from_exception_data(title, errors)


def shown_channel(name: str, known: Collection[str]) -> tuple[str, str]:
    """An unknown channel name as its error shows it, and the hint after it. A URL
    written where the channel's name goes (``channels: ["${OPS_WEBHOOK}"]``) is not
    shown: a webhook's URL is its secret, and check-config's output goes to CI logs."""
    if ":" in name:
        hidden = "(not shown: it looks like a URL, which may hold a secret; give it a name"
        return hidden + " under channels: and list the name here)", ""
    return repr(name), did_you_mean(name, known)
