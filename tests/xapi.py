"""Helpers for the X tests: payloads in the X API v2 JSON shape and X runtimes.

Scripted payloads carry every field the source requests, exactly as X returns them;
the recorded cassettes (requested without fields) are used as they are.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

from monitor.runtime import Runtime
from tests.conftest import SHARED, RuntimeFactory
from tests.fakeapi import FakeAPI, Reply

CASSETTES = SHARED / "fixtures" / "real-api" / "twitter"
BRAND_ID = "783214"  # the account of the recorded mentions cassette
BASE_ID = 2_123_000_000_000_000_000  # snowflake time 2026-11-18, two days before the clock
MENTIONS = rf"/2/users/{BRAND_ID}/mentions"
SEARCH = r"/2/tweets/search/recent"
RESET = 1_795_000_000  # 2026-11-18, an x-rate-limit-reset in the clock's past
# The accounts the tests name: @acme is x.user_id, @acmehelp another brand account.
HANDLE_IDS = {"acme": BRAND_ID, "acmehelp": "7", "carla": "42"}


def tid(n: int) -> str:
    return str(BASE_ID + n)


def user(author_id: str, username: str, followers: int = 10) -> dict[str, Any]:
    return {
        "id": author_id,
        "username": username,
        "name": username.title(),
        "verified": False,
        "public_metrics": {"followers_count": followers, "following_count": 1},
        "created_at": "2015-06-01T12:00:00.000Z",
    }


def tweet(
    n: int, text: str = "@acme my order is late", *, author: str = "42", **extra: Any
) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": tid(n),
        "text": text,
        "author_id": author,
        "created_at": "2026-11-20T08:59:00.000Z",
        "conversation_id": tid(n),
        "lang": "en",
        "reply_settings": "everyone",
        "edit_history_tweet_ids": [tid(n)],
    }
    if mentions := mention_entities(text):
        base["entities"] = {"mentions": mentions}  # X leaves entities out when none
    base.update(extra)
    return base


def mention_entities(text: str) -> list[dict[str, Any]]:
    """The @handles of ``text`` as X lists them in entities.mentions, with their ids."""
    return [
        {
            "start": m.start(),
            "end": m.end(),
            "username": m[1],
            "id": HANDLE_IDS.get(m[1].lower(), str(zlib.crc32(m[1].lower().encode()))),
        }
        for m in re.finditer(r"(?<![\w@])@(\w{1,15})", text)
    ]


def reply_to(parent: int, conversation: int | None = None) -> dict[str, Any]:
    return {
        "referenced_tweets": [{"type": "replied_to", "id": tid(parent)}],
        "conversation_id": tid(conversation if conversation is not None else parent),
    }


def body(
    tweets: list[dict[str, Any]],
    *,
    users: list[dict[str, Any]] | None = None,
    included: list[dict[str, Any]] | None = None,
    errors: list[dict[str, Any]] | None = None,
    next_token: str | None = None,
) -> dict[str, Any]:
    ids = [t["id"] for t in tweets if isinstance(t, dict) and "id" in t]
    meta: dict[str, Any] = {"result_count": len(tweets)}
    if ids:
        meta.update(newest_id=max(ids, key=int), oldest_id=min(ids, key=int))
    if next_token:
        meta["next_token"] = next_token
    out: dict[str, Any] = {"meta": meta}
    if tweets:
        out["data"] = tweets
    out["includes"] = {"users": users or [user("42", "carla")], "tweets": included or []}
    if errors:
        out["errors"] = errors
    return out


def limits(remaining: int = 449, reset: int = RESET, limit: int = 450) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def ok(payload: dict[str, Any], **rate: int) -> Reply:
    return Reply.json(payload, headers=limits(**rate))


def problem(status: int, detail: str, **extra: Any) -> Reply:
    payload = {"title": detail, "detail": detail, "status": status, **extra}
    return Reply.json(payload, status=status, headers=limits())


# X's 429 for a spent post cap, as the live API sends it (xdevplatform/xdk#25): the
# 15-minute window in its headers is barely used, and nothing says when the cap resets.
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}
# X's 429 for a spent rate-limit window.
TOO_MANY = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}


def too_many(reset: int = RESET) -> Reply:
    return Reply.json(TOO_MANY, status=429, headers=limits(0, reset))


def recorded_json(name: str) -> dict[str, Any]:
    api = FakeAPI()
    api.load_cassette(CASSETTES / name)
    data: dict[str, Any] = json.loads(api.routes[0].replies[0].body)
    return data


# For tests that provoke a client timeout with a reply delayed longer than this.
SHORT_TIMEOUT = 0.3


def x_section(api: FakeAPI, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "user_id": BRAND_ID,
        "bearer_token": "bearer-secret",
        "consumer_key": "ck",
        "consumer_secret": "cs-secret",
        "access_token": f"{BRAND_ID}-at",
        "access_token_secret": "ats-secret",
        "api_base_url": api.base_url,
        # Generous: under `make test`'s parallel load a local answer took over 0.3 s and
        # a send meant to meet a 429 met a ReadTimeout. Tests that provoke a timeout set
        # SHORT_TIMEOUT, as the Reddit fakes do.
        "timeout_seconds": 5,
    }
    section.update(overrides)
    return section


def x_runtime(
    make_runtime: RuntimeFactory,
    api: FakeAPI,
    *,
    sources: list[dict[str, Any]] | None = None,
    responder: bool = False,
    **x: Any,
) -> Runtime:
    responders: dict[str, Any] = {"reddit": {"type": "recording", "path": None}}
    responders["x"] = {"type": "x"} if responder else {"type": "recording", "path": None}
    return make_runtime(
        sources=sources if sources is not None else [{"name": "mentions", "type": "x_mentions"}],
        responders=responders,
        x=x_section(api, **x),
    )
