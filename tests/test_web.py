"""The placeholder dashboard: hostile mention text renders as text, under a strict CSP."""

from __future__ import annotations

from starlette.testclient import TestClient

from monitor.pipeline import run_cycle
from monitor.web.app import create_app
from tests.conftest import RuntimeFactory, mention

HOSTILE = '@acme <script>alert(1)</script> "><img src=x onerror=alert(2)> javascript:alert(3)'


def test_queue_and_case_pages_escape_mention_text(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, HOSTILE, author="<b>evil</b>")])
    run_cycle(rt)
    client = TestClient(create_app(rt))
    queue = client.get("/")
    assert queue.status_code == 200
    assert "default-src 'none'" in queue.headers["content-security-policy"]
    assert "<script>alert(1)" not in queue.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in queue.text
    assert "<img src=x" not in queue.text
    case = client.get("/cases/C-1001")
    assert case.status_code == 200
    assert "&lt;b&gt;evil&lt;/b&gt;" in case.text
    assert "<script>" not in case.text


def test_unknown_case_is_404(make_runtime: RuntimeFactory) -> None:
    client = TestClient(create_app(make_runtime()))
    assert client.get("/cases/C-9999").status_code == 404
    assert client.get("/cases/<script>").status_code == 404
    assert client.get("/healthz").json() == {"status": "ok"}
