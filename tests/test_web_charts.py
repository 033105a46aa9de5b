"""The reports' SVG charts: labels readable, and told apart, however long."""

from __future__ import annotations

import re

from monitor.domain import NAME_CHARS
from monitor.web.charts import bars

_ROW_LABEL = re.compile(r'<text x="0\.0" y="[0-9.]+" font-size="12">([^<]*)</text>')


def test_long_bar_labels_are_cut_so_rows_stay_told_apart() -> None:
    # A team name may have NAME_CHARS characters; its median and p90 rows differ only at
    # the end, as do tags sharing a long prefix.
    team = "customer-success-europe-middle-east-and-africa"
    assert len(team) <= NAME_CHARS
    items: list[tuple[str, float | None]] = [
        (f"{team} median", 12.0),
        (f"{team} p90", 45.0),
        ("shipping-delay-international-a", 3.0),
        ("shipping-delay-international-b", 2.0),
    ]
    shown = _ROW_LABEL.findall(str(bars("First response", items, " min")))
    assert len(shown) == 4
    assert len(set(shown)) == 4, shown
    assert all(len(label) <= 28 for label in shown)


def test_a_cut_label_is_given_whole_on_its_bar() -> None:
    team = "customer-success-europe-middle-east-and-africa"
    svg = str(bars("SLA attainment", [(team, 97.5)], "%"))
    assert f"<title>{team}: 97.5%</title>" in svg


def test_a_short_label_is_shown_as_it_is() -> None:
    shown = _ROW_LABEL.findall(str(bars("Top tags", [("refund", 4.0)])))
    assert shown == ["refund"]


def test_a_whole_label_on_a_bar_is_escaped_too() -> None:
    svg = str(bars("Top tags", [('<b onclick="x">' + "a" * 30, 1.0)]))
    assert "<b " not in svg
    assert "&lt;b onclick=&#34;x&#34;&gt;" in svg


def test_a_cut_label_without_a_bar_is_still_given_whole() -> None:
    # A team with no answered case has no attainment ("—") and so no bar to point at:
    # its cut label could not be read whole anywhere on the page.
    team = "customer-success-europe-middle-east-and-africa"
    svg = str(bars("SLA attainment", [(team, None)], "%"))
    assert f"<title>{team}: —</title>" in svg
