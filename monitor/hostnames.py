"""Whether a request names this host as a local client does: against DNS rebinding.

A web page open in a browser on the host can reach the loopback interface under its own
name re-pointed at 127.0.0.1 (DNS rebinding): judged by the client address alone, any
site the operator opened could read what answers only local clients. No rebinding can
turn an IP address or localhost into the attacker's name, so a loopback client must
name the listener by one of those or by a host the config gives it.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address
from urllib.parse import urlsplit


def named_as_local(host: str, configured: Iterable[str]) -> bool:
    """Whether ``host`` (a request's host name, without port) is an IP address,
    localhost, or the host of one of the ``configured`` URLs."""
    host = host.lower()
    named = {"localhost", *(hostname(url) for url in configured)}
    return host in named or ip_literal(host)


def host_header_name(header: str) -> str:
    """The host name of a Host header ("name:port", "[::1]:port"), lower-case; "" when
    it names none."""
    return hostname(f"//{header.strip()}")


def hostname(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:  # brackets that do not close: no name to match
        return ""


def ip_literal(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def loopback(address: str) -> bool:
    try:
        return ip_address(address).is_loopback
    except ValueError:
        return False
