"""The fake API server replays cassettes through the real clients' transport (requests)."""

from __future__ import annotations

import requests

from tests.conftest import SHARED
from tests.fakeapi import FakeAPI, Reply

CASSETTES = SHARED / "fixtures" / "real-api"


def test_serves_vcr_cassette_decompressed() -> None:
    with FakeAPI() as api:
        api.load_cassette(CASSETTES / "twitter" / "test_client_get_users_mentions.yaml")
        response = requests.get(api.base_url + "/2/users/783214/mentions", timeout=5)
        assert response.status_code == 200
        assert len(response.json()["data"]) == 10
        assert response.headers["x-rate-limit-limit"] == "450"


def test_serves_betamax_cassette_in_order() -> None:
    with FakeAPI() as api:
        api.load_cassette(
            CASSETTES / "reddit" / "TestSession.test_request__service_unavailable.json"
        )
        codes = [requests.get(api.base_url + "/", timeout=5).status_code for _ in range(4)]
        assert codes == [503, 503, 503, 503]


def test_scripted_routes_override_and_log_requests() -> None:
    with FakeAPI() as api:
        api.add("POST", "/x", Reply.json({"n": 1}), Reply.json({"n": 2}, status=429))
        first = requests.post(api.base_url + "/x?a=1", data=b"k=v", timeout=5)
        second = requests.post(api.base_url + "/x", timeout=5)
        third = requests.get(api.base_url + "/nothing", timeout=5)
        assert (first.json(), second.status_code, third.status_code) == ({"n": 1}, 429, 599)
        assert api.seen("POST", "/x")[0].form() == {"k": ["v"]}
        assert api.seen("POST", "/x")[0].query == {"a": ["1"]}
