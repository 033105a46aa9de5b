"""Serve the dashboard with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from monitor.runtime import Runtime
from monitor.web.app import create_app

log = logging.getLogger("inchannel.web")


def serve(rt: Runtime) -> None:
    web = rt.settings.web
    log.info("dashboard on http://%s:%d/", web.host, web.port)
    config = uvicorn.Config(create_app(rt), host=web.host, port=web.port, log_config=None)
    # In a worker thread uvicorn leaves signal handling to the daemon's main thread.
    uvicorn.Server(config).run()
