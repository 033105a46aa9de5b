"""Builds the X source and responder from the settings (called by monitor.runtime)."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.settings import Settings
from monitor.sources.x import make_api
from monitor.sources.x_parse import XBrand
from monitor.sources.x_settings import (
    XMentionsSourceConfig,
    XSearchSourceConfig,
    XSettings,
    poster_id,
)
from monitor.sources.x_source import XSource, XSourceParts
from responders.x import XResponder


def _x(settings: Settings) -> XSettings:
    # The settings validator guarantees the section whenever an X part is configured.
    assert settings.x is not None
    return settings.x


def build_x_source(
    settings: Settings,
    config: XMentionsSourceConfig | XSearchSourceConfig,
    sessions: sessionmaker[Session],
    clock: Clock,
) -> XSource:
    x = _x(settings)
    brand = XBrand(x.user_id, settings.brand.own_handles("x"), poster_id(x))
    parts = XSourceParts(make_api(x), brand, x, sessions, clock, budget_channels(settings))
    return XSource(config, parts)


def build_x_responder(
    settings: Settings, sessions: sessionmaker[Session], clock: Clock
) -> XResponder:
    x = _x(settings)
    return XResponder(
        make_api(x, posting=True), x, sessions, clock, notify=budget_channels(settings)
    )


def budget_channels(settings: Settings) -> tuple[str, ...]:
    """Where X budget warnings (monitor.health_alerts) and stops go: one list for both."""
    names = [*settings.alerts.channels, *_x(settings).budget.notify]
    return tuple(dict.fromkeys(names))
