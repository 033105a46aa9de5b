"""The dashboard application: pages, the JSON API, static files, security headers."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from monitor.runtime import Runtime
from monitor.web import account, api, metrics, pages
from monitor.web.base import Web
from monitor.web.security import BodyLimit, SecurityHeaders, StaticAssets

STATIC = Path(__file__).parent / "static"


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def create_app(rt: Runtime, *, refresh_seconds: int = 10) -> Starlette:
    """The dashboard; the queue asks for new cases every ``refresh_seconds``."""
    web = Web(rt, refresh_seconds=refresh_seconds)
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Mount("/static", StaticAssets(directory=STATIC), name="static"),
        *account.routes(web),
        *api.routes(web),
        *metrics.routes(rt),
        *pages.routes(web),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders), Middleware(BodyLimit)])
