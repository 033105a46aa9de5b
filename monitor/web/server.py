"""Serve the dashboard with uvicorn."""

from __future__ import annotations

import logging
import os
import socket

import click
import uvicorn
from starlette.types import ASGIApp

from monitor.metrics import cannot_bind_reason
from monitor.runtime import Runtime
from monitor.web.app import create_app
from monitor.web.users import ensure_demo_user, list_users

log = logging.getLogger("inchannel.web")


def announce_demo_user(rt: Runtime) -> None:
    """`make run` on a fresh demo database: create user demo and show its password once.

    A later start names the address and the user again, without a password: the first
    start's terminal is often gone by then (the demo stopped with Ctrl-C and started
    again), and a sign-in page with no word of the user to sign in as left new users
    stuck. Not once an operator has disabled ``demo``.
    """
    if not rt.settings.is_demo:
        return
    url = rt.settings.web.public_url
    password = ensure_demo_user(rt)
    if password is not None:
        # Printed, never logged: log files are kept and shipped; a terminal is not.
        click.echo(
            f"\n  dashboard: {url}/  user: demo  password: {password}\n"
            "  (shown once; `inchannel users passwd demo` sets a new one)\n",
            err=True,
        )
    elif any(
        # Locked out counts: `users passwd` lifts a lockout.
        user.name == "demo" and (can or until is not None)
        for user, can, until in list_users(rt)
    ):
        click.echo(
            f"\n  dashboard: {url}/  user: demo\n"
            "  (its password was shown at the first start; "
            "`inchannel users passwd demo` sets a new one)\n",
            err=True,
        )


class CannotListen(Exception):
    """The dashboard's address is taken or not ours to bind."""


def listen(host: str, port: int) -> socket.socket:
    """The dashboard's socket, bound before anything else starts: uvicorn binds in its
    own thread, and a taken port left the daemon running without a dashboard after the
    demo had printed a sign-in line for an address another program held."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        # `make run` with another program on 8000: the bare errno gave no word of the
        # setting that moves the dashboard elsewhere.
        taken = "another program has this port: set web.port in the config to another"
        reason = cannot_bind_reason(exc, when_taken=taken)
        raise CannotListen(f"the dashboard cannot listen on {host}:{port}: {reason}") from exc


def serve(rt: Runtime, *, sock: socket.socket, reload_rules: bool = True) -> None:
    """Serve on ``sock`` (from ``listen``). ``reload_rules`` False: the daemon in this
    process reloads ``rt``'s rules."""
    web = rt.settings.web
    announce_demo_user(rt)
    log.info("dashboard on http://%s:%d/", web.host, web.port)
    config = uvicorn_config(rt, create_app(rt, reload_rules=reload_rules))
    # In a worker thread uvicorn leaves signal handling to the daemon's main thread.
    uvicorn.Server(config).run(sockets=[sock])


def uvicorn_config(rt: Runtime, app: ASGIApp) -> uvicorn.Config:
    """How uvicorn serves ``app``: forwarded headers believed from ``web.trusted_proxies``
    only. uvicorn's own default believed them from any local client, proxy or not."""
    web = rt.settings.web
    if os.environ.get("FORWARDED_ALLOW_IPS") is not None:
        log.warning("FORWARDED_ALLOW_IPS is not read: list the proxies in web.trusted_proxies")
    return uvicorn.Config(
        app,
        host=web.host,
        port=web.port,
        log_config=None,
        proxy_headers=bool(web.trusted_proxies),
        forwarded_allow_ips=list(web.trusted_proxies),
    )
