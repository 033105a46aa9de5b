"""Values from query strings, forms and JSON bodies, read without surprises."""

from __future__ import annotations

from monitor.casework import CaseworkError


def ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts "²" and other digits that ``int`` refuses
    (a ValueError, and a 500, for ``?page=²``)."""
    return text.isascii() and text.isdigit()


def whole_number(raw: str, default: int) -> int:
    """A query parameter's number, or ``default`` when it is none (the callers clamp)."""
    return int(raw) if ascii_digits(raw) else default


def require_storable(name: str, value: str) -> str:
    """``value``, if the database can take it. PostgreSQL refuses a NUL in any text
    parameter and neither driver encodes an unpaired surrogate (JSON's "\\ud800"): a 500
    either way, and a surrogate stored in a JSON column broke every later rendering of the
    case. Mentions lose them on the way in (domain.bound_text); a person's input is
    refused instead, so what they typed is never silently changed."""
    if "\x00" in value or not _encodable(value):
        raise CaseworkError(f"{name} contains a NUL character or an unpaired surrogate")
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
