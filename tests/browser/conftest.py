"""A real browser (Debian's chromium, driven by Playwright) against the dashboard served
by uvicorn on a free port, over a database filled by the real pipeline."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from monitor.clock import FakeClock
from monitor.runtime import Runtime, build_runtime
from monitor.store.db import upgrade
from monitor.web.app import create_app
from tests.conftest import REPO, settings_for, write_jsonl
from tests.webkit import seeded

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-output" / "browser"

if not CHROMIUM.exists():
    if os.environ.get("INCHANNEL_REQUIRE_BROWSER"):
        raise RuntimeError("INCHANNEL_REQUIRE_BROWSER is set but /usr/bin/chromium is missing")
    pytest.skip("needs Debian's chromium at /usr/bin/chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """SQLite only: the browser checks the pages, the database matrix is covered elsewhere."""
    built: list[Runtime] = []

    def factory(rows: list[dict[str, Any]] | None = None, **overrides: Any) -> Runtime:
        feed = write_jsonl(tmp_path / "feed.jsonl", rows or [])
        settings = settings_for(tmp_path, f"sqlite:///{tmp_path / 'web.db'}", feed, **overrides)
        rt = build_runtime(settings, clock=FakeClock())
        upgrade(rt.engine)
        built.append(rt)
        return rt

    yield seeded(factory)
    for rt in built:
        rt.engine.dispose()


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    config = uvicorn.Config(
        create_app(runtime, refresh_seconds=1), host="127.0.0.1", port=0, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    # Waiting for a real server socket to listen; no test logic depends on timing.
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=ARGS, headless=True
        )
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Any, base_url: str) -> Iterator[Any]:
    """Pages that fail the test on any CSP violation or script error."""
    contexts: list[Any] = []
    problems: list[str] = []

    def make() -> Any:
        context = browser.new_context(base_url=base_url)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: problems.append(f"dialog opened: {d.message}"))
        return page

    yield make
    for context in contexts:
        context.close()
    # Refusals the pages show (a 400 or 403), and the reply check's 401 after a session
    # ended: the browser logs each as a failed load.
    refusals = ("400", "401", "403")
    assert [p for p in problems if not any(code in p for code in refusals)] == []


def sign_in(page: Any, name: str, password: str) -> None:
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
