"""Values from query strings, forms, JSON bodies and the path, read without surprises."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor

from monitor.casework import require_storable as require_storable  # re-exported
from monitor.domain import ascii_digits as ascii_digits  # re-exported


def whole_number(raw: str, default: int, low: int, high: int) -> int:
    """A query parameter's number between ``low`` and ``high``, or ``default`` when it is
    none. int() refuses a string of over 4,300 digits (a 500), so a number with more
    digits than ``high`` is ``high`` without being converted."""
    if not ascii_digits(raw):
        return default
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(high)):
        return high
    return max(low, min(int(digits), high))


class Id(Convertor[int]):
    """A row id in the path: Starlette's ``int`` with a bounded length. Its int() runs
    while routing, where a 5,000-digit id was a 500; no id has over 19 digits, so 100
    leave room for leading zeros, and a longer one matches no route (404), as ``abc``."""

    regex = "[0-9]{1,100}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", Id())
