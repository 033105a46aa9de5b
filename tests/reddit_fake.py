"""Scripted Reddit responses in the recorded JSON shape, and settings pointing at FakeAPI."""

from __future__ import annotations

from typing import Any

from tests.conftest import SHARED
from tests.fakeapi import FakeAPI, Reply

CASSETTES = SHARED / "fixtures" / "real-api" / "reddit"
BRAND = "acme_official"
RATE = {"x-ratelimit-remaining": "598.0", "x-ratelimit-used": "2", "x-ratelimit-reset": "240"}
T0 = 1_763_600_000.0  # 2025-11-20, a created_utc in the recent past


def reddit_section(api: FakeAPI, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": "id",
        "client_secret": "secret",
        "refresh_token": "refresh",
        "user_agent": {"by": BRAND},
        "oauth_url": api.base_url,
        "reddit_url": api.base_url,
        "timeout_seconds": 2,
        **extra,
    }


def token() -> Reply:
    body = {"access_token": "tok", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
    return Reply.json(body)


def serve_token(api: FakeAPI) -> None:
    api.add("POST", "/api/v1/access_token", token())
    serve_me(api)


def serve_me(api: FakeAPI) -> None:
    """A source logged in by refresh token asks once whose it is (its posts are ours)."""
    api.add("GET", "/api/v1/me", Reply.json({"name": BRAND, "id": "b1"}))
    # Its newest comments, where a retry looks for its earlier reply first: none.
    api.add("GET", f"/user/{BRAND}/comments", listing())


def listing(
    *children: dict[str, Any], after: str | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """A Listing page; ``headers`` replace the default rate-limit headers."""
    data = {"after": after, "before": None, "children": list(children), "dist": len(children)}
    return Reply.json(
        {"kind": "Listing", "data": data}, headers=RATE if headers is None else headers
    )


def comment(
    cid: str,
    body: str,
    *,
    author: str | None = "customer1",
    created: float = T0,
    link: str = "abc123",
    parent: str | None = None,
    inbox: str | None = None,
    new: bool = True,
) -> dict[str, Any]:
    """A t1 as subreddit listings return it, or as the inbox does (``inbox`` = its type)."""
    data: dict[str, Any] = {
        "id": cid,
        "name": f"t1_{cid}",
        "author": author or "[deleted]",
        "body": body,
        "created_utc": created,
        "parent_id": parent or f"t3_{link}",
        "subreddit": "acme",
        "link_title": "My order",
    }
    if inbox is None:
        data |= {"link_id": f"t3_{link}", "permalink": f"/r/acme/comments/{link}/x/{cid}/"}
    else:
        context = f"/r/acme/comments/{link}/my_order/{cid}/?context=3"
        data |= {"type": inbox, "was_comment": True, "new": new, "context": context}
    return {"kind": "t1", "data": data}


def submission(
    sid: str, title: str, selftext: str = "", *, author: str | None = "poster", created: float = T0
) -> dict[str, Any]:
    data = {
        "id": sid,
        "name": f"t3_{sid}",
        "author": author or "[deleted]",
        "title": title,
        "selftext": selftext,
        "created_utc": created,
        "subreddit": "acme",
        "permalink": f"/r/acme/comments/{sid}/slug/",
        "locked": False,
        "archived": False,
    }
    return {"kind": "t3", "data": data}


def api_error(code: str, message: str, field: str = "ratelimit") -> Reply:
    body = {"json": {"errors": [[code, message, field]]}}
    return Reply.json(body, headers=RATE)


def created_comment(cid: str, parent: str, body: str, author: str = BRAND) -> Reply:
    thing = comment(cid, body, author=author, parent=parent)
    return Reply.json({"json": {"errors": [], "data": {"things": [thing]}}}, headers=RATE)
