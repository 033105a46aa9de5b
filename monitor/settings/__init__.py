"""The config file: pydantic models and a loader whose errors carry file:line:col.

Pydantic stays at this edge. The rest of the daemon reads these frozen models or the
frozen dataclasses built from them. One module per concern; the names the rest of the
tree uses are all importable from here.
"""

from monitor.settings.base import ConfigPath, Strict
from monitor.settings.errors import NOT_SHOWN, not_text, validate_document, validation_problems
from monitor.settings.loader import CONFIG_ENV, DEFAULT_CONFIG, config_path, load_settings
from monitor.settings.model import (
    SENDS_PER_REPLY,
    Brand,
    ResponderConfig,
    Settings,
    SourceConfig,
    bare_handle,
)
from monitor.settings.pipeline import (
    AnswersConfig,
    Dispatch,
    Processing,
    RecordingResponderConfig,
    ReplaySourceConfig,
    RulesConfig,
    Workers,
)
from monitor.settings.scoring import DEFAULT_LANGUAGES, LANGID_CODES, ScoringConfig
from monitor.settings.teams import Channel, Team
from monitor.settings.web import ListenHost, Logging, MetricsConfig, Web, local_url
from monitor.yamlpos import ConfigError

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "DEFAULT_LANGUAGES",
    "LANGID_CODES",
    "NOT_SHOWN",
    "SENDS_PER_REPLY",
    "AnswersConfig",
    "Brand",
    "Channel",
    "ConfigError",
    "ConfigPath",
    "Dispatch",
    "ListenHost",
    "Logging",
    "MetricsConfig",
    "Processing",
    "RecordingResponderConfig",
    "ReplaySourceConfig",
    "ResponderConfig",
    "RulesConfig",
    "ScoringConfig",
    "Settings",
    "SourceConfig",
    "Strict",
    "Team",
    "Web",
    "Workers",
    "bare_handle",
    "config_path",
    "load_settings",
    "local_url",
    "not_text",
    "validate_document",
    "validation_problems",
]
