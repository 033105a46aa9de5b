"""Logging set-up: debug output from the HTTP clients never carries credentials."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from monitor.logs import CREDENTIAL_LOGGERS, setup_logging
from monitor.pipeline import poll_source
from tests.conftest import RuntimeFactory
from tests.fakeapi import FakeAPI
from tests.xapi import MENTIONS, body, ok, tweet, x_runtime


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in CREDENTIAL_LOGGERS}
    yield
    root.handlers[:], root.level = handlers, level
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)


@pytest.mark.usefixtures("restored_logging")
def test_debug_logging_keeps_the_x_bearer_token_out(
    make_runtime: RuntimeFactory, api: FakeAPI, capsys: pytest.CaptureFixture[str]
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(5)])))
    rt = x_runtime(make_runtime, api)
    setup_logging("DEBUG", json_lines=True)
    poll_source(rt, "mentions")
    logged = capsys.readouterr().err
    assert "source=mentions fetched=1" in logged  # our own lines still come through
    assert "bearer-secret" not in logged
    assert "Authorization" not in logged


@pytest.mark.usefixtures("restored_logging")
def test_a_quieter_level_still_applies_to_the_http_clients() -> None:
    setup_logging("WARNING")
    assert not logging.getLogger("prawcore").isEnabledFor(logging.INFO)
    assert logging.getLogger("tweepy").isEnabledFor(logging.WARNING)


@pytest.mark.usefixtures("restored_logging")
def test_a_library_that_sets_its_own_logger_to_debug_stays_at_the_configured_level(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # bm25s (the knowledge-base matcher) sets its logger to DEBUG when it is imported,
    # which the daemon does after logging is set up: its index-building line showed at INFO.
    setup_logging("INFO")
    chatty = logging.getLogger("bm25s")
    old = chatty.level
    chatty.setLevel(logging.DEBUG)
    try:
        chatty.debug("Building index from tokens")
        chatty.info("an info line still shows")
    finally:
        chatty.setLevel(old)
    logged = capsys.readouterr().err
    assert "Building index" not in logged
    assert "an info line still shows" in logged
