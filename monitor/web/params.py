"""Values from query strings, forms and JSON bodies, read without surprises."""

from __future__ import annotations

from monitor.casework import require_storable as require_storable  # re-exported


def ascii_digits(text: str) -> bool:
    """Only 0-9: ``str.isdigit`` also accepts "²" and other digits that ``int`` refuses
    (a ValueError, and a 500, for ``?page=²``)."""
    return text.isascii() and text.isdigit()


def whole_number(raw: str, default: int) -> int:
    """A query parameter's number, or ``default`` when it is none (the callers clamp)."""
    return int(raw) if ascii_digits(raw) else default
