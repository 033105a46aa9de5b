"""Payload items to Mentions: the corpus of bad items and the exact problem each gives."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.sources.base import SourceError
from monitor.sources.x_cursor import XCursor, decode, newer, overlap_since
from monitor.sources.x_parse import Origin, XBrand, parse_page
from tests.xapi import tid, tweet, user

BRAND = XBrand(user_id="783214", handles=frozenset({"acme", "acmehelp"}), poster_id="783214")
USERS = {"42": user("42", "carla")}
ONE = f"post '{tid(1)}'"

BAD_ITEMS: list[tuple[Any, str]] = [
    ("junk", "post without id: expected a JSON object"),
    ({"text": "hi"}, "post without id: missing id, author_id"),
    ({**tweet(1), "id": 1}, "post '1': id must be a numeric string"),
    ({**tweet(1), "author_id": "../x"}, f"{ONE}: author_id must be a numeric string"),
    ({**tweet(1), "text": None}, f"{ONE}: text must be a string"),
    ({**tweet(1), "created_at": 5}, f"{ONE}: created_at must be a string"),
    ({**tweet(1), "created_at": None}, f"{ONE}: missing created_at"),
    ({**tweet(1), "referenced_tweets": "x"}, f"{ONE}: referenced_tweets must be a list of objects"),
    ({**tweet(1), "id": "9" * 40}, f"post '{'9' * 24}': id must be a numeric string"),
    # "$" matches before a trailing newline: "123\n" was taken for an id.
    ({**tweet(1), "id": tid(1) + "\n"}, f"post '{tid(1)}\\n': id must be a numeric string"),
    ({**tweet(1), "author_id": "42\n"}, f"{ONE}: author_id must be a numeric string"),
]  # fmt: skip


@pytest.mark.parametrize(("item", "problem"), BAD_ITEMS)
def test_bad_items_give_exact_problems(item: Any, problem: str) -> None:
    parsed = parse_page([item, tweet(2)], USERS, BRAND, Origin.MENTIONS)
    assert parsed.problems == [problem]
    assert [m.external_id for m in parsed.mentions] == [tid(2)]


def test_fields_with_a_trailing_newline_are_refused_as_other_malformed_ones() -> None:
    # A handle, language or id that is no such thing is dropped, not stored: "carla\n"
    # went into the post's URL and the dashboard, "en\n" was the post's language.
    users = {"42": user("42", "carla\n")}
    item = tweet(
        1,
        lang="en\n",
        conversation_id=tid(0) + "\n",
        referenced_tweets=[{"type": "replied_to", "id": tid(0) + "\n"}],
        edit_history_tweet_ids=[tid(0) + "\n", tid(1)],
    )
    parsed = parse_page([item], users, BRAND, Origin.MENTIONS)
    (mention,) = parsed.mentions
    assert mention.author.handle == "42"
    assert mention.url == f"https://x.com/42/status/{tid(1)}"
    assert mention.lang is None
    assert mention.conversation_id == tid(1)
    assert mention.in_reply_to is None
    assert parsed.versions == {}


@pytest.mark.parametrize(
    ("fields", "origin", "kind"),
    [
        ({"text": "@acme hi"}, Origin.SEARCH, "mention"),
        ({"text": "acme is slow"}, Origin.SEARCH, "keyword"),
        ({"text": "same here"}, Origin.MENTIONS, "reply"),
        ({"text": "@acmehelp hi", "in_reply_to_user_id": "783214"}, Origin.SEARCH, "reply"),
        ({"text": "email@acme.com"}, Origin.SEARCH, "keyword"),
    ],
)
def test_kinds(fields: dict[str, Any], origin: Origin, kind: str) -> None:
    (mention,) = parse_page([tweet(1, **fields)], USERS, BRAND, origin).mentions
    assert mention.kind == kind


def test_cursor_round_trip_bare_ids_and_garbage() -> None:
    cursor = XCursor(newest_id="5").continued("4", "tok", "9", 3)
    assert decode(cursor.encode()) == cursor
    assert cursor.finish() == XCursor(newest_id="9")
    assert decode("123") == XCursor(newest_id="123")
    assert decode(None) == XCursor()
    with pytest.raises(SourceError, match="x cursor is not valid") as caught:
        decode('{"bogus": 1}')
    assert caught.value.permanent is True
    assert overlap_since("1000", 1) == "1"  # never below the first id


def test_ids_with_non_ascii_digits_are_not_ids() -> None:
    assert newer("\u00b2", "5") == "5"
    with pytest.raises(SourceError, match="x cursor is not valid"):
        decode("\u00b2")


def test_a_long_post_keeps_the_brand_named_in_either_of_its_texts() -> None:
    # Whether X repeats a reply's leading @handles in note_tweet is not ours to rely
    # on: named in the cut text only, the brand is still addressed.
    whole = "the app crashed again " * 20
    cut = "@acme " + whole[:260] + "\u2026 https://t.co/abc"
    item = tweet(1, cut, note_tweet={"text": whole}, reply_settings="mentionedUsers")
    (mention,) = parse_page([item], USERS, BRAND, Origin.SEARCH).mentions
    assert mention.text == whole
    assert mention.kind == "mention"
    assert mention.reply_allowed is True
    # A note_tweet that is no object, or has no text, leaves the post's own text.
    for note in ("x", {"text": ""}, {"entities": {}}):
        (plain,) = parse_page([tweet(2, note_tweet=note)], USERS, BRAND, Origin.SEARCH).mentions
        assert plain.text == "@acme my order is late"


@pytest.mark.parametrize("count", [2**31, 2**63, -1, True, "12"])
def test_a_follower_count_the_column_cannot_hold_is_unknown(count: Any) -> None:
    # customers.followers is a 32-bit integer: 2**31 failed the insert of the whole page
    # on PostgreSQL (2**63 on SQLite too), at every poll while the author stayed among
    # the newest, so none of the page's mentions was stored.
    users = {"42": {**user("42", "carla"), "public_metrics": {"followers_count": count}}}
    parsed = parse_page([tweet(1)], users, BRAND, Origin.MENTIONS)
    (mention,) = parsed.mentions
    assert mention.author.followers is None


def test_the_largest_follower_count_the_column_holds_is_kept() -> None:
    parsed = parse_page([tweet(1)], {"42": user("42", "carla", 2**31 - 1)}, BRAND, Origin.MENTIONS)
    assert parsed.mentions[0].author.followers == 2**31 - 1


@pytest.mark.parametrize(
    "entities",
    ["x", {"mentions": "x"}, {"mentions": ["x", {"id": 783214}, {"id": "783214\n"}]}],
)
def test_mention_entities_that_are_no_such_thing_mention_nobody(entities: Any) -> None:
    # Hostile input: a garbled entities field never makes a search hit answerable.
    item = tweet(1, "acme lost my parcel", entities=entities)
    parsed = parse_page([item], USERS, BRAND, Origin.SEARCH)
    assert parsed.problems == []
    assert [m.reply_allowed for m in parsed.mentions] == [False]


def test_the_posting_account_is_the_brand_though_brand_accounts_omit_it() -> None:
    # Read as @acme, answered as id 7 (@acmehelp), with only "acme" in brand.accounts.x:
    # the bot's own replies, met again in @acme's mentions or a search, were a
    # customer's posts to decide, and the bot talked to itself.
    split = XBrand(user_id="783214", handles=frozenset({"acme"}), poster_id="7")
    users = {**USERS, "7": user("7", "acmehelp")}
    ours = tweet(1, "@carla sorry about that, we're on it", author="7")
    parsed = parse_page([ours, tweet(2)], users, split, Origin.MENTIONS)
    assert parsed.own == 1
    assert [m.author.handle for m in parsed.mentions] == ["carla"]
