"""The dashboard application: pages, the JSON API, static files, security headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from monitor.rules.reload import ReloadOnUse
from monitor.runtime import Runtime
from monitor.web import account, api, metrics, pages
from monitor.web.base import Web
from monitor.web.security import (
    BodyLimit,
    SecurityHeaders,
    StaticAssets,
    public_https,
    security_headers,
    under_api,
)
from monitor.web.users import PASSWORD_WORK, PasswordWork

STATIC = Path(__file__).parent / "static"


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method): under /api/ in the
    documented {"error": ...} shape, which a script parses as JSON; plain text elsewhere
    as before."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and (slashless := _without_trailing_slash(request)):
        return RedirectResponse(slashless, status_code=307)
    if not under_api(request.scope):
        return PlainTextResponse(exc.detail, exc.status_code, headers=exc.headers)
    if exc.status_code == 404:
        text = "no such API endpoint (the list is at /api/openapi.json)"
    elif exc.status_code == 405:
        # Starlette lists the methods from a set: sorted, the message is the same each time.
        allowed = sorted(m.strip() for m in (exc.headers or {}).get("Allow", "").split(","))
        text = f"method {request.method[:20]} is not allowed here (allowed: {', '.join(allowed)})"
    else:
        text = exc.detail
    return JSONResponse({"error": text}, exc.status_code, headers=exc.headers)


def _without_trailing_slash(request: Request) -> str | None:
    """The address of a route that /reports/ or /cases/C-1042/ means, as a path only.
    Starlette's own redirect named the host of the request's Host header: behind a proxy
    that sends its upstream address (nginx's default, Host: 127.0.0.1:8000) people were
    sent to https://127.0.0.1:8000/reports, where nothing answers."""
    if "route" in request.scope:  # a route's own 404 (no such case, no such file)
        return None
    path = str(request.scope["path"]).rstrip("/")
    if not path or path == request.scope["path"]:
        return None
    scope = {**request.scope, "path": path}
    if all(route.matches(scope)[0] is Match.NONE for route in request.app.router.routes):
        return None
    query = request.scope.get("query_string", b"").decode("latin-1")
    return path + (f"?{query}" if query else "")


def server_error(*, https: bool) -> Callable[[Request, Exception], Awaitable[Response]]:
    """The answer to an unexpected exception (a database outage, say), which Starlette
    sends outside every middleware: with the security headers, and under /api/ as JSON.
    The exception itself goes to the log, never to the browser."""
    headers = security_headers(https=https)

    async def handler(request: Request, exc: Exception) -> Response:
        if under_api(request.scope):
            text = "internal error: see the dashboard's log"
            return JSONResponse({"error": text}, 500, headers=headers)
        return PlainTextResponse("Internal Server Error", 500, headers=headers)

    return handler


class ReloadRules:
    """Before each request, pick up changed rule and answer files (``ReloadOnUse``)."""

    def __init__(self, app: ASGIApp, *, reload: ReloadOnUse) -> None:
        self.app, self.reload = app, reload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await run_in_threadpool(self.reload.check)  # reads files: off the event loop
        await self.app(scope, receive, send)


def create_app(
    rt: Runtime,
    *,
    refresh_seconds: int = 10,
    reload_rules: bool = True,
    password_work: PasswordWork = PASSWORD_WORK,
) -> Starlette:
    """The dashboard; the queue asks for new cases every ``refresh_seconds``.

    ``reload_rules``: follow edits of the rule and answer files; False where the
    daemon's own reload job does it for the same runtime (``inchannel run``).
    ``password_work``: the limit on password checks at once, the process's own unless
    given."""
    web = Web(rt, refresh_seconds=refresh_seconds, password_work=password_work)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Mount("/static", StaticAssets(directory=STATIC), name="static"),
        *account.routes(web),
        *api.routes(web),
        *metrics.routes(rt),
        *pages.routes(web),
    ]
    https = public_https(rt)
    middleware = [Middleware(SecurityHeaders, https=https), Middleware(BodyLimit)]
    if reload_rules:
        middleware.append(Middleware(ReloadRules, reload=ReloadOnUse(rt)))
    app = Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: server_error(https=https)},
    )
    app.router.redirect_slashes = False  # http_error redirects, to a path (see there)
    return app
