"""Who is asking, and may they: session cookies, CSRF tokens, API tokens, headers.

Mention text is written by strangers, so every page also carries a Content-Security-
Policy that allows only our own script and stylesheet: even markup that slipped past
escaping could not run.
"""

from __future__ import annotations

import hmac
import os
import re
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from monitor.domain import ascii_digits
from monitor.hostnames import named_as_local
from monitor.runtime import Runtime
from monitor.web.sessions import session_user
from monitor.web.users import User, user_by_token

SESSION_COOKIE = "inchannel_session"
LOGIN_COOKIE = "inchannel_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    # Pages, exports and API answers carry customers' messages and notes: neither a
    # shared browser (Back after signing out) nor a proxy may keep a copy. Only a
    # response that sets its own Cache-Control (StaticAssets) is stored.
    "cache-control": "no-store",
}
HSTS = "max-age=31536000"  # a year, as browsers' preload lists expect


class StaticAssets(StaticFiles):
    """Our script, stylesheet and icons: the same for everyone, so a cache may keep them,
    but asks again each time (a 304 by ETag) so an upgrade's new script is not served
    stale: their names carry no version."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["cache-control"] = "no-cache"
        return response


def security_headers(*, https: bool) -> dict[str, str]:
    """The headers every answer carries; HSTS only for a dashboard whose public address
    is https (see SecurityHeaders)."""
    return {**HEADERS, **({"strict-transport-security": HSTS} if https else {})}


class SecurityHeaders:
    """Adds the headers above to every response, including errors and static files (a
    header the response already has is kept)."""

    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        # A dashboard whose public address is https: a browser that once typed http://
        # would otherwise send the sign-in form and the session cookie in the clear
        # before the proxy's redirect. No includeSubDomains: the brand's other hosts
        # are not ours to decide for.
        self.headers = security_headers(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# The largest body any form or API call needs: a 10,000-character reply as UTF-8 form
# data, with room to spare.
MAX_REQUEST_BODY = 128 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuses a request body over ``MAX_REQUEST_BODY`` with 413.

    Starlette's form and body readers hold the whole body in memory, and the login form
    must be read before anyone is known: without a limit one request could fill it.
    A declared Content-Length is judged before reading; a chunked body as it arrives.
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_REQUEST_BODY) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "0")
        if not ascii_digits(declared) or int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received, started = 0, False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise _TooLarge
            return message

        async def noted(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, noted)
        except _TooLarge:
            if not started:  # else the connection simply ends
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response: Response
        if under_api(scope):  # the API's errors are JSON, as its own 413 is
            text = f"the body is over the limit of {self.limit:,} bytes"
            response = JSONResponse({"error": text}, status_code=413)
        else:
            text = f"The request body is over the limit of {self.limit:,} bytes."
            response = PlainTextResponse(text, status_code=413)
        await response(scope, receive, send)


def under_api(scope: Scope) -> bool:
    """A request to the JSON API, whose every answer is JSON."""
    path: str = scope.get("path", "")
    return path == "/api" or path.startswith("/api/")


@dataclass(frozen=True, slots=True)
class Signed:
    user: User
    csrf: str


def signed_in(rt: Runtime, request: Request) -> Signed | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    found = session_user(rt, token[:200])
    return Signed(*found) if found else None


def api_user(rt: Runtime, request: Request) -> User | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return user_by_token(rt, token.strip()[:200])


def csrf_ok(expected: str, submitted: str | None) -> bool:
    # Compared as bytes: compare_digest raises TypeError on a str with non-ASCII
    # characters, and a forged token, nonce cookie or header may hold any.
    return bool(submitted) and hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), str(submitted).encode("utf-8", "surrogatepass")
    )


def same_origin(rt: Runtime, request: Request) -> bool:
    """A second line behind the CSRF token: a browser's Origin must be this site, as the
    request names it or as ``web.public_url`` does. Behind a reverse proxy the request
    often names the upstream (nginx sends Host: 127.0.0.1:8000 by default) while the
    browser is on the public address."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == public_origin(rt.settings.web.public_url):
        return True
    # The request's own name counts only when DNS rebinding cannot have made it: a page
    # under its own name re-pointed at 127.0.0.1 sends an Origin equal to its Host.
    here = f"{request.url.scheme}://{request.url.netloc}"
    return origin == here and named_as_dashboard(rt, request)


def named_as_dashboard(rt: Runtime, request: Request) -> bool:
    """Whether the Host header names the dashboard by an IP address, localhost, or the
    host of web.public_url or web.host (monitor.hostnames)."""
    web = rt.settings.web
    return named_as_local(request.url.hostname or "", (web.public_url, f"http://{web.host}"))


def public_origin(url: str) -> str:
    """The Origin a browser sends from ``url``: scheme and host, no default port ("" for
    a URL without a valid one, which no Origin header equals)."""
    parts = urlsplit(url.strip())
    try:
        number = parts.port
    except ValueError:  # a port that is no number or out of range
        return ""
    host = _ascii_host((parts.hostname or "").lower())
    if not host:
        return ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    scheme = parts.scheme.lower()
    port = "" if number in (None, {"http": 80, "https": 443}.get(scheme)) else f":{number}"
    return f"{scheme}://{host}{port}"


def _ascii_host(host: str) -> str:
    """The host as a browser writes it in Origin: an internationalised name in punycode
    (bücher.example is xn--bcher-kva.example); "" for one that has no such form."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # an empty or over-long label
        return ""


def public_https(rt: Runtime) -> bool:
    """Whether the dashboard's public address is https (behind a TLS proxy, say)."""
    return rt.settings.web.public_url.startswith("https:")


def secure_cookies(rt: Runtime, request: Request) -> bool:
    return request.url.scheme == "https" or public_https(rt)


def set_cookie(rt: Runtime, request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(rt, request),
        path="/",
    )


def delete_cookie(rt: Runtime, request: Request, response: Response, name: str) -> None:
    """Expire a cookie set_cookie set, with the same attributes: a browser may ignore a
    deletion that differs (one without Secure cannot replace a Secure cookie)."""
    response.delete_cookie(
        name,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(rt, request),
        path="/",
    )


# What new_login_nonce makes: 24 random bytes as URL-safe base64.
LOGIN_NONCE = re.compile(r"[A-Za-z0-9_-]{32}")


def login_nonce(request: Request) -> str:
    """The sign-in form's nonce: the one this browser holds already, else a new one. A
    new one for every showing expired the form of any other tab (a browser restoring
    its tabs, a second link followed): only the form loaded last could sign in."""
    kept = request.cookies.get(LOGIN_COOKIE, "")
    return kept if LOGIN_NONCE.fullmatch(kept) else new_login_nonce()


def new_login_nonce() -> str:
    return secrets.token_urlsafe(24)
