"""The X API v2 boundary: the only module that imports tweepy.

Every call goes through the unmodified ``tweepy.Client`` with ``return_type`` set to
``requests.Response``, so the rate-limit headers of every answer are visible. tweepy's
exceptions (and the raw requests timeouts it lets through) become one ``XApiError``
with a ``kind`` the source and the responder map onto their own error types.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import tweepy
from urllib3.exceptions import MaxRetryError, NewConnectionError

from monitor.sources.crashes import response_crashed_on
from monitor.sources.x_http import RateLimit, mount_redirect, rate_limit_from
from monitor.sources.x_settings import XSettings

log = logging.getLogger("inchannel.x")

TWEET_FIELDS = [
    "author_id",
    "created_at",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "lang",
    "reply_settings",
    # A post over 280 characters has only its first part, cut, in ``text``; the whole
    # text comes in note_tweet.text, and only when asked for.
    "note_tweet",
    # An edit is a new post with a new id; the ids of its earlier versions (X sends them
    # by default, asked for so that they are sure to come).
    "edit_history_tweet_ids",
    # The ids of the accounts a post mentions: X takes a reply only to a post naming the
    # account that posts it, which its handle in the text cannot tell apart from another
    # brand account's. X bills a read per post, not per field.
    "entities",
]
# created_at: the account's, for rules on author.account_age (free in the same request).
USER_FIELDS = ["username", "name", "verified", "public_metrics", "created_at"]
# The replied-to and quoted posts come back in includes.tweets: depth-1 thread context
# without another request.
EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"]
FIELDS: dict[str, Any] = {
    "tweet_fields": TWEET_FIELDS,
    "user_fields": USER_FIELDS,
    "expansions": EXPANSIONS,
}


@dataclass(frozen=True, slots=True)
class Page:
    """One decoded answer. Payload items stay dicts here: they are parsed, and
    malformed ones rejected one by one, in x_parse."""

    tweets: list[Any]
    users: dict[str, dict[str, Any]]
    included: dict[str, dict[str, Any]]
    errors: list[Any]
    meta: dict[str, Any]
    rate: RateLimit

    @property
    def next_token(self) -> str | None:
        token = self.meta.get("next_token")
        return token if isinstance(token, str) and token else None


class XApiError(Exception):
    """A failed call. ``kind``: rate_limited, auth, forbidden, not_found, bad_request,
    server, transport, payload, redirect (a 3xx) or http. ``problem`` is the last part of
    X's problem ``type`` (e.g. usage-capped), when the answer named one. ``reached``:
    False when the request surely never got to X (no connection was made), so it did
    nothing."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        status: int | None = None,
        rate: RateLimit | None = None,
        problem: str = "",
        reached: bool = True,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.rate = rate or RateLimit(None, None, None)
        self.problem = problem
        self.reached = reached


def _until(until_id: str | None) -> dict[str, str]:
    # Sent only when set: the live poll's requests stay exactly what they were.
    return {} if until_id is None else {"until_id": until_id}


@dataclass
class XApi:
    client: Any  # tweepy.Client; typed loosely because tweepy ships no type hints
    user_auth: bool = True  # False: the client's bearer is an OAuth 2 user token
    # True: no app bearer token, so reads are signed with OAuth 1.0a like posts. A brand
    # that only answers on X needs none, and the responder still searches the thread
    # before a retry: tweepy would send "Bearer None" and get a 401.
    reads_as_user: bool = False
    calls: int = field(default=0)

    def mentions(
        self,
        user_id: str,
        *,
        since_id: str | None,
        token: str | None,
        max_results: int,
        until_id: str | None = None,
    ) -> Page:
        return self._page(
            self.client.get_users_mentions,
            user_id,
            since_id=since_id,
            pagination_token=token,
            max_results=max_results,
            **_until(until_id),
            **FIELDS,
        )

    def search(
        self,
        query: str,
        *,
        since_id: str | None,
        token: str | None,
        max_results: int,
        until_id: str | None = None,
    ) -> Page:
        return self._page(
            self.client.search_recent_tweets,
            query,
            since_id=since_id,
            next_token=token,
            max_results=max_results,
            **_until(until_id),
            **FIELDS,
        )

    def tweets(self, ids: list[str]) -> Page:
        return self._page(self.client.get_tweets, ids, **FIELDS)

    def create_reply(self, text: str, in_reply_to: str) -> tuple[str, RateLimit]:
        response = self._call(
            self.client.create_tweet,
            text=text,
            in_reply_to_tweet_id=in_reply_to,
            user_auth=self.user_auth,
        )
        body = _json(response)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise XApiError("payload", "create_tweet answered without data.id")
        return data["id"], rate_limit_from(response.headers)

    def me(self) -> Any:
        """The decoded answer of GET /2/users/me, as the posting credentials see it:
        the account they act as. Parsed (hostile input) by the caller."""
        return _json(self._call(self.client.get_me, user_auth=self.user_auth))

    def _page(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Page:
        response = self._call(method, *args, user_auth=self.reads_as_user, **kwargs)
        body = _json(response)
        if not isinstance(body, dict):
            raise XApiError("payload", "expected a JSON object")
        raw_includes = body.get("includes")
        includes: dict[str, Any] = raw_includes if isinstance(raw_includes, dict) else {}
        return Page(
            tweets=_list(body.get("data")),
            users=_by_id(_list(includes.get("users"))),
            included=_by_id(_list(includes.get("tweets"))),
            errors=_list(body.get("errors")),
            meta=body["meta"] if isinstance(body.get("meta"), dict) else {},
            rate=rate_limit_from(response.headers),
        )

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> requests.Response:
        self.calls += 1
        try:
            response = method(*args, **kwargs)
        except tweepy.HTTPException as exc:
            raise _http_error(exc) from None
        except requests.TooManyRedirects as exc:
            raise _redirect_error(exc.response) from None
        except requests.RequestException as exc:
            raise _transport_error(exc) from None
        # RecursionError: JSON nested deeper than Python's reader goes, read by tweepy.
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            crashed = _crashed(exc)
            if crashed is None:
                raise
            raise crashed from exc
        assert isinstance(response, requests.Response)
        return response


def make_api(settings: XSettings, *, posting: bool = False) -> XApi:
    """A tweepy.Client pointed at ``api_base_url`` with a timeout; never waits on 429.

    For posting with an OAuth 2 user token, that token is the client's bearer and
    create_tweet runs without OAuth 1.0a signing."""
    user_token = settings.oauth2_user_token.get_secret_value()
    if posting and user_token:
        client = tweepy.Client(
            bearer_token=user_token, return_type=requests.Response, wait_on_rate_limit=False
        )
        mount_redirect(client.session, settings.api_base_url, settings.timeout_seconds)
        return XApi(client, user_auth=False)
    client = tweepy.Client(
        bearer_token=settings.bearer_token.get_secret_value() or None,
        consumer_key=settings.consumer_key.get_secret_value() or None,
        consumer_secret=settings.consumer_secret.get_secret_value() or None,
        access_token=settings.access_token.get_secret_value() or None,
        access_token_secret=settings.access_token_secret.get_secret_value() or None,
        return_type=requests.Response,
        wait_on_rate_limit=False,
    )
    mount_redirect(client.session, settings.api_base_url, settings.timeout_seconds)
    return XApi(client, reads_as_user=not settings.bearer_token.get_secret_value())


def _http_error(exc: Any) -> XApiError:
    response: requests.Response | None = getattr(exc, "response", None)
    status = response.status_code if response is not None else None
    rate = rate_limit_from(response.headers if response is not None else None)
    body = _body(response)
    detail = _problem_text(exc, body)
    if isinstance(exc, tweepy.TooManyRequests):
        kind = "rate_limited"
    elif isinstance(exc, tweepy.Unauthorized):
        kind = "auth"
    elif isinstance(exc, tweepy.Forbidden):
        kind = "forbidden"
    elif isinstance(exc, tweepy.NotFound):
        kind = "not_found"
    elif isinstance(exc, tweepy.BadRequest):
        kind = "bad_request"
    elif isinstance(exc, tweepy.TwitterServerError):
        kind = "server"
    elif status is not None and 300 <= status < 400:
        return _redirect_error(response)  # a 3xx without a Location requests could follow
    else:
        kind = "http"
    problem = body.get("type") if isinstance(body, dict) else None
    return XApiError(
        kind,
        f"HTTP {status}: {detail}",
        status=status,
        rate=rate,
        problem=problem.rsplit("/", 1)[-1][:64] if isinstance(problem, str) else "",
    )


def _redirect_error(response: requests.Response | None) -> XApiError:
    """A 3xx, with where it pointed: that names the wrong host or proxy."""
    status = response.status_code if response is not None else None
    location = response.headers.get("location") if response is not None else None
    where = f"redirected to {_redirect_target(location)}" if location else "no Location"
    return XApiError("redirect", f"HTTP {status}: {where}", status=status)


_SCHEME = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.-]*:)?(?://)?")


def _redirect_target(location: str) -> str:
    """Where a Location points, as scheme://host/path, cut short. A proxy's may carry a
    password (user:password@) or a token in its query or fragment, and the error goes
    where none may show: stored, shown by `status`, sent in alerts, logged."""
    before_query = re.split(r"[?#]", location, maxsplit=1)[0]
    scheme = _SCHEME.match(before_query)
    prefix = scheme.group(0) if scheme else ""
    # Through the last "@" is the userinfo: a password may hold an "@" or a "/" itself.
    host_and_path = before_query[len(prefix) :].rpartition("@")[2]
    # A bare "?…" or "#…" resolves against the request's own path.
    return (prefix + host_and_path)[:200] or "the same path"


def _transport_error(exc: requests.RequestException) -> XApiError:
    name = type(exc).__name__
    if _never_connected(exc):
        return XApiError("transport", f"could not connect to X: {name}", reached=False)
    if isinstance(exc, requests.Timeout):
        return XApiError("transport", f"timed out: {name}")
    return XApiError("transport", f"connection failed: {name}")


def _never_connected(exc: requests.RequestException) -> bool:
    """No connection was made (refused, the host not found, a connect timeout), so no
    request was sent. A read timeout or a dropped connection may come after X acted."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if type(exc) is not requests.ConnectionError:  # not an SSLError or ProxyError
        return False
    cause = exc.args[0] if exc.args else None
    return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)


def _crashed(exc: Exception) -> XApiError | None:
    """tweepy failing on an error answer while it builds its exception for it: a body not
    of the shape it reads (a list, ``errors: null``) or an ``x-rate-limit-reset`` that is
    no number. Garbled, as a proxy or an outage page answers: retried later. A 429 is
    still a rate limit, with no reset known. Anything else is a bug: it goes on."""
    response = response_crashed_on(exc, "tweepy")
    if response is None:
        return None
    status = response.status_code
    kind = "rate_limited" if status == 429 else "payload"
    text = f"HTTP {status}: unreadable answer ({type(exc).__name__})"
    return XApiError(kind, text, status=status, rate=rate_limit_from(response.headers))


def _body(response: requests.Response | None) -> Any:
    try:
        return response.json() if response is not None else None
    except (ValueError, RecursionError):  # as deep as tweepy choked on: no detail
        return None


def _problem_text(exc: Any, body: Any) -> str:
    """The API's own words: errors[].message, detail, and the problem ``reason``
    (e.g. client-not-enrolled), cut short; the body never carries our secrets."""
    parts = [str(m) for m in getattr(exc, "api_messages", []) or []]
    if isinstance(body, dict):
        for key in ("reason", "title", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value not in parts:
                parts.append(value)
    return "; ".join(parts)[:500] or "no detail"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # too deeply nested to read is no better
        raise XApiError("payload", "the answer is not valid JSON") from None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _by_id(items: list[Any]) -> dict[str, dict[str, Any]]:
    return {str(item["id"]): item for item in items if isinstance(item, dict) and item.get("id")}
