"""CSV files for spreadsheets: every export writes through ``csv_text``.

Cells hold what people and rule files wrote (tags, team names), and Excel or LibreOffice
evaluate a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula — also after
a leading tab or carriage return, which Excel skips — so a tag like
``=HYPERLINK("http://evil.example", "invoice")`` would become a live link in the sheet
(OWASP "CSV injection"). Such a cell gets a leading single quote, OWASP's remedy: the
spreadsheet shows it as text.

The text starts with a byte-order mark: without one Excel reads a CSV file in the
system's code page, and a team named "Kundendienst Österreich" showed as
"Kundendienst Ã–sterreich". Python reads it with ``encoding="utf-8-sig"``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """The cell as a spreadsheet will show it as text, never evaluate it."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


BOM = "\ufeff"


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    out = io.StringIO()
    out.write(BOM)
    csv.writer(out).writerows([inert(cell) for cell in row] for row in rows)
    return out.getvalue()
