"""X API v2 payload items to Mentions: skip rules, kinds and reply permissions.

Payload items are hostile input: each one is checked and a bad item becomes a problem
naming its id, never an exception that loses the rest of the page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from monitor.domain import MAX_FOLLOWERS, Author, Mention, MessageKind, Platform, utc

# \Z, not $: "$" also matches before a trailing newline, so .match took "123\n" for an id.
ID = re.compile(r"^[0-9]{1,20}\Z")
USERNAME = re.compile(r"^[A-Za-z0-9_]{1,50}\Z")  # X allows 15; old accounts are longer
LANG = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{1,8})?\Z")
MAX_NAME_CHARS = 256  # the customers.display_name column
# X allows 5 edits, so a post has at most 6 versions; a longer history is no X's.
MAX_VERSIONS = 6


class Origin(StrEnum):
    MENTIONS = "mentions"  # the brand's mentions timeline
    SEARCH = "search"  # a recent-search query
    CONTEXT = "context"  # a parent fetched to show the thread


@dataclass(frozen=True, slots=True)
class XBrand:
    user_id: str
    handles: frozenset[str]
    # The account the replies come from (responders.x.poster_id): a brand may read the
    # mentions of @acme and answer from @acmehelp.
    poster_id: str

    def is_brand(self, author_id: str, handle: str) -> bool:
        """Whether the brand wrote it: the account read, the one posting the replies
        (missing from brand.accounts.x, its replies were customers' posts to decide, and
        the bot answered itself), or any account listed."""
        return author_id in (self.user_id, self.poster_id) or handle.lower() in self.handles

    def mentioned_in(self, text: str) -> bool:
        return any(
            re.search(rf"(?<![\w@])@{re.escape(h)}\b", text, re.IGNORECASE) for h in self.handles
        )


@dataclass(slots=True)
class Parsed:
    mentions: list[Mention] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    own: int = 0
    retweets: int = 0
    ids: list[str] = field(default_factory=list)  # every well-formed id, kept or skipped
    # A kept post's other versions (edit_history_tweet_ids), when it was edited.
    versions: dict[str, frozenset[str]] = field(default_factory=dict)


def parse_page(
    items: list[Any], users: Mapping[str, Mapping[str, Any]], brand: XBrand, origin: Origin
) -> Parsed:
    parsed = Parsed()
    for item in items:
        try:
            tweet = _checked(item)
        except ValueError as exc:
            parsed.problems.append(f"{_label(item)}: {exc}")
            continue
        parsed.ids.append(tweet["id"])
        if origin is not Origin.CONTEXT and _is_own(tweet, users, brand):
            parsed.own += 1
        elif _reference(tweet, "retweeted") is not None:
            parsed.retweets += 1
        else:
            parsed.mentions.append(to_mention(tweet, users, brand, origin))
            if others := versions(tweet):
                parsed.versions[tweet["id"]] = others
    return parsed


def versions(tweet: Mapping[str, Any]) -> frozenset[str]:
    """The ids of the post's other versions: X gives an edit a new id and lists every
    version's in edit_history_tweet_ids, oldest first. Empty for a post never edited,
    and for a history that is not a short list of ids (hostile input never makes a post
    an edit of another)."""
    history = tweet.get("edit_history_tweet_ids")
    if not isinstance(history, list) or len(history) > MAX_VERSIONS:
        return frozenset()
    if not all(isinstance(i, str) and ID.match(i) for i in history):
        return frozenset()
    return frozenset(history) - {tweet["id"]}


def to_mention(
    tweet: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], brand: XBrand, origin: Origin
) -> Mention:
    author_id = tweet["author_id"]
    user = users.get(author_id, {})
    username = _text_field(user, "username")
    # The handle goes into URLs and the dashboard: anything but a real handle is dropped.
    handle = username if username and USERNAME.match(username) else author_id
    cut = html.unescape(tweet["text"])  # v2 escapes &, < and > in post text
    whole = _note_text(tweet)
    text = cut if whole is None else html.unescape(whole)
    parent = _reference(tweet, "replied_to")
    # Either text may be the one naming the brand: a long reply's cut text starts with
    # the @handles X puts before it, which its note_tweet need not repeat.
    named = brand.mentioned_in(text) or (whole is not None and brand.mentioned_in(cut))
    mentioned = mentioned_ids(tweet)
    # X's ids name the brand too: the account the replies come from is the brand's own
    # whether or not brand.accounts.x lists its handle (XBrand.is_brand).
    named = named or not mentioned.isdisjoint((brand.user_id, brand.poster_id))
    # The mentions timeline holds only posts mentioning x.user_id's account, which X lets
    # reply whatever the reply settings, named in the text or not. X's API refuses any
    # other reply (403, "not mentioned or otherwise engaged by the author"), even to a
    # post open to everyone: a post must mention the account that posts the reply or
    # answer its post. When the replies come from another account, a mention of
    # x.user_id's is such a post too. Naming another brand account does not count, and
    # only X's ids tell which account a handle is.
    addressed = (
        (origin is Origin.MENTIONS and brand.poster_id == brand.user_id)
        or tweet.get("in_reply_to_user_id") == brand.poster_id
        or brand.poster_id in mentioned
    )
    return Mention(
        platform=Platform.X,
        external_id=tweet["id"],
        author=_author(author_id, handle, user),
        text=text,
        created_at=_created(tweet),
        conversation_id=_id_or(tweet.get("conversation_id"), tweet["id"]),
        in_reply_to=parent,
        url=f"https://x.com/{handle}/status/{tweet['id']}",
        lang=_lang(tweet),
        reply_allowed=origin is not Origin.CONTEXT and addressed,
        kind=_kind(tweet, named, brand, origin),
    )


def mentioned_ids(tweet: Mapping[str, Any]) -> frozenset[str]:
    """The ids of the accounts X lists as mentioned, in the post's entities or a long
    post's note_tweet.entities (its cut text may leave out a handle its note names).
    Anything but a list of objects with a numeric id counts as no mention."""
    note = tweet.get("note_tweet")
    sources = [tweet.get("entities"), note.get("entities") if isinstance(note, dict) else None]
    ids: set[str] = set()
    for entities in sources:
        found = entities.get("mentions") if isinstance(entities, dict) else None
        for item in found if isinstance(found, list) else []:
            value = item.get("id") if isinstance(item, dict) else None
            if isinstance(value, str) and ID.match(value):
                ids.add(value)
    return frozenset(ids)


def _note_text(tweet: Mapping[str, Any]) -> str | None:
    """A long post's whole text, if it is one: its ``text`` is cut near 280 characters
    and ends in an ellipsis and a link, so the rules, the score and the agents would see
    half of it."""
    note = tweet.get("note_tweet")
    whole = note.get("text") if isinstance(note, dict) else None
    return whole if isinstance(whole, str) and whole else None


def _kind(tweet: Mapping[str, Any], named: bool, brand: XBrand, origin: Origin) -> MessageKind:
    # A reply to the account the replies come from (@acmehelp answering mentions of
    # @acme) answers the brand too: compared with x.user_id alone, a customer's
    # follow-up to our answer was a mention, or a keyword hit once its handle was gone.
    if tweet.get("in_reply_to_user_id") in (brand.user_id, brand.poster_id):
        return MessageKind.REPLY
    if origin is Origin.CONTEXT:
        return MessageKind.REPLY
    if named:
        return MessageKind.MENTION
    # The mentions timeline also carries replies in threads the brand was tagged in.
    return MessageKind.REPLY if origin is Origin.MENTIONS else MessageKind.KEYWORD


def _checked(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    missing = [k for k in ("id", "text", "author_id") if k not in item]
    if missing:
        raise ValueError(f"missing {', '.join(missing)}")
    for key in ("id", "author_id"):
        if not isinstance(item[key], str) or not ID.match(item[key]):
            raise ValueError(f"{key} must be a numeric string")
    if not isinstance(item["text"], str):
        raise ValueError("text must be a string")
    refs = item.get("referenced_tweets", [])
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise ValueError("referenced_tweets must be a list of objects")
    _created(item)
    return item


def _created(tweet: Mapping[str, Any]) -> datetime:
    value = tweet.get("created_at")
    if value is None:
        raise ValueError("missing created_at")
    if not isinstance(value, str):
        raise ValueError("created_at must be a string")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"created_at is not an ISO 8601 time: {value[:40]!r}") from None


def _author(author_id: str, handle: str, user: Mapping[str, Any]) -> Author:
    metrics = user.get("public_metrics")
    followers = metrics.get("followers_count") if isinstance(metrics, dict) else None
    return Author(
        id=author_id,
        handle=handle,
        display_name=(_text_field(user, "name") or "")[:MAX_NAME_CHARS],
        followers=_follower_count(followers),
        verified=user.get("verified") is True,
        account_created_at=_account_created(user),
    )


def _follower_count(value: Any) -> int | None:
    """A count the column holds, else unknown: one past 2**31 - 1 (a glitch, a future X)
    failed the insert of its whole page, at every poll, on PostgreSQL; rules on
    followers never match an unknown count."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= MAX_FOLLOWERS else None


def _account_created(user: Mapping[str, Any]) -> datetime | None:
    """When the account was created; None when X leaves it out or garbles it: an unknown
    age only keeps account_age rules from matching, so it never costs the post."""
    value = _text_field(user, "created_at")
    try:
        return None if value is None else utc(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _is_own(tweet: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], b: XBrand) -> bool:
    handle = _text_field(users.get(tweet["author_id"], {}), "username") or ""
    return b.is_brand(tweet["author_id"], handle)


def _reference(tweet: Mapping[str, Any], kind: str) -> str | None:
    for ref in tweet.get("referenced_tweets", []):
        ref_id = ref.get("id")
        if ref.get("type") == kind and isinstance(ref_id, str) and ID.match(ref_id):
            return ref_id
    return None


def _lang(tweet: Mapping[str, Any]) -> str | None:
    value = _text_field(tweet, "lang")
    return value if value and LANG.match(value) else None  # "und", "qme" pass as is


def _text_field(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def _id_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) and ID.match(value) else default


def _label(item: Any) -> str:
    raw = item.get("id") if isinstance(item, dict) else None
    return f"post {str(raw)[:24]!r}" if raw is not None else "post without id"
