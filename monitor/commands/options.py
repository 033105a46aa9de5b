"""Options every ``inchannel`` command shares, defined once."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $INCHANNEL_CONFIG or ./config/inchannel.yaml).",
)


# C1 controls: JSON leaves them raw, and a terminal takes U+009B as the start of an
# escape sequence, as it does ESC. Mention text is written by strangers.
_C1 = re.compile("[\u0080-\u009f]")


def json_line(value: Any, **options: Any) -> str:
    """``value`` as one line of JSON, readable (non-ASCII kept) but safe in a terminal."""
    text = json.dumps(value, ensure_ascii=False, **options)
    return _C1.sub(lambda found: f"\\u{ord(found.group()):04x}", text)
