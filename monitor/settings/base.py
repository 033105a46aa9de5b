"""What every section's model shares: refused unknown keys, frozen values, and paths
that are never empty."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator

from monitor.strict_model import Strict as Strict


def _not_blank_path(value: Any) -> Any:
    """An empty path is Path("."), the config file's own folder: an empty ${VAR} as
    rules.path read inchannel.yaml as a rule file, and check-config printed a screenful
    of errors about keys no rule has instead of this one."""
    if isinstance(value, str) and not value.strip():
        raise ValueError(
            "must not be empty or blank (is its environment variable empty?): an empty"
            " path is the config file's own folder"
        )
    return value


ConfigPath = Annotated[Path, BeforeValidator(_not_blank_path)]
