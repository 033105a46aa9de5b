"""Logging set-up: debug output from the HTTP clients never carries credentials."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from apscheduler.events import EVENT_JOB_MAX_INSTANCES
from apscheduler.schedulers.background import BackgroundScheduler
from click.testing import CliRunner
from sqlalchemy import text

from monitor.cli import main
from monitor.commands.loading import config_or_exit
from monitor.database_settings import Database
from monitor.logs import (
    CREDENTIAL_LOGGERS,
    MESSAGE_CHARS,
    JsonFormatter,
    PlainFormatter,
    setup_logging,
)
from monitor.pipeline import poll_source
from monitor.store.db import ECHO_LOGGER, engine_for
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
    logging.captureWarnings(False)
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


@pytest.mark.usefixtures("restored_logging")
def test_json_lines_stay_one_inert_line_whatever_the_text(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Platform text reaches log lines (error details, skipped items): U+2028, U+2029 and
    # NEL end a line for splitlines() and many log viewers; C1 and bidi controls drive a
    # terminal reading `journalctl`.
    setup_logging("INFO", json_lines=True)
    hostile = "a\u2028b\u2029c\x85d\x9b2Je\u202eevil\nf"
    try:
        raise ValueError(hostile)
    except ValueError:
        logging.getLogger("inchannel.test").exception("got %s", hostile)
    logged = capsys.readouterr().err
    lines = logged.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["message"] == f"got {hostile}"
    assert record["exception"].endswith(f"ValueError: {hostile}")
    assert not any(ch in logged for ch in "\u2028\u2029\x85\x9b\u202e")


@pytest.mark.usefixtures("restored_logging")
def test_a_json_line_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", json_lines=True)
    logging.getLogger("inchannel.test").warning("text=%s", "x" * 100_000)
    record = json.loads(capsys.readouterr().err)
    assert len(record["message"]) <= MESSAGE_CHARS
    assert record["message"].endswith("…")


@pytest.mark.usefixtures("restored_logging")
def test_plain_lines_cannot_be_forged_by_the_text_they_quote(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A mention or an API error body with a newline wrote a second line that read as a
    # record of its own; a CR or an ANSI sequence rewrote what a terminal showed.
    setup_logging("INFO")
    forged = "oops\n2026-01-01 00:00:00,000 INFO inchannel.dispatch sent ok\r\x1b[2Kx\u2028y"
    logging.getLogger("inchannel.test").warning("error=%s", forged)
    logged = capsys.readouterr().err
    assert logged.count("\n") == 1
    assert len(logged.splitlines()) == 1
    assert not any(ch in logged for ch in "\r\x1b\u2028")
    escaped = "oops\\n2026-01-01 00:00:00,000 INFO inchannel.dispatch sent ok\\r\\x1b[2Kx"
    assert f"error={escaped}\\u2028y" in logged


@pytest.mark.usefixtures("restored_logging")
def test_plain_lines_keep_ordinary_unicode(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO")
    text = "Łódź café 😡 東京 مرحبا"
    logging.getLogger("inchannel.test").info("text=%s", text)
    assert capsys.readouterr().err.rstrip("\n").endswith(f"INFO inchannel.test text={text}")


@pytest.mark.usefixtures("restored_logging")
def test_a_plain_traceback_cannot_start_a_line_that_reads_as_a_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("INFO")
    try:
        raise ValueError("bad\n2026-01-01 00:00:00,000 INFO inchannel.x forged\x1b[31m")
    except ValueError:
        logging.getLogger("inchannel.test").exception("poll crashed")
    first, *rest = capsys.readouterr().err.rstrip("\n").split("\n")
    assert first.endswith("ERROR inchannel.test poll crashed")
    assert rest
    assert all(line.startswith("  ") for line in rest)
    assert any("Traceback (most recent call last):" in line for line in rest)
    # The message's own line break stays one (a traceback is read as lines), indented.
    forged = "  2026-01-01 00:00:00,000 INFO inchannel.x forged\\x1b[31m"
    assert rest[-2:] == ["  ValueError: bad", forged]


@pytest.mark.usefixtures("restored_logging")
def test_a_plain_line_is_bounded(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO")
    logging.getLogger("inchannel.test").warning("text=%s", "x" * 100_000)
    logged = capsys.readouterr().err
    assert len(logged) < MESSAGE_CHARS + 100
    assert logged.rstrip("\n").endswith("…")


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("json_lines", [False, True])
def test_every_command_logs_warnings_in_the_configured_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    # Only `run` and `serve` set logging up: `backfill`, `status`, `cases` and the rest
    # logged through Python's bare fallback, ignoring `logging.json_lines` and printing
    # an escape sequence a warning quoted raw. Their INFO chatter stays out of the way
    # of what they print.
    config = tmp_path / "inchannel.yaml"
    settings = {"brand": {"name": "Acme"}, "logging": {"level": "INFO", "json_lines": json_lines}}
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    config_or_exit(config)
    logging.getLogger("monitor.test").info("chatter")
    logging.getLogger("monitor.test").warning("a warning \x1b[2J quoting a post")
    (line,) = capsys.readouterr().err.splitlines()
    assert "\x1b" not in line
    if json_lines:
        assert json.loads(line)["level"] == "warning"
    else:
        assert " WARNING monitor.test a warning \\x1b[2J quoting a post" in line


@pytest.mark.usefixtures("restored_logging")
def test_log_lines_follow_stderr_when_it_is_swapped(capsys: pytest.CaptureFixture[str]) -> None:
    # The backfill progress bar (rich) redirects stderr while it runs so that log lines
    # print above the bar; a handler holding the stderr of its set-up wrote through it.
    setup_logging("INFO")
    swapped = io.StringIO()
    with contextlib.redirect_stderr(swapped):
        logging.getLogger("monitor.test").warning("while the bar shows")
    assert "while the bar shows" in swapped.getvalue()
    assert "while the bar shows" not in capsys.readouterr().err


def test_a_malformed_webhook_url_does_not_log_its_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # One wrong character in the Slack webhook's third token (its secret): apprise
    # refuses it with "An invalid Slack (third) Token (<the secret>) was specified." at
    # WARNING, which neither URL pattern saw; the config check, run before logging is
    # set up, printed it through Python's last-resort handler.
    secret = "TIiajkdnl+azkcOXrIdevi7F"
    config = tmp_path / "inchannel.yaml"
    settings = {
        "brand": {"name": "Acme"},
        "channels": {"ops": {"url": f"slack://T1JJ3T3L2/A1BRTD4JD/{secret}"}},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    with caplog.at_level(logging.WARNING), pytest.raises(SystemExit):
        config_or_exit(config)
    assert "channels.ops.url: apprise cannot send to this URL" in capsys.readouterr().err
    assert "An invalid Slack" in caplog.text  # what was wrong still shows
    assert "azkcOXrIdevi7F" not in caplog.text


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("json_lines", [False, True])
def test_an_apprise_child_logger_does_not_log_a_channel_secret(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    # apprise's XMPP plugin logs to "apprise.xmpp": a record of a child logger passes
    # its parents' handlers but not their filters, so the redaction on "apprise" never
    # saw it.
    setup_logging("DEBUG", json_lines=json_lines)
    url = "xmpp://care:hunter2-secret@chat.example.com"
    logging.getLogger("apprise.xmpp").warning("XMPP connect failed: %s", url)
    logged = capsys.readouterr().err
    assert "XMPP connect failed: <url>" in logged
    assert "hunter2" not in logged


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("json_lines", [False, True])
def test_a_traceback_on_an_apprise_record_does_not_carry_a_webhook_secret(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    # The redaction cleaned the message alone: an exception attached to the record
    # was printed as it was, and requests' errors name the webhook's path.
    setup_logging("DEBUG", json_lines=json_lines)
    error = ConnectionError("Max retries exceeded with url: /services/T0/B0/s3cretT0ken")
    try:
        raise error
    except ConnectionError:
        logging.getLogger("apprise").exception("send to https://hooks.slack.com/x failed")
    logged = capsys.readouterr().err
    assert "s3cretT0ken" not in logged
    assert "hooks.slack.com" not in logged
    assert "Max retries exceeded with url: <url>" in logged  # the traceback still shows
    assert "Traceback (most recent call last):" in logged


@pytest.fixture
def local_time_not_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local zone away from UTC, as on a server set to its office's time."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("local_time_not_utc")
def test_a_plain_line_is_stamped_in_utc_and_says_so() -> None:
    # Plain lines carried local time with no zone, JSON lines UTC: the same event read
    # hours apart in the two formats, and an hour repeated at the autumn clock change.
    record = logging.LogRecord("inchannel.test", logging.INFO, __file__, 1, "hello", (), None)
    record.created, record.msecs = 1_767_225_600.25, 250.0  # 2026-01-01 00:00:00.25 UTC
    line = PlainFormatter().format(record)
    assert line == "2026-01-01 00:00:00,250Z INFO inchannel.test hello"
    at = json.loads(JsonFormatter().format(record))["at"]
    assert at.startswith("2026-01-01T00:00:00.25")


@pytest.mark.usefixtures("restored_logging")
def test_a_job_still_running_at_its_next_interval_is_not_a_warning_each_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A run that outlasts its interval (a backlog of mentions, a slow platform) makes the
    scheduler skip the next start, as it should (max_instances=1), and it logged
    `Execution of job ... skipped: maximum number of running instances reached` at
    WARNING every interval of the run: pages of noise over the warnings that matter.
    Other scheduler warnings still show."""
    setup_logging("INFO")
    scheduler = BackgroundScheduler(timezone="UTC")
    started, release, skipped = threading.Event(), threading.Event(), threading.Event()

    def slow_run() -> None:
        started.set()
        release.wait(30)

    scheduler.add_listener(lambda _: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    job = scheduler.add_job(
        slow_run, "interval", hours=1, max_instances=1, next_run_time=datetime.now(UTC)
    )
    scheduler.start()
    try:
        assert started.wait(10)
        job.modify(next_run_time=datetime.now(UTC))  # its next run falls due meanwhile
        assert skipped.wait(10)
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    logging.getLogger("apscheduler.scheduler").warning("another scheduler warning")
    logged = capsys.readouterr().err
    assert "maximum number of running instances reached" not in logged
    assert "another scheduler warning" in logged


@pytest.fixture
def sql_echo_restored() -> Iterator[None]:
    """SQLAlchemy keeps the handler it adds for ``echo=True`` on a process-wide logger."""
    loggers = [logging.getLogger(name) for name in ("sqlalchemy.engine.Engine", ECHO_LOGGER)]
    saved = [(each, each.handlers[:], each.level) for each in loggers]
    yield
    for each, handlers, level in saved:
        each.handlers[:] = handlers
        each.setLevel(level)


@pytest.mark.usefixtures("restored_logging", "sql_echo_restored")
def test_database_echo_logs_sql_in_the_configured_format_not_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `database.echo: true` made SQLAlchemy add a handler of its own on stdout: every
    # statement printed twice, once raw (local time, a statement's line breaks starting
    # lines of their own) whatever logging.json_lines and logging.level said, and in
    # the middle of what `status --json` and `cases list --json` print.
    setup_logging("INFO", json_lines=True)
    engine = engine_for(Database(url=f"sqlite:///{tmp_path}/echo.db", echo=True))
    with engine.connect() as connection:
        connection.execute(text("SELECT 1\nAS one"))
    engine.dispose()
    logged = capsys.readouterr()
    assert logged.out == ""
    records = [json.loads(line) for line in logged.err.splitlines()]
    assert "SELECT 1\nAS one" in [record["message"] for record in records]
    # logging.level holds for the statements too.
    setup_logging("WARNING")
    engine = engine_for(Database(url=f"sqlite:///{tmp_path}/echo.db", echo=True))
    with engine.connect() as connection:
        connection.execute(text("SELECT 2"))
    engine.dispose()
    assert capsys.readouterr() == ("", "")


@pytest.mark.usefixtures("restored_logging", "sql_echo_restored")
def test_status_json_stays_json_with_database_echo(tmp_path: Path) -> None:
    config = tmp_path / "inchannel.yaml"
    database = {"url": f"sqlite:///{tmp_path}/echo.db", "echo": True}
    config.write_text(yaml.safe_dump({"brand": {"name": "Acme"}, "database": database}))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade", "--config", str(config)]).exit_code == 0
    # Each command is a process of its own: nothing SQLAlchemy set up for the first stays.
    logging.getLogger("sqlalchemy.engine.Engine").handlers.clear()
    result = runner.invoke(main, ["status", "--json", "--config", str(config)])
    # Exit 1: no daemon has run on this database yet ("not started"), not a crash.
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    status = json.loads(result.stdout)
    assert status["outbox"] == {
        "draft": 0,
        "rejected": 0,
        "pending": 0,
        "sending": 0,
        "sent": 0,
        "failed": 0,
        "dead": 0,
        "suppressed": 0,
    }
    assert status["problems"] == [
        "not started: no source has been polled and no health check has run yet"
    ]


@pytest.mark.usefixtures("restored_logging")
@pytest.mark.parametrize("json_lines", [False, True])
def test_a_python_warning_is_logged_in_the_configured_format(
    capsys: pytest.CaptureFixture[str], json_lines: bool
) -> None:
    # A library's warning (praw's on a praw.ini in the working directory that sends the
    # credentials elsewhere, a SQLAlchemy warning) went to stderr through Python's own
    # printer: two lines (the message, then the source line), not JSON, not escaped.
    # An earlier test's command may have left the capture on, under pytest's own
    # restoring of warnings.showwarning after it: off, so that setup_logging starts it.
    logging.captureWarnings(False)
    setup_logging("INFO", json_lines=json_lines)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("endpoint overridden\x1b[2J", UserWarning, stacklevel=1)
    (line,) = capsys.readouterr().err.splitlines()
    assert "\x1b" not in line
    if json_lines:
        record = json.loads(line)
        assert record["level"] == "warning"
        assert record["logger"] == "py.warnings"
        assert "UserWarning: endpoint overridden" in record["message"]
    else:
        assert " WARNING py.warnings " in line
        assert "UserWarning: endpoint overridden\\x1b[2J" in line
