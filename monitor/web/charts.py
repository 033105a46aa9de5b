"""Server-rendered SVG charts: no chart library, no script, every label escaped.

Every piece is a literal Markup template filled with ``format``, which escapes its
arguments: a tag or day label can never become markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from markupsafe import Markup

PALETTE = {
    "negative": "#c0392b",
    "neutral": "#7f8c8d",
    "positive": "#27ae60",
    "unscored": "#bdc3c7",
    "x": "#222222",
    "reddit": "#ff4500",
}
FALLBACK = ("#2980b9", "#8e44ad", "#16a085", "#d35400", "#2c3e50")
RECT = Markup('<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}">{}</rect>')
TEXT = Markup('<text x="{:.1f}" y="{:.1f}" font-size="{}">{}</text>')
TITLE = Markup("<title>{}</title>")
ROW = Markup("<g>{}")  # a bar chart's row: its title is the tooltip of all of it
END_ROW = Markup("</g>")
OPEN = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {w} {h}" '
    'width="{w}" height="{h}"><title>{title}</title>'
)
CLOSE = Markup("</svg>")
LABEL_CHARS = 28  # what fits left of the bars at font-size 12


def color(key: str, index: int) -> str:
    return PALETTE.get(key, FALLBACK[index % len(FALLBACK)])


def stacked_columns(
    title: str, columns: Sequence[tuple[str, Mapping[str, int]]], keys: Sequence[str]
) -> Markup:
    """One column per day, stacked by key (sentiment or platform), with a legend."""
    width, height, top, bottom = 640, 220, 10, 40
    peak = max((sum(v.values()) for _, v in columns), default=0) or 1
    step = (width - 40) / max(1, len(columns))
    parts = [OPEN.format(w=width, h=height, title=title)]
    for i, (day, values) in enumerate(columns):
        x, base = 40 + i * step, float(height - bottom)
        for k, key in enumerate(keys):
            h = (height - top - bottom) * values.get(key, 0) / peak
            if h > 0:
                tip = TITLE.format(f"{day} {key}: {values.get(key, 0)}")
                parts.append(RECT.format(x, base - h, max(1.0, step - 2), h, color(key, k), tip))
                base -= h
        if len(columns) <= 16 or i % max(1, len(columns) // 8) == 0:
            parts.append(TEXT.format(x, height - bottom + 14, 10, day[5:]))
    parts.append(TEXT.format(2, top + 10, 10, peak))
    for k, key in enumerate(keys):
        parts.append(RECT.format(40 + k * 110, height - 14, 10, 10, color(key, k), ""))
        parts.append(TEXT.format(54 + k * 110, height - 5, 11, key))
    parts.append(CLOSE)
    return Markup("").join(parts)


def bars(title: str, items: Sequence[tuple[str, float | None]], unit: str = "") -> Markup:
    """Horizontal bars with their value written next to them (None draws no bar)."""
    width, row = 640, 22
    height = row * max(1, len(items)) + 10
    peak = max((v for _, v in items if v is not None), default=0) or 1
    parts = [OPEN.format(w=width, h=height, title=title)]
    for i, (label, value) in enumerate(items):
        y = 5 + i * row
        length = 380 * (value or 0) / peak
        shown = "—" if value is None else f"{value:g}{unit}"
        # The whole label on the row, not on its bar: a row with no value has no bar,
        # and its label, cut, was then nowhere to be read whole.
        parts.append(ROW.format(TITLE.format(f"{label}: {shown}")))
        parts.append(TEXT.format(0, y + 15, 12, fitted(label)))
        if value is not None:
            parts.append(RECT.format(200, y + 3, length, row - 6, "#2980b9", ""))
        parts.append(TEXT.format(205 + length, y + 15, 12, shown))
        parts.append(END_ROW)
    parts.append(CLOSE)
    return Markup("").join(parts)


def fitted(label: str, limit: int = LABEL_CHARS) -> str:
    """``label`` cut in the middle to ``limit`` characters. Cut at the end, a long team's
    "median" and "p90" rows, and tags sharing a long prefix, read the same."""
    if len(label) <= limit:
        return label
    head = (limit - 1) // 2
    return f"{label[:head]}…{label[-(limit - 1 - head) :]}"
