"""Request bodies are read only from people we know, and never beyond a size limit:
Starlette holds a whole form or body in memory, and the login form is open to all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from starlette.types import Message

from monitor.runtime import Runtime
from monitor.web.api import MAX_BODY
from monitor.web.app import create_app
from monitor.web.security import MAX_REQUEST_BODY
from tests.conftest import RuntimeFactory
from tests.webkit import api_client, client_for, seeded

FORM = (b"content-type", b"application/x-www-form-urlencoded")


def _unread_post(rt: Runtime, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """POST ``path`` straight to the ASGI app with a body that fails the test if read."""
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError(f"the body of a stranger's POST {path} was read")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-length", b"5000"), FORM, *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(create_app(rt)(scope, receive, send))
    status: int = sent[0]["status"]
    return status


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/cases/C-1001/resolve", [], 303),  # to the login form
        ("/cases/C-1001/reply", [(b"cookie", b"inchannel_session=forged")], 303),
        ("/cases/C-1001/check", [], 401),
        ("/api/cases/C-1001/resolve", [], 401),
        ("/api/cases/C-1001/note", [(b"authorization", b"Bearer inch_forged")], 401),
        ("/api/check-reply", [], 401),
    ],
)
def test_a_strangers_body_is_never_read(
    make_runtime: RuntimeFactory, path: str, headers: list[tuple[bytes, bytes]], status: int
) -> None:
    assert _unread_post(seeded(make_runtime), path, headers) == status


def test_a_declared_body_over_the_limit_is_refused_unread(make_runtime: RuntimeFactory) -> None:
    client = TestClient(create_app(seeded(make_runtime)))
    answer = client.post("/login", content=b"x" * (MAX_REQUEST_BODY + 1))
    assert answer.status_code == 413
    assert answer.text == "The request body is over the limit of 131,072 bytes."
    bogus = client.post("/login", content=b"name=a", headers={"content-length": "-1"})
    assert bogus.status_code in (400, 413)  # h11 or our limit, never a read


def test_a_chunked_body_is_cut_off_at_the_limit(make_runtime: RuntimeFactory) -> None:
    client, _ = client_for(seeded(make_runtime), "alice")

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_REQUEST_BODY // 4096 + 2):
            yield b"a" * 4096

    form = {"content-type": "application/x-www-form-urlencoded"}
    answer = client.post("/cases/C-1001/reply", content=chunks(), headers=form)
    assert answer.status_code == 413
    assert "over the limit" in answer.text


def test_the_largest_reply_still_fits(make_runtime: RuntimeFactory) -> None:
    """10,000 four-byte characters, URL-encoded (12 bytes each): under the limit."""
    client, csrf = client_for(seeded(make_runtime), "alice")
    text = "\U0001f600" * 10_000
    checked = client.post("/cases/C-1001/check", content=text, headers={"x-csrf-token": csrf})
    assert checked.status_code == 200
    assert checked.json()["length"] == 20_000
    answer = client.post("/cases/C-1001/reply", data={"csrf_token": csrf, "text": text})
    assert answer.status_code == 400  # read, and refused for X's limit, not for its size
    assert "20000 characters: x allows 280" in answer.text


def test_an_api_body_over_its_limit_says_so(make_runtime: RuntimeFactory) -> None:
    rt = seeded(make_runtime)
    api = api_client(rt, "alice")
    padded = '{"text": "' + "a" * MAX_BODY + '"}'
    answer = api.post("/api/cases/C-1001/note", content=padded)
    assert answer.status_code == 413
    assert answer.json() == {"error": "the body is over the limit of 64,000 bytes"}


def test_an_api_body_over_the_request_limit_gets_a_json_error(
    make_runtime: RuntimeFactory,
) -> None:
    # The body limit before any route answered in plain text, also under /api/, where
    # every error is {"error": ...} (docs/dashboard.md) and a script parses it as JSON.
    api = api_client(seeded(make_runtime), "alice")
    answer = api.post("/api/cases/C-1001/note", content=b"a" * (MAX_REQUEST_BODY + 1))
    assert answer.status_code == 413
    assert answer.json() == {"error": f"the body is over the limit of {MAX_REQUEST_BODY:,} bytes"}
    page = api.post("/login", content=b"a" * (MAX_REQUEST_BODY + 1))
    assert page.status_code == 413
    assert page.text == f"The request body is over the limit of {MAX_REQUEST_BODY:,} bytes."
