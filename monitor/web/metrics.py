"""``/metrics`` for Prometheus on the dashboard.

Scrapers cannot sign in, so the endpoint has its own rule: with ``web.metrics_token``
set, a request must carry ``Authorization: Bearer <token>``; without one, only clients
on the loopback interface are answered (a scraper on the same host). Behind a reverse
proxy the client address is the one uvicorn reads from X-Forwarded-For (proxy_headers),
so a proxy that does not send it would look local: set a token there.
"""

from __future__ import annotations

import hmac
from ipaddress import ip_address

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
        return None
    return PlainTextResponse(
        "metrics: only local clients may read /metrics; set web.metrics_token for remote "
        "scrapers\n",
        403,
    )


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
