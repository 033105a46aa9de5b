"""Logging set-up: one line per event, as key=value text or as JSON lines."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# HTTP clients that log credentials at DEBUG: tweepy its request headers (the bearer
# token, the OAuth 2 user token), prawcore the token request's body (the refresh token),
# oauthlib and requests-oauthlib the OAuth 1.0a signature and keys, urllib3 (under
# requests, under apprise) each request line, whose path and query are a webhook's secret.
# They stay at INFO whatever logging.level says: a debugging session must not put
# secrets in the logs.
CREDENTIAL_LOGGERS = ("tweepy", "prawcore", "praw", "oauthlib", "requests_oauthlib", "urllib3")


_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://\S+")
# requests' connection errors name the request's path and query without a scheme
# ("Max retries exceeded with url: /services/T0/B0/<secret>"); apprise logs them at DEBUG.
_REQUEST_PATH = re.compile(r"(?i)(\burl: )\S+")
# A plugin names the value it refuses in brackets, at WARNING: "An invalid Slack (third)
# Token (<token>) was specified.", "The ... (<value>) is invalid.". That value is most
# often a webhook's secret with one character wrong: from the first bracket to the
# last is hidden (a refused value may hold brackets of its own).
_REFUSAL = re.compile(r"(?i)\b(?:invalid|specified|provided|unsupported)\b")
_BRACKETED = re.compile(r"\(.*\)", re.S)


def _redacted(text: str) -> str:
    redacted = _REQUEST_PATH.sub(r"\1<url>", _URL.sub("<url>", text))
    if _REFUSAL.search(redacted):
        redacted = _BRACKETED.sub("(<hidden>)", redacted)
    return redacted


class _RedactUrls(logging.Filter):
    """apprise logs a channel's URL when it cannot parse or reach it, and a webhook URL
    carries its secret in the path: the URL becomes ``<url>``, the rest of the line stays;
    so does a token its plugins quote when they refuse it.

    On the handlers (``setup_logging``) as well as on apprise's logger: a logger's filters
    never see the records of its children (apprise's XMPP plugin logs to "apprise.xmpp"),
    while every record that is printed passes a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name != "apprise" and not record.name.startswith("apprise."):
            return True
        message = record.getMessage()
        redacted = _redacted(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info:
            # The traceback becomes text here, to be cleaned: with exc_info gone no
            # formatter can print the exception afresh.
            record.exc_text = record.exc_text or _TRACEBACK.formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            # A line at a time: a bracket opened on one line is not closed on another.
            lines = record.exc_text.split("\n")
            record.exc_text = "\n".join(_redacted(line) for line in lines)
        return True


_TRACEBACK = logging.Formatter()


def redact_apprise_urls() -> None:
    """Install the filter on apprise's logger once; called before apprise is first used,
    which may be before ``setup_logging`` puts it on the handlers."""
    apprise_log = logging.getLogger("apprise")
    if not any(isinstance(f, _RedactUrls) for f in apprise_log.filters):
        apprise_log.addFilter(_RedactUrls())


# A log line's message and traceback are cut to these many characters: a line may carry
# platform text (an error's details), and a post can be 40,000 characters.
MESSAGE_CHARS = 8_000
EXCEPTION_CHARS = 20_000

# Left raw by json.dumps(ensure_ascii=False): U+2028, U+2029 and NEL end a line for
# splitlines() and many log viewers, C1 controls drive a terminal (U+009B starts an
# escape sequence), bidi controls reorder what follows. Written as JSON escapes instead.
_UNSAFE_IN_JSON = re.compile("[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, non-ASCII kept readable but nothing a viewer acts on."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _bounded(record.getMessage(), MESSAGE_CHARS),
        }
        trace = _traceback(self, record)
        if trace is not None:
            out["exception"] = _bounded(trace, EXCEPTION_CHARS)
        line = json.dumps(out, ensure_ascii=False)
        return _UNSAFE_IN_JSON.sub(lambda found: f"\\u{ord(found.group()):04x}", line)


# What a plain line must not carry raw: C0 controls and DEL (a newline or CR starts a
# forged line, ESC drives the terminal), C1 controls, the Unicode line and paragraph
# separators, and bidi controls. Written as a visible escape; other text stays as it is.
_UNSAFE_IN_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(text: str) -> str:
    def escape(found: re.Match[str]) -> str:
        ch = found.group()
        code = ord(ch)
        return _SHORT_ESCAPES.get(ch) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")

    return _UNSAFE_IN_TEXT.sub(escape, text)


class PlainFormatter(logging.Formatter):
    """``time level logger message`` on one line, whatever text the message quotes (a
    mention, an API's error body). A traceback follows on lines indented by two spaces:
    no line of it can read as a record of its own."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # UTC, marked "Z", as the JSON lines are: local time without its zone read hours
        # apart from them and from the database's times, and repeated an hour in autumn.
        # Whole seconds: rounded to the microsecond, x.9999996 would read a second late.
        at = datetime.fromtimestamp(int(record.created), UTC)
        return f"{at:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        message = _escaped(_bounded(record.getMessage(), MESSAGE_CHARS))
        line = f"{self.formatTime(record)} {record.levelname} {record.name} {message}"
        extra = []
        trace = _traceback(self, record)
        if trace is not None:
            extra.append(_bounded(trace, EXCEPTION_CHARS))
        if record.stack_info:
            extra.append(_bounded(self.formatStack(record.stack_info), EXCEPTION_CHARS))
        # Split on "\n" alone: any other line break inside is escaped like the message.
        tail = [f"  {_escaped(part)}" for text in extra for part in text.split("\n")]
        return "\n".join([line, *tail])


def _traceback(formatter: logging.Formatter, record: logging.LogRecord) -> str | None:
    """The record's traceback: as text when a filter made it so (``_RedactUrls``)."""
    if record.exc_info:
        return formatter.formatException(record.exc_info)
    return record.exc_text or None


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to sys.stderr as it is at each line: the backfill's progress bar swaps it
    while it runs so that log lines print above the bar (tests swap it too)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass  # StreamHandler.__init__ sets it


class _BacklogAtDebug(logging.Filter):
    """A run that outlasts its interval (a backlog, a slow platform) makes APScheduler
    skip the next start, which is what max_instances=1 is for; it said so at WARNING
    every interval of the run. That line becomes DEBUG; other scheduler warnings stay."""

    _SKIPPED = 'Execution of job "%s" skipped: maximum number of running instances reached'

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith(self._SKIPPED):
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def setup_logging(level: str | int = "INFO", *, json_lines: bool = False) -> None:
    handler = _Stderr()
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(PlainFormatter())
    # The level holds on the handler too: a library that sets its own logger to DEBUG
    # (bm25s does, at import, after this runs) must not print below logging.level.
    handler.setLevel(level)
    handler.addFilter(_RedactUrls())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A library's warning (praw's on a praw.ini that sends the credentials to another
    # host, SQLAlchemy's) went through Python's own printer to stderr: raw, unescaped and
    # on two lines, breaking json_lines. Logged instead, at WARNING as "py.warnings".
    logging.captureWarnings(True)
    # The scheduler logs every job start at INFO; our own step lines say more.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler_log = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _BacklogAtDebug) for f in scheduler_log.filters):
        scheduler_log.addFilter(_BacklogAtDebug())
    redact_apprise_urls()
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in CREDENTIAL_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, root.level))
