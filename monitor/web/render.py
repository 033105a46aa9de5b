"""Jinja2 set-up: autoescaping everywhere, and the filters the templates use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from monitor.clock import Clock

TEMPLATES = Path(__file__).parent / "templates"


def duration(seconds: float) -> str:
    """Compact and coarse, as a person scans a queue: 45s, 12m, 3h 05m, 2d 4h."""
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86_400:
        return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d {seconds % 86_400 // 3600}h"


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are rendered; a javascript: or data: URL from a post is dropped."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme in ("http", "https") else None


def make_environment(clock: Clock) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def age(moment: datetime) -> str:
        return duration((clock.now() - moment).total_seconds())

    def countdown(due: datetime | None) -> str:
        if due is None:
            return ""
        left = (due - clock.now()).total_seconds()
        return f"in {duration(left)}" if left >= 0 else f"overdue {duration(left)}"

    def breached(due: datetime | None) -> bool:
        # Past the deadline, as check_sla and the reports count a breach: the countdown
        # at the deadline itself reads "in 0s", not red.
        return due is not None and due < clock.now()

    def when(moment: datetime | None) -> str:
        return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")

    def query(params: dict[str, Any]) -> str:
        return urlencode(params)

    env.filters.update(age=age, countdown=countdown, when=when, safe_url=safe_url, query=query)
    env.tests["breached"] = breached
    return env
