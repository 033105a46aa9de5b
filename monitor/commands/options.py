"""Options every ``inchannel`` command shares, defined once."""

from __future__ import annotations

from pathlib import Path

import click

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $INCHANNEL_CONFIG or ./config/inchannel.yaml).",
)
