"""Values from query strings, forms and JSON bodies, read without surprises."""

from __future__ import annotations

from monitor.casework import require_storable as require_storable  # re-exported
from monitor.domain import ascii_digits as ascii_digits  # re-exported


def whole_number(raw: str, default: int) -> int:
    """A query parameter's number, or ``default`` when it is none (the callers clamp)."""
    return int(raw) if ascii_digits(raw) else default
