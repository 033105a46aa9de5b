"""Helpers for the dashboard tests: a seeded runtime, users, and signed-in clients."""

from __future__ import annotations

import json
import re
from pathlib import Path

from starlette.testclient import TestClient

from monitor.domain import Platform
from monitor.pipeline import run_cycle
from monitor.runtime import Runtime
from monitor.web.app import create_app
from monitor.web.users import create_user, new_api_token
from responders.base import Responder
from tests.conftest import REPO, RuntimeFactory

SAMPLES = REPO / "config" / "samples" / "mentions.jsonl"
PASSWORD = "correct horse battery"
TEAMS = [
    {"name": "care", "first_response_minutes": 60},
    {"name": "billing", "first_response_minutes": 120},
    {"name": "tech", "first_response_minutes": 30},
    {"name": "international", "first_response_minutes": 240},
]
NONCE = re.compile(r'name="nonce" value="([^"]+)"')
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


def sample_rows(path: Path = SAMPLES) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def seeded(
    make_runtime: RuntimeFactory,
    rows: list[dict[str, object]] | None = None,
    responder: Responder | None = None,
    **overrides: object,
) -> Runtime:
    """A runtime whose database went through the real pipeline, with one user per role."""
    rt = make_runtime(sample_rows() if rows is None else rows, teams=TEAMS, **overrides)
    if responder is not None:
        rt.responders = dict.fromkeys(Platform, responder)
    run_cycle(rt)
    create_user(rt, "alice", "agent", PASSWORD, ("care",))
    create_user(rt, "bob", "agent", PASSWORD, ("billing",))
    create_user(rt, "lena", "lead", PASSWORD, ("care",))
    create_user(rt, "root", "admin", PASSWORD)
    return rt


def login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/login")
    nonce = NONCE.search(page.text)
    assert nonce is not None
    answer = client.post(
        "/login", data={"name": name, "password": password, "nonce": nonce.group(1)}
    )
    assert answer.status_code == 200, answer.text[:500]
    return csrf_of(client.get("/").text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None
    assert found.group(1)
    return found.group(1)


def api_client(rt: Runtime, name: str) -> TestClient:
    """A client of the JSON API with a new bearer token of ``name``."""
    token = new_api_token(rt, name)
    return TestClient(create_app(rt), headers={"authorization": f"Bearer {token}"})


def client_for(rt: Runtime, name: str | None = None) -> tuple[TestClient, str]:
    client = TestClient(create_app(rt))
    return client, login(client, name) if name else ""
