"""``/metrics`` for Prometheus on the dashboard.

Scrapers cannot sign in, so the endpoint has its own rule: with ``web.metrics_token``
set, a request must carry ``Authorization: Bearer <token>``; without one, only clients
on the loopback interface that name the dashboard as a local scraper does are answered
(an IP address, localhost, or the configured host: see security.named_as_dashboard).
Behind a reverse proxy the client address is the one uvicorn reads from X-Forwarded-For
(from the proxies in web.trusted_proxies), so a proxy that does not send it would look
local: set a token there.
"""

from __future__ import annotations

import hmac

from prometheus_client import generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from monitor.hostnames import loopback
from monitor.runtime import Runtime
from monitor.web.security import named_as_dashboard

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
    # A request a proxy forwarded is no local scraper's, though a proxy on this host not
    # listed in web.trusted_proxies makes it come from the loopback interface.
    forwarded = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if loopback(request.client.host if request.client else "") and not forwarded:
        if named_as_dashboard(rt, request):
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
