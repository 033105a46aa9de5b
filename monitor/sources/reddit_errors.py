"""Every praw/prawcore (and requests) error becomes a RedditFailure here.

With reddit.py, the only module that imports praw/prawcore: the sources and the
responder see RedditFailure values, never praw's exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import praw.exceptions
import prawcore.exceptions as core
import requests

from monitor.sources.crashes import response_crashed_on
from monitor.sources.reddit_failure import FailureKind, RedditFailure

T = TypeVar("T")

# Reddit's sentence for an API error code, as kept in a reply's last error: a page of
# text from a proxy or a changed API would otherwise fill the dashboard.
EXPLANATION_CHARS = 200

# A RATELIMIT wait: "1 hour", "9 minutes", "500 milliseconds", or in two units ("4
# minutes and 30 seconds"), which are added up.
_WAIT = re.compile(r"(\d+)\s*(millisecond|second|minute|hour|day)", re.IGNORECASE)
_UNIT_SECONDS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}


class ReplyOutcomeUnknown(Exception):
    """A comment POST that Reddit may have carried out (a timeout, a 5xx answer).

    Raised by the transport, it is none of the errors prawcore retries, so the comment is
    not sent again blindly; the dispatcher looks in the thread before any retry.
    """


class RetryAfterNotSeconds(Exception):
    """A 429 whose Retry-After is not a number of seconds: an HTTP-date (RFC 9110 allows
    one) or something unreadable; ``retry_at`` is the date, if it was one.

    prawcore builds its TooManyRequests with float(Retry-After), so such an answer raised
    a ValueError that escaped translate() and lost Reddit's wait. Raised by the transport
    instead, prawcore wraps it in a RequestException it does not retry.
    """

    def __init__(self, retry_at: datetime | None) -> None:
        super().__init__("429 Too Many Requests")
        self.retry_at = retry_at


def header_number(raw: str | None, kind: Callable[[str], T]) -> T | None:
    if not raw:
        return None
    try:
        return kind(raw.split(".")[0] if kind is int else raw)
    except ValueError:
        return None


def translate(exc: Exception) -> RedditFailure:
    """Map a praw/prawcore (or requests) error to a RedditFailure."""
    if isinstance(exc, RedditFailure):
        return exc
    unread = _unread_bad_request(exc)
    if unread is not None:
        return unread
    if isinstance(exc, praw.exceptions.RedditAPIException):
        return _api_failure(exc)
    auth = _auth_failure(exc)
    if auth is not None:
        return auth
    if isinstance(exc, _NOT_THERE):
        status = exc.response.status_code
        return RedditFailure(FailureKind.UNAVAILABLE, _unavailable(exc), status=status)
    rate_limited = _rate_limited(exc)
    if rate_limited is not None:
        return rate_limited
    original = getattr(exc, "original_exception", None)
    if isinstance(original, ReplyOutcomeUnknown):
        message = f"did not confirm the reply ({original}): it may have been posted"
        return RedditFailure(FailureKind.TEMPORARY, message)
    if isinstance(exc, core.ResponseException) and _refused(exc.response.status_code):
        status = exc.response.status_code
        return RedditFailure(FailureKind.REFUSED, _status_text(exc.response), status=status)
    if isinstance(exc, core.ServerError | core.RequestException | core.ResponseException):
        return RedditFailure(FailureKind.TEMPORARY, _transport(exc))
    crashed = _prawcore_crash(exc)
    if crashed is not None:
        return crashed
    raise exc


# Banned or private (403), missing (404 or a redirect to search), or blocked in the
# country the daemon runs from (451: Reddit geo-blocks some subreddits).
_NOT_THERE = (core.Forbidden, core.NotFound, core.Redirect, core.UnavailableForLegalReasons)
# Client errors that are not about our credentials or the target's existence: Reddit
# refuses the request as we make it, and the same request gets the same answer. 408
# (prawcore retries it, as a 5xx) and 429 are the client errors a later try gets past.
_RETRYABLE_4XX = frozenset({408, 429})
# Said in full where prawcore names the class only; 413's name as RFC 9110 gives it.
_PHRASES = {
    400: "Bad Request",
    409: "Conflict",
    413: "Payload Too Large",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    451: "Unavailable For Legal Reasons",
}


def _prawcore_crash(exc: Exception) -> RedditFailure | None:
    """prawcore failing on an answer while it builds its own exception for it: a 415
    body that is not a JSON object, a 301/302 without a Location header, a token answer
    that is not JSON. Garbled, as a proxy or an outage page answers: retried later.

    Anything else is a bug: it goes on (see crashes.py)."""
    response = response_crashed_on(exc, "prawcore")
    if response is None:
        return None
    status = response.status_code
    text = f"{_status_phrase(status)}, unreadable ({type(exc).__name__})"
    # A 401 is about the token whatever else it says (a www-authenticate not understood).
    kind = FailureKind.AUTH if status == 401 else FailureKind.TEMPORARY
    return RedditFailure(kind, text, status=status)


def _rate_limited(exc: Exception) -> RedditFailure | None:
    """A 429: TooManyRequests, the plain ResponseException prawcore raises for one on the
    token request, or a Retry-After the transport found no number in."""
    original = getattr(exc, "original_exception", None)
    if isinstance(original, RetryAfterNotSeconds):
        return RedditFailure(FailureKind.RATE_LIMITED, str(original), retry_at=original.retry_at)
    if isinstance(exc, core.ResponseException) and exc.response.status_code == 429:
        wait = header_number(exc.response.headers.get("retry-after"), float)
        return RedditFailure(
            FailureKind.RATE_LIMITED, "429 Too Many Requests", retry_after_seconds=wait
        )
    return None


def _refused(status: int) -> bool:
    return 400 <= status < 500 and status not in _RETRYABLE_4XX


def _auth_failure(exc: Exception) -> RedditFailure | None:
    if isinstance(exc, core.OAuthException):
        # A 200 whose body is an OAuth error: the grant was refused, as for a 400 below.
        check = _check_settings(exc.response.request)
        return RedditFailure(FailureKind.AUTH, f"OAuthException: {exc}; check {check}")
    if isinstance(exc, core.InsufficientScope):
        return RedditFailure(FailureKind.AUTH, _scope_text(exc.response.request))
    if isinstance(exc, core.InvalidToken):
        return RedditFailure(FailureKind.AUTH, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, KeyError) and exc.args == (401,):
        # prawcore 4 raises a bare KeyError for a 401 without a www-authenticate header.
        return RedditFailure(FailureKind.AUTH, "401 Unauthorized (no www-authenticate header)")
    if _token_refused(exc):
        return RedditFailure(
            FailureKind.AUTH,
            "the token request was refused (401): check reddit.client_id and client_secret",
        )
    if isinstance(exc, core.ResponseException) and _login_refused(exc.response):
        return RedditFailure(
            FailureKind.AUTH, _login_refused_text(exc.response), status=exc.response.status_code
        )
    return None


def _login_refused(response: requests.Response) -> bool:
    """A 400 or 403 from the token endpoint: Reddit refused the grant (a revoked refresh
    token is ``invalid_grant``), which no retry and no other request gets past."""
    path = urlsplit(str(response.url)).path.rstrip("/")
    return response.status_code in (400, 403) and path.endswith(_LOGIN_PATH)


def _login_refused_text(response: requests.Response) -> str:
    code = _oauth_error(response)
    what = f"HTTP {response.status_code} {code}" if code else f"HTTP {response.status_code}"
    return f"the login was refused ({what}): check {_check_settings(response.request)}"


def _check_settings(request: Any) -> str:
    """The settings a refused grant points at: the app's, and the grant's own."""
    grant = _GRANT_SETTINGS.get(_grant_type(request) or "", "")
    return f"{grant}reddit.client_id and client_secret"


def _oauth_error(response: requests.Response) -> str | None:
    """The body's OAuth ``error`` code, if it is one: the body is Reddit's (or a proxy's)
    and goes into the status page, so anything but a short code is left out."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    return error if isinstance(error, str) and _OAUTH_CODE.fullmatch(error) else None


def _grant_type(request: Any) -> str | None:
    # Only the grant type is read from the form: it also carries the password.
    body = getattr(request, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str):
        return None
    return parse_qs(body).get("grant_type", [None])[0]


_LOGIN_PATH = "/api/v1/access_token"
_OAUTH_CODE = re.compile(r"[a-z_]{1,40}")
# What to check besides the app's id and secret, by the grant prawcore asked for.
_GRANT_SETTINGS = {
    "refresh_token": "reddit.refresh_token, or ",
    "password": "reddit.username and password, or ",
}


def _scope_text(request: Any) -> str:
    """Which request the token's scopes do not cover, and the scope Reddit asks for it:
    prawcore says only "received 403 HTTP response", and a token granted ``read`` alone
    stops every source at its first request for the account's name."""
    method = str(getattr(request, "method", "") or "")
    path = urlsplit(str(getattr(request, "url", "") or "")).path
    scope = next((name for pattern, name in _SCOPES if pattern.search(path)), None)
    if scope is None:
        return f"InsufficientScope: the token's scopes do not cover {method} {path}"
    return (
        f"InsufficientScope: {method} {path} needs the '{scope}' scope, "
        "which the token was not granted"
    )


# The OAuth scope of each request we make (reddit.com/dev/api); the rest need ``read``.
_SCOPES = (
    (re.compile(r"/api/v1/me/?$"), "identity"),
    (re.compile(r"/message/|/api/read_message/?$"), "privatemessages"),
    (re.compile(r"/api/comment/?$"), "submit"),
    (re.compile(r"/user/[^/]+/comments"), "history"),
    (re.compile(r"/api/info/?$|/r/|/comments/"), "read"),
)


def _token_refused(exc: Exception) -> bool:
    """A 401 from the token endpoint: Reddit does not know the app's id and secret.

    prawcore raises a plain ResponseException for it (a 401 on an API call becomes
    InvalidToken or the KeyError above), which would pass for some other refused request
    and not point at the credentials."""
    return isinstance(exc, core.ResponseException) and exc.response.status_code == 401


def _api_failure(exc: praw.exceptions.RedditAPIException) -> RedditFailure:
    codes = tuple(str(item.error_type) for item in exc.items)
    explanations = tuple(str(item.message or "")[:EXPLANATION_CHARS] for item in exc.items)
    message = "; ".join(f"{code}: {text}" for code, text in zip(codes, explanations, strict=True))
    if "RATELIMIT" in codes:
        # Read from the RATELIMIT item alone: another item's numbers are no wait.
        said = next(
            text for code, text in zip(codes, explanations, strict=True) if code == "RATELIMIT"
        )
        return RedditFailure(
            FailureKind.RATE_LIMITED, message, retry_after_seconds=_wait(said), codes=codes
        )
    return RedditFailure(FailureKind.REJECTED, message, codes=codes, explanations=explanations)


def _unread_bad_request(exc: Exception) -> RedditFailure | None:
    """A 400 praw could not read as Reddit's error, a refusal like any other 400.

    praw builds a RedditAPIException from a 400's body: one that is not JSON (a proxy's
    page) became its error "code", whole, in the reply's last error and the dashboard;
    a JSON body without ``reason`` raised a KeyError (raised while it handled the
    BadRequest), which passed for a crash and was retried until max_attempts."""
    if isinstance(exc, praw.exceptions.RedditAPIException):
        cause = exc.__cause__
        if all(_API_CODE.fullmatch(str(item.error_type)) for item in exc.items):
            return None  # Reddit's own codes, sent with a 400
    elif isinstance(exc, KeyError | AssertionError | AttributeError | TypeError):
        cause = exc.__context__
    else:
        return None
    if not isinstance(cause, core.BadRequest):
        return None
    response = cause.response
    return RedditFailure(FailureKind.REFUSED, _status_text(response), status=response.status_code)


# What Reddit's API error codes look like (THREAD_LOCKED, RATELIMIT).
_API_CODE = re.compile(r"[A-Za-z0-9_]{1,64}")


def _wait(message: str) -> float | None:
    # Every amount, not the first: "4 minutes and 30 seconds" read as 240 s sent the
    # retry before the wait was over, refused again.
    found = _WAIT.findall(message)
    if not found:
        return None
    return sum(int(amount) * _UNIT_SECONDS[unit.lower()] for amount, unit in found)


def _unavailable(exc: core.ResponseException) -> str:
    if isinstance(exc, core.Redirect):
        return "does not exist (redirected to search)"
    if exc.response.status_code in _PHRASES:
        return _status_text(exc.response)
    return f"{exc.response.status_code} {_reason(exc.response) or type(exc).__name__}"


def _status_text(response: requests.Response) -> str:
    """``409 Conflict``; Reddit's own reason in brackets where it gave one."""
    text = _status_phrase(response.status_code)
    reason = _reason(response)
    return f"{text} ({reason})" if reason else text


def _status_phrase(status: int) -> str:
    try:
        phrase = _PHRASES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        phrase = "HTTP error"
    return f"{status} {phrase}"


def _reason(response: requests.Response) -> str | None:
    try:
        reason = response.json().get("reason")
    except (ValueError, AttributeError):
        return None
    return str(reason)[:EXPLANATION_CHARS] if reason else None


def _transport(exc: Exception) -> str:
    original = getattr(exc, "original_exception", None)
    if original is not None:
        return f"{type(exc).__name__}: {type(original).__name__}"
    return f"{type(exc).__name__}: {exc}"
