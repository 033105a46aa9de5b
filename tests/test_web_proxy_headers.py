"""Which client address and scheme the dashboard believes, as uvicorn serves it: the
forwarded headers count only from the proxies ``web.trusted_proxies`` names."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.testclient import TestClient

from monitor.runtime import Runtime
from monitor.web.app import create_app
from monitor.web.server import uvicorn_config
from tests.conftest import RuntimeFactory
from tests.webkit import NONCE, PASSWORD, seeded

LOCAL = ("127.0.0.1", 50000)


def served(rt: Runtime, client: tuple[str, int] = LOCAL) -> TestClient:
    """The dashboard wrapped as uvicorn serves it, asked from ``client``."""
    config = uvicorn_config(rt, create_app(rt, reload_rules=False))
    config.load()
    return TestClient(config.loaded_app, client=client)


def sign_in(client: TestClient, password: str, forwarded_for: str | None = None) -> int:
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    nonce = NONCE.search(client.get("/login").text)
    assert nonce is not None
    form = {"name": "alice", "password": password, "nonce": nonce[1]}
    return client.post("/login", data=form, headers=headers, follow_redirects=False).status_code


def test_a_local_client_cannot_dodge_the_lockout_with_forged_forwarded_for(
    make_runtime: RuntimeFactory,
) -> None:
    # uvicorn believed X-Forwarded-For from any client on 127.0.0.1, with no proxy in
    # front: a new forged address per guess was a new address to the lockout.
    client = served(seeded(make_runtime))
    for n in range(5):
        assert sign_in(client, "guess", forwarded_for=f"203.0.113.{n}") == 401
    assert sign_in(client, PASSWORD, forwarded_for="203.0.113.99") == 401
    assert sign_in(client, PASSWORD) == 401  # 127.0.0.1 is locked out of alice


def test_a_configured_proxy_is_believed(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime, web={"trusted_proxies": ["127.0.0.1"]})
    client = served(rt)
    for _ in range(5):
        assert sign_in(client, "guess", forwarded_for="203.0.113.7") == 401
    # The guesser's address is locked out of alice; she, behind the same proxy, is not.
    assert sign_in(client, PASSWORD, forwarded_for="203.0.113.7") == 401
    assert sign_in(client, PASSWORD, forwarded_for="198.51.100.4") == 303


def test_metrics_refuse_a_request_a_proxy_forwarded_when_no_proxy_is_trusted(
    make_runtime: RuntimeFactory,
) -> None:
    # A proxy on this host left out of web.trusted_proxies makes every visitor look
    # local: the token-less /metrics, meant for a scraper on this host, was theirs too.
    client = served(seeded(make_runtime))
    local = {"host": "localhost"}
    assert client.get("/metrics", headers=local).status_code == 200
    for forwarded in ({"x-forwarded-for": "203.0.113.7"}, {"forwarded": "for=203.0.113.7"}):
        assert client.get("/metrics", headers={**local, **forwarded}).status_code == 403


def test_a_trusted_proxy_must_be_an_address_or_a_network(make_runtime: RuntimeFactory) -> None:
    # uvicorn takes a name it cannot read as an address for plain text: "localhost"
    # would have matched no client, and the proxy silently not been believed.
    with pytest.raises(ValidationError, match="'localhost' is no IP address or network"):
        make_runtime(web={"trusted_proxies": ["localhost"]})
    rt = make_runtime(web={"trusted_proxies": [" 10.0.0.0/8", "::1"]})
    assert rt.settings.web.trusted_proxies == ["10.0.0.0/8", "::1"]


def test_a_network_written_with_its_proxy_address_is_believed(
    make_runtime: RuntimeFactory,
) -> None:
    # "127.0.0.1/8" passed check-config, but uvicorn reads a network with host bits
    # set as plain text: no client matched it, and no forwarded header was believed.
    rt = seeded(make_runtime, web={"trusted_proxies": ["127.0.0.1/8"]})
    client = served(rt)
    for _ in range(5):
        assert sign_in(client, "guess", forwarded_for="203.0.113.7") == 401
    assert sign_in(client, PASSWORD, forwarded_for="198.51.100.4") == 303
