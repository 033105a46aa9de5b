"""``/metrics`` for Prometheus on the dashboard.

Scrapers cannot sign in, so the endpoint has its own rule: with ``web.metrics_token``
set, a request must carry ``Authorization: Bearer <token>``; without one, only clients
on the loopback interface that name the dashboard as a local scraper does are answered
(an IP address, localhost, or the configured host: see _named_as_local). Behind a reverse
proxy the client address is the one uvicorn reads from X-Forwarded-For (proxy_headers),
so a proxy that does not send it would look local: set a token there.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address
from urllib.parse import urlsplit

from prometheus_client import generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.runtime import Runtime

# The classic text format generate_latest writes, which every Prometheus version reads.
TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8"


def refusal(rt: Runtime, request: Request) -> Response | None:
    """None when the request may read the metrics, else the answer to send."""
    token = rt.settings.web.metrics_token
    if token is not None:
        scheme, _, sent = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(sent.strip().encode(), expected):
            return None
        headers = {"www-authenticate": 'Bearer realm="metrics"'}
        return PlainTextResponse("metrics: bearer token required\n", 401, headers=headers)
    if _loopback(request.client.host if request.client else ""):
        if _named_as_local(rt, request):
            return None
        return PlainTextResponse(
            "metrics: a local client must address the dashboard by IP address, localhost "
            "or web.public_url's host; set web.metrics_token for other names\n",
            403,
        )
    return PlainTextResponse(
        "metrics: only local clients may read /metrics; set web.metrics_token for remote "
        "scrapers\n",
        403,
    )


def _named_as_local(rt: Runtime, request: Request) -> bool:
    """Whether the Host header names the dashboard as a scraper on its host does. A web
    page in the operator's browser can reach the loopback interface under its own name
    re-pointed at 127.0.0.1 (DNS rebinding): judged by the client address alone, any
    site the operator opened read /metrics. No rebinding can turn an IP address or
    localhost into the attacker's name."""
    host = (request.url.hostname or "").lower()
    named = {"localhost", *(_hostname(url) for url in _configured(rt))}
    return host in named or _ip_literal(host)


def _configured(rt: Runtime) -> tuple[str, str]:
    web = rt.settings.web
    return web.public_url, f"http://{web.host}"


def _hostname(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:  # brackets that do not close: no name to match
        return ""


def _ip_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def _loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def routes(rt: Runtime) -> list[BaseRoute]:
    registry = rt.metrics.watch(rt)

    async def metrics(request: Request) -> Response:
        refused = refusal(rt, request)
        if refused is not None:
            return refused
        # The state gauges query the database: off the event loop.
        body = await run_in_threadpool(generate_latest, registry)
        return Response(body, media_type=TEXT_FORMAT)

    return [Route("/metrics", metrics)]
