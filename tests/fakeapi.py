"""A fake HTTP API on 127.0.0.1 that serves recorded or scripted responses.

The real, unmodified ``tweepy.Client`` and ``praw.Reddit`` are pointed at it (see
../shared/notes/clients.md). Responses are matched by method and path; each route
serves its replies in order and repeats the last one. Every request is logged so tests
can assert what the client sent.

Cassettes: vcrpy YAML (tweepy) and betamax JSON (praw/prawcore) are both understood.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

DROPPED_HEADERS = {"content-encoding", "transfer-encoding", "content-length", "connection"}


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before answering, to provoke client timeouts
    # Set when the request arrives; the answer then waits for ``gate`` (if any): a test
    # acts while a request is under way without guessing how long it takes.
    arrived: threading.Event | None = None
    gate: threading.Event | None = None

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        merged = {"content-type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, merged, json.dumps(obj).encode())


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode())

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Route:
    method: str
    path: re.Pattern[str]
    replies: list[Reply]
    query: dict[str, str] = field(default_factory=dict)
    served: int = 0

    def matches(self, method: str, path: str, query: dict[str, list[str]]) -> bool:
        if method != self.method or not self.path.fullmatch(path):
            return False
        return all(query.get(k, [None])[0] == v for k, v in self.query.items())

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


class FakeAPI:
    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- scripting -------------------------------------------------------------------
    def add(
        self, method: str, path: str, *replies: Reply, query: dict[str, str] | None = None
    ) -> Route:
        """Serve ``replies`` in order for ``method path`` (a regex over the path)."""
        route = Route(method.upper(), re.compile(path), list(replies), query or {})
        with self._lock:
            # Newest first: a test can override a cassette route for one case.
            self.routes.insert(0, route)
        return route

    def load_cassette(self, path: Path) -> None:
        """Register every recorded interaction of a vcrpy or betamax cassette, in order."""
        grouped: dict[tuple[str, str], list[Reply]] = {}
        for method, url, reply in _interactions(path):
            grouped.setdefault((method, urlsplit(url).path), []).append(reply)
        for (method, url_path), replies in grouped.items():
            self.add(method, re.escape(url_path), *replies)

    def seen(self, method: str, path_regex: str) -> list[SeenRequest]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    # -- serving ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self, port: int = 0) -> FakeAPI:
        """``port``: the one a stopped server had, for a client configured with its URL."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        with self._lock:
            self.requests.append(SeenRequest(method, parts.path, query, headers, body))
            for route in self.routes:
                if route.matches(method, parts.path, query):
                    return route.next_reply()
        message = {"error": "no fake route", "method": method, "path": parts.path}
        return Reply.json(message, status=599)


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply = api._answer(self.command, self.path, headers, body)
            if reply.arrived is not None:
                reply.arrived.set()
            if reply.gate is not None:
                reply.gate.wait(timeout=60)
            if reply.delay:
                time.sleep(reply.delay)
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                if key.lower() not in DROPPED_HEADERS:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            if self.close_connection:
                # The client asked to close (prawcore does on token requests). Say so, or
                # the client may reuse a socket we are closing and see a disconnect.
                self.send_header("Connection", "close")
            try:
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up on a delayed reply (its timeout is what the test
                # provokes): nothing to answer, and no traceback on the test's stderr.
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _interactions(path: Path) -> Iterator[tuple[str, str, Reply]]:
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        for item in data["interactions"]:
            request, response = item["request"], item["response"]
            body = response.get("body") or {}
            raw = (
                base64.b64decode(body["base64_string"])
                if body.get("base64_string")
                else (body.get("string") or "").encode()
            )
            yield (
                request["method"].upper(),
                request["uri"],
                _reply(response["status"]["code"], response["headers"], raw),
            )
        return
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for item in data["interactions"]:
        request, response = item["request"], item["response"]
        raw = response["body"]["string"]
        raw = raw if isinstance(raw, bytes) else str(raw).encode()
        yield (
            request["method"].upper(),
            request["uri"],
            _reply(response["status"]["code"], response["headers"], raw),
        )


def _reply(status: int, headers: dict[str, Any], raw: bytes) -> Reply:
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    flat = {k: (v[-1] if isinstance(v, list) else str(v)) for k, v in headers.items()}
    return Reply(status, flat, raw)
