"""Options every ``inchannel`` command shares, defined once."""

from __future__ import annotations

import codecs
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from monitor.notifications import CONTROLS

config_option = click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $INCHANNEL_CONFIG or ./config/inchannel.yaml).",
)


# Wider than any row: a pipe has no width, and rich took it as 80 columns.
PIPE_WIDTH = 10_000


def table_console() -> Console:
    """A console for tables: a terminal's width, or through a pipe (``| grep``, cron
    mail) every cell whole; rich cut ids, handles and texts to "shipping-coun…"."""
    console = Console()
    if not console.is_terminal:
        console.width = PIPE_WIDTH
    return console


_DATE_AND_OFFSET = re.compile(r"(?P<date>\d{4}-?\d{2}-?\d{2})(?P<offset>[+-]\d.*|Z)")


def utc_moment(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """An option's date or date and time, UTC unless it carries an offset: ``2026-11-01``,
    ``2026-11-01T08:00``, ``2026-11-01T08:00:00Z``, ``2026-11-01T09:00+01:00``. The
    APIs' own timestamps end in ``Z``; pasted from one, they must not be refused. (A
    callback, not a ParamType: that class is generic only from click 8.2.)"""
    if value is None:
        return None
    text = value.strip()
    if found := _DATE_AND_OFFSET.fullmatch(text):
        # fromisoformat takes any character after a date as the separator from a time:
        # "2026-11-01+01:00" was 01:00 UTC, two hours after that day's start at +01:00.
        text = f"{found['date']}T00:00{found['offset']}"
    try:
        moment = datetime.fromisoformat(text)
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
# text is written by strangers. U+2028 and U+2029 too: valid raw in a JSON string, but
# str.splitlines() and other line readers end a line there, cutting a record in two.
_C1 = re.compile("[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


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
    return spelled(found.group())


def printable(text: str, *, lines: bool = False) -> str:
    """``text`` with every character Python cannot print spelled out (``spelled``), for
    the hostile mention fields the dry-run commands show: stricter than
    ``terminal_text``, zero-width and bidi characters too. ``lines``: line breaks kept."""
    return "".join(c if c.isprintable() or (lines and c == "\n") else spelled(c) for c in text)


def spelled(char: str) -> str:
    """One character as Python writes it escaped: ``\\x1b``, ``\\u202e``, ``\\U0001f600``
    (the bidi override U+202E spelled ``\\x202e`` reads as a space, "\\x20", then "2e")."""
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _as_json_escapes(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    units = error.object[error.start : error.end].encode("utf-16-be", "surrogatepass")
    escaped = "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))
    return escaped, error.end


codecs.register_error("inchannel-json-escape", _as_json_escapes)


def escape_unwritable_output() -> None:
    """What stdout and stderr cannot encode is written as ``\\u20ac``, not a traceback
    mid-output: a Latin-1 or ASCII locale cannot write an emoji (nor rich's "…"), and
    no encoding writes a lone surrogate (a Latin-1 byte in a UTF-8 locale's argv).
    JSON escapes (a surrogate pair for an emoji) keep a --json line valid JSON, as
    those characters are only ever inside its strings."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="inchannel-json-escape")
