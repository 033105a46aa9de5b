"""Options every ``inchannel`` command shares, defined once."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from monitor.notifications import CONTROLS

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $INCHANNEL_CONFIG or ./config/inchannel.yaml).",
)


def utc_moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """An option's date or date and time, UTC unless it carries an offset: ``2026-11-01``,
    ``2026-11-01T08:00``, ``2026-11-01T08:00:00Z``, ``2026-11-01T09:00+01:00``. The
    APIs' own timestamps end in ``Z``; pasted from one, they must not be refused. (A
    callback, not a ParamType: that class is generic only from click 8.2.)"""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        # OverflowError: year 1 or 9999 with an offset falls outside the calendar in UTC.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"{value[:40]!r} is not a date: use 2026-11-01, 2026-11-01T08:00 or "
            "2026-11-01T08:00:00Z (UTC unless an offset such as +01:00 is given)"
        ) from None


# C1 controls: JSON leaves them raw, and a terminal takes U+009B as the start of an
# escape sequence, as it does ESC; bidi controls reorder the line after them. Mention
# text is written by strangers.
_C1 = re.compile("[\u0080-\u009f\u202a-\u202e\u2066-\u2069]")


def json_line(value: Any, **options: Any) -> str:
    """``value`` as one line of JSON, readable (non-ASCII kept) but safe in a terminal."""
    text = json.dumps(value, ensure_ascii=False, **options)
    return _C1.sub(_spelled, text)


def terminal_text(text: str) -> str:
    """``text`` with what a terminal would act on spelled out (``\\x1b``), lines kept.
    Rich drops only a few controls (BEL, CR, ...) and passes ESC through, and its markup
    escape() is about "[", not these."""
    return CONTROLS.sub(_spelled, text)


def _spelled(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}"
