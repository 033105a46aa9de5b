"""`inchannel backfill` stopped by SIGTERM or SIGHUP (`timeout`, systemd-run, a closed SSH
session) as by Ctrl-C: what X served, and billed, is imported, and the error says how to
go on. Run as a real process against the FakeAPI, signalled while a page is on its way."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import func, select

from monitor.cli import main
from monitor.store.db import make_engine, upgrade
from monitor.store.models import Message
from tests.conftest import REPO, mention, write_jsonl
from tests.fakeapi import FakeAPI, Reply
from tests.test_backfill_x import timeline
from tests.xapi import MENTIONS, body, ok, reply_to, tweet, x_section

# Page 1 reaches back to 08:59 - 99 min; the --until that goes on from its oldest post.
GO_ON = (
    "error: interrupted while fetching; what was fetched before was imported; the window "
    "was read back to 2026-11-20 07:20:00 UTC: to go on from there, rerun with --until "
    "2026-11-20T07:20:01"
)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def x_config(tmp_path: Path, api: FakeAPI) -> Path:
    url = f"sqlite:///{tmp_path / 'backfill.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    config = {
        "brand": {"name": "Acme", "accounts": {"x": ["acme"]}},
        "database": {"url": url},
        "sources": [{"name": "mentions", "type": "x_mentions"}],
        "responders": {"x": {"type": "recording", "path": None}},
        "x": x_section(api),
        "rules": {"path": str(REPO / "config" / "rules")},
        "teams": [{"name": n} for n in ("care", "billing", "tech", "international")],
    }
    path = tmp_path / "inchannel.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def stored(config: Path) -> int:
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["database"]["url"]
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Message)) or 0)
    finally:
        engine.dispose()


def second_page_held(api: FakeAPI) -> tuple[threading.Event, threading.Event]:
    """Page 1 answered; the request for page 2 is held until the gate opens."""
    pages = timeline(200)
    arrived, gate = threading.Event(), threading.Event()
    api.add("GET", MENTIONS, ok(body(pages[0], next_token="page1")))
    held = ok(body(pages[1]))
    api.add(
        "GET",
        MENTIONS,
        Reply(held.status, held.headers, held.body, arrived=arrived, gate=gate),
        query={"pagination_token": "page1"},
    )
    return arrived, gate


def hangups_by_default() -> None:
    """A backfill started as from a terminal: a test run under `nohup` (or a CI runner
    that ignores SIGHUP) passed the ignored SIGHUP on, the backfill rightly left it
    ignored, and the signal tests waited for the read's timeout instead."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def start_backfill(
    config: Path, preexec: Callable[[], None] = hangups_by_default
) -> subprocess.Popen[str]:
    args = ["backfill", "mentions", "--since", "2026-11-15", "--config", str(config)]
    return subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec,
    )


def ignoring_hangups() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_while_fetching_imports_what_was_fetched_and_says_how_to_go_on(
    tmp_path: Path, api: FakeAPI, sig: signal.Signals
) -> None:
    # The process died on the spot: page 1, read and billed, was thrown away, and
    # nothing said where to go on, so the rerun read and billed it again.
    arrived, gate = second_page_held(api)
    config = x_config(tmp_path, api)
    process = start_backfill(config)
    try:
        assert arrived.wait(timeout=60), "the backfill never asked for page 2"
        process.send_signal(sig)
        out, err = process.communicate(timeout=60)
    finally:
        gate.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, err  # as for Ctrl-C (docs/operations.md)
    assert err.strip().splitlines()[-1] == GO_ON
    assert "fetched: 100\ningested: 100\n" in out
    assert stored(config) == 100


def test_a_signal_while_fetching_keeps_the_parents_held_back(tmp_path: Path, api: FakeAPI) -> None:
    # A parent inside the window waits until the listing reads past it; SIGTERM while
    # the next page was on its way dropped it, and its follow-up lost its thread.
    parent = tweet(4, "@acme my order is late", created_at="2026-11-20T08:00:00.000Z")
    follow_up = tweet(5, "@acme still nothing", **reply_to(4))
    arrived, gate = threading.Event(), threading.Event()
    api.add("GET", MENTIONS, ok(body([follow_up], included=[parent], next_token="page1")))
    held = ok(body([]))
    api.add(
        "GET",
        MENTIONS,
        Reply(held.status, held.headers, held.body, arrived=arrived, gate=gate),
        query={"pagination_token": "page1"},
    )
    config = x_config(tmp_path, api)
    process = start_backfill(config)
    try:
        assert arrived.wait(timeout=60), "the backfill never asked for page 2"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    finally:
        gate.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1, err
    assert "interrupted while fetching" in err
    assert stored(config) == 2


def test_a_hangup_the_backfill_was_started_to_ignore_stays_ignored(
    tmp_path: Path, api: FakeAPI
) -> None:
    # `nohup inchannel backfill ... &` is how a long run outlives the SSH session.
    arrived, gate = second_page_held(api)
    config = x_config(tmp_path, api)
    process = start_backfill(config, ignoring_hangups)
    try:
        assert arrived.wait(timeout=60), "the backfill never asked for page 2"
        process.send_signal(signal.SIGHUP)
        gate.set()
        out, err = process.communicate(timeout=60)
    finally:
        gate.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "fetched: 200\ningested: 200\n" in out


def test_the_signal_handlers_are_given_back(tmp_path: Path) -> None:
    feed = write_jsonl(tmp_path / "feed.jsonl", [mention(1, created_at="2026-11-19T08:00:00Z")])
    config = {
        "brand": {"name": "Acme", "accounts": {"x": ["acme"]}},
        "database": {"url": f"sqlite:///{tmp_path / 'feed.db'}"},
        "sources": [{"name": "feed", "type": "replay", "path": str(feed)}],
        "responders": {"x": {"type": "recording", "path": None}},
        "rules": {"path": str(REPO / "config" / "rules")},
        "teams": [{"name": n} for n in ("care", "billing", "tech", "international")],
    }
    path = tmp_path / "inchannel.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(path)]).exit_code == 0
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP)}
    args = ["backfill", "feed", "--since", "2026-11-01", "--config", str(path)]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert {sig: signal.getsignal(sig) for sig in before} == before
