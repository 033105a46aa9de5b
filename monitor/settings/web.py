"""The ``web:``, ``metrics:`` and ``logging:`` sections: how the running daemon is
reached and observed."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

from monitor.domain import ascii_digits
from monitor.rules.hours import parse_zone
from monitor.settings.base import Strict


def _listen_host(host: str) -> str:
    """An empty host is every interface to a socket: an empty ${VAR} put the dashboard
    (and, where the C library reads "" so, the unauthenticated metrics listener) on every
    network the machine is on, with nothing said."""
    if not host.strip():
        raise ValueError(
            "must not be empty or blank (is its environment variable empty?); to listen"
            " on every interface on purpose, write 0.0.0.0 (or ::)"
        )
    return host


ListenHost = Annotated[str, AfterValidator(_listen_host)]


def _proxy(written: str) -> str:
    """``written`` as uvicorn reads it. A network with host bits set ("10.0.0.5/24", the
    proxy's own address and mask) is given as its network: uvicorn reads networks
    strictly and took this one for plain text, so it trusted no proxy at all. Anything
    else it cannot read as an address (a typing error, a host name) it would compare as
    plain text too: refused."""
    written = written.strip()
    try:
        if "/" in written:
            return str(ipaddress.ip_network(written, strict=False))
        return str(ipaddress.ip_address(written))
    except ValueError:
        raise ValueError(
            f"{written!r} is no IP address or network (such as 127.0.0.1 or 10.0.0.0/8)"
        ) from None


class Web(Strict):
    enabled: bool = True
    host: ListenHost = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # How people reach the dashboard; used for links in notifications. Default: the
    # address the dashboard listens on (http://127.0.0.1:8000 with the defaults).
    public_url: str = "http://127.0.0.1:8000"
    # Bearer token a Prometheus scraper sends to /metrics; unset: loopback clients only.
    metrics_token: SecretStr | None = None
    # The IANA zone whose days the reports count (volume per day, the CSV, the API):
    # in UTC a New York team's evening was counted under the next day.
    report_timezone: str = "UTC"
    # The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (IP
    # addresses or networks). None by default: without a proxy in front, any local
    # program could name another client address in them and dodge the sign-in lockout.
    # Checked one by one: each bad entry is reported at its own line.
    trusted_proxies: list[Annotated[str, AfterValidator(_proxy)]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _public_url_from_address(cls, data: Any) -> Any:
        """Without ``public_url``, links (notifications, the demo's first-start line)
        point at ``host`` and ``port`` as configured, not at the default port."""
        if not isinstance(data, dict) or data.get("public_url") is not None:
            return data
        host, port = data.get("host", "127.0.0.1"), data.get("port", 8000)
        # A ValueError here would be reported for the whole web: section instead of the
        # field check's message for web.port.
        # pydantic reads web.port past white space ("9090\n" from an env file): read
        # otherwise, the links kept port 8000 while the dashboard listened on 9090.
        if isinstance(port, str) and ascii_digits(port.strip()):
            port = int(port)
        if not isinstance(host, str) or isinstance(port, bool) or not isinstance(port, int):
            return data  # the field checks report it
        if not 0 <= port <= 65535:
            # Built from it, the default public_url was refused too, before web.port's
            # own message, about a key the file does not have.
            return data
        return {**data, "public_url": local_url(host, port)}

    @field_validator("public_url")
    @classmethod
    def _browser_url(cls, url: str) -> str:
        """Notification links start with it and the dashboard's same-origin check
        compares browsers' Origin with it: "care.acme.com" made links no chat client
        opens, and an origin no browser sends."""
        # As accepted: HSTS, Secure cookies and notification links read it as written,
        # and "HTTPS://" or a value with the env file's trailing newline lost all three.
        url = url.strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 -- raises on a port that is no number or out of range
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "must be an http:// or https:// URL with a host, such as https://care.acme.com"
            )
        return parts.scheme.lower() + url[len(parts.scheme) :]

    @field_validator("report_timezone")
    @classmethod
    def _known_report_zone(cls, name: str) -> str:
        parse_zone(name)
        return name

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (e.g. `openssl rand -hex 16`)")
        return token


def local_url(host: str, port: int) -> str:
    """The dashboard's address as a browser on this machine reaches it."""
    # Every interface (0.0.0.0, ::): this machine's loopback is one of them.
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 -- a link, not a bind address
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{port}"


class MetricsConfig(Strict):
    """A plain /metrics listener for workers that run without the dashboard (no auth)."""

    port: int | None = Field(default=None, ge=1, le=65535)
    host: ListenHost = "127.0.0.1"


class Logging(Strict):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_lines: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        # `info` is how Python's own logging config and most daemons spell it.
        return value.strip().upper() if isinstance(value, str) else value
