"""Corpora of bad inputs with the exact result each must give: config, markdown, cursors."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import load_settings
from monitor.sources.base import SourceError
from monitor.sources.reddit_cursor import ListingCursor, SourceCursor, decode_cursor, take_new
from monitor.sources.reddit_items import RedditItem, Skip, skip_reason
from monitor.sources.reddit_keywords import KeywordMatcher
from monitor.textlength import reddit_body
from monitor.yamlpos import ConfigError
from responders.reddit import MAX_BODY, escape_markdown

BASE = """brand: {name: Acme}
reddit:
  client_id: id
  client_secret: s
  refresh_token: r
  user_agent: {by: acme_official}
"""
INBOX_ONLY = "brand: {name: Acme}\nsources:\n  - {name: i, type: reddit_inbox}\n"
NO_SECRET = "  client_id: id\n  username: u\n  password: p\n  user_agent: {by: acme_official}\n"
WATCH = "sources:\n  - {name: w, type: reddit_subreddit, subreddits: %s, keywords: %s}\n"

BAD_CONFIGS = [
    (INBOX_ONLY, "1:1: reddit sources and responders need a 'reddit:' section"),
    (
        "brand: {name: Acme}\nresponders:\n  reddit: {type: reddit}\n",
        "1:1: reddit sources and responders need a 'reddit:' section",
    ),
    (
        "brand: {name: Acme}\nreddit:\n  client_id: id\n  user_agent: {by: acme_official}\n",
        "2:1: reddit: give either refresh_token, or username and password",
    ),
    (
        BASE + "  username: u\n  password: p\n",
        "2:1: reddit: give refresh_token or username+password, not both",
    ),
    (
        "brand: {name: Acme}\nreddit:\n" + NO_SECRET,
        "2:1: reddit: username+password (script app) needs client_secret",
    ),
    (
        BASE.replace("by: acme_official", "by: 'a b'"),
        "6:16: reddit.user_agent.by: must be the Reddit username of the app's owner (3-20 letters)",
    ),
    (
        BASE + "  oauth_ulr: http://x\n",
        "7:3: reddit.oauth_ulr: unknown key; did you mean 'oauth_url'?",
    ),
    (
        BASE + "  oauth_url: ftp://x\n",
        "7:3: reddit.oauth_url: String should match pattern '^https?://'",
    ),
    (
        BASE + "  timeout_seconds: 0\n",
        "7:3: reddit.timeout_seconds: Input should be greater than 0",
    ),
    (
        BASE.replace("client_secret: s", "client_secret: ${REDDIT_SECRET}"),
        "4:3: reddit.client_secret: environment variable REDDIT_SECRET is not set",
    ),
    (
        BASE + WATCH % ("['no spaces']", "[acme]"),
        "8:39: sources[0].subreddits: not a subreddit name: 'no spaces'",
    ),
    (
        BASE + WATCH % ("[acme, r/ACME]", "[acme]"),
        "8:39: sources[0].subreddits: subreddits are listed twice",
    ),
    (BASE + WATCH % ("[acme]", "['  ']"), "8:59: sources[0].keywords: keywords must not be blank"),
    (
        BASE + WATCH % ("[acme]", "['\u200b\u2060 ']"),
        "8:59: sources[0].keywords: keywords must not be blank",
    ),
    (
        BASE + WATCH % ("[acme]", "['\ufe0f\U0001f3fd']"),
        "8:59: sources[0].keywords: keywords must not be blank",
    ),
    (
        BASE + "sources:\n  - {name: i, type: reddit_inbox, overlap_seconds: -60}\n",
        "8:35: sources[0].overlap_seconds: Input should be greater than or equal to 0",
    ),
    (
        BASE + "sources:\n  - {name: i, type: reddit_inbox, overlap_seconds: a day}\n",
        "8:35: sources[0].overlap_seconds: Input should be a valid number, unable to parse "
        "string as a number",
    ),
    (
        BASE
        + "sources:\n  - {name: i, type: reddit_inbox, mentions: false, comment_replies: false,\n"
        + "     submission_replies: false}\n",
        "8:5: sources[0]: enable at least one of mentions, comment_replies, submission_replies",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config_gives_the_exact_error(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "inchannel.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value) == f"{path}:{expected}"


def test_good_config_renders_the_user_agent_and_hides_secrets(tmp_path: Path) -> None:
    path = tmp_path / "inchannel.yaml"
    path.write_text(BASE.replace("client_secret: s", "client_secret: ${SECRET}"), encoding="utf-8")
    settings = load_settings(path, environ={"SECRET": "hunter2"})
    assert settings.reddit is not None
    assert settings.reddit.user_agent.render() == "python:inchannel:0.1.0 (by /u/acme_official)"
    assert "hunter2" not in repr(settings)
    assert settings.reddit.oauth_url == "https://oauth.reddit.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            BASE.replace("refresh_token: r", "refresh_token: ${REDDIT_TOKEN}"),
            "5:3: reddit.refresh_token: must not be empty (is its environment variable empty?); the"
            " value came from ${REDDIT_TOKEN}",
        ),
        (
            "brand: {name: Acme}\nreddit:\n"
            + NO_SECRET.replace("password: p", "password: ${REDDIT_TOKEN}")
            + "  client_secret: s\n",
            "5:3: reddit.password: must not be empty (is its environment variable empty?); the"
            " value came from ${REDDIT_TOKEN}",
        ),
        (
            "brand: {name: Acme}\nreddit:\n" + NO_SECRET + "  client_secret: ${REDDIT_TOKEN}\n",
            "2:1: reddit: username+password (script app) needs client_secret",
        ),
    ],
)
def test_an_empty_secret_is_a_config_error(tmp_path: Path, text: str, expected: str) -> None:
    # `REDDIT_TOKEN=` in an EnvironmentFile is set: check-config said ok and every
    # request then failed at Reddit with an auth error.
    path = tmp_path / "inchannel.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={"REDDIT_TOKEN": ""})
    assert str(caught.value) == f"{path}:{expected}"


HOSTILE_MARKDOWN = [
    ("**bold** and _it_", r"\*\*bold\*\* and \_it\_"),
    ("[click](http://evil.example)", r"\[click\]\(http://evil.example)"),
    ("# Heading", r"\# Heading"),
    ("> quote\n>!spoiler!<", "\\> quote\n\\>\\!spoiler\\!\\<"),
    ("- a\n+ b\n1. one\n2) two", "\\- a\n\\+ b\n1\\. one\n2\\) two"),
    ("    code block", "code block"),
    ("u/spez, r/all and /u/x", r"u\/spez, r\/all and /u\/x"),
    ("<script>alert(1)</script>", r"\<script\>alert\(1\)\</script\>"),
    ("a|b\n---|---", "a\\|b\n\\---\\|---"),
    ("`code` ~~strike~~ ^super", r"\`code\` \~\~strike\~\~ \^super"),
    ("AT&T &amp;", "AT&amp;T &amp;amp;"),
    ("back\\slash {x}", r"back\\slash \{x\}"),
    ("Plain text, a menu/recipes link.", "Plain text, a menu/recipes link."),
]


@pytest.mark.parametrize(("text", "expected"), HOSTILE_MARKDOWN)
def test_markdown_is_escaped_exactly(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


# Reddit (snudown) links u/ and r/ after any ASCII punctuation, "_" too: the escaping
# took "_" for a letter (regex \w), and "_u/spez" in a customer's words pinged spez.
PINGS = [
    ("_u/spez", r"\_u\/spez"),
    ("thanks_/u/spez", r"thanks\_/u\/spez"),
    ("see x_r/all", r"see x\_r\/all"),
    # A letter or digit before it: Reddit links nothing, and nothing is escaped.
    ("menu/recipes 2u/x", "menu/recipes 2u/x"),
]


@pytest.mark.parametrize(("text", "expected"), PINGS)
def test_no_user_is_pinged_nor_subreddit_linked_from_a_customers_words(
    text: str, expected: str
) -> None:
    assert escape_markdown(text) == expected


LINKS = [
    # Reddit links a bare address as it stands: a backslash in it went into the link
    # (browsers read it as "/"), and "&amp;" into its query, so the page was not found.
    (
        "See https://acme.com/help/returns_policy#uk.",
        "See https://acme.com/help/returns_policy#uk.",
    ),
    (
        "Track it: https://acme.com/t?id=1&ref=r/acme~x*y",
        "Track it: https://acme.com/t?id=1&ref=r/acme~x*y",
    ),
    # Reddit leaves a closing bracket it does not open out of the link.
    ("(www.acme.com/a_b)", "\\(www.acme.com/a_b)"),
    (
        "https://en.wikipedia.org/wiki/Acme_(company), _really_",
        "https://en.wikipedia.org/wiki/Acme_(company), \\_really\\_",
    ),
    # No dot in the host: no link, so escaped as text.
    ("http://localhost_[x](y)", "http://localhost\\_\\[x\\]\\(y\\)"),
    # A bracket ends the address: no markdown link can hide in one.
    ("https://acme.com/[x](http://evil.example)", r"https://acme.com/\[x\]\(http://evil.example)"),
]


# Kept as typed only what Reddit surely makes a link of: the rest is markdown to it, so
# it was posted unescaped and a customer's "/u/spez" pinged, "**x**" rendered bold.
NOT_LINKED = [
    # Reddit links "www." in lower case only.
    ("WWW.evil.example/u/spez **x**", r"WWW.evil.example/u\/spez \*\*x\*\*"),
    # ... and only after a space or ASCII punctuation, not after a curly quote or emoji.
    ("\u201cwww.evil.example/u/spez\u201d", "\u201cwww.evil.example/u\\/spez\u201d"),
    ("\U0001f642www.evil.example/**x**", "\U0001f642www.evil.example/\\*\\*x\\*\\*"),
    # A host must start with an ASCII letter or digit ("\u017f" matched [a-z] ignoring case).
    ("https://-x.example/u/spez", r"https://-x.example/u\/spez"),
    ("https://\u017f.example/u/spez", "https://\u017f.example/u\\/spez"),
]


@pytest.mark.parametrize(("text", "expected"), NOT_LINKED)
def test_an_address_reddit_does_not_link_is_escaped(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


@pytest.mark.parametrize(("text", "expected"), LINKS)
def test_a_link_in_a_persons_reply_is_posted_as_typed(text: str, expected: str) -> None:
    assert escape_markdown(text) == expected


def test_reply_body_is_never_cut() -> None:
    # Too long is refused by RedditResponder.send (test_reddit_responder.py), not cut.
    assert reddit_body("*" * 20_000) == "\\*" * 20_000
    assert MAX_BODY == 10_000


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("I love ACME!", True),
        ("acme's order number\n 42", True),
        ("order    number", True),
        ("acmeville", False),
        ("preorder number", False),
        ("ac me", False),
        ("(?:.*)* acme", True),
        ("", False),
    ],
)
def test_keyword_matcher(text: str, hit: bool) -> None:
    assert KeywordMatcher(["Acme", "order number", "(?:x)"]).matches(text) is hit


def item(name: str, created: float, **extra: object) -> RedditItem:
    return RedditItem(fullname=name, author="someone", created_utc=created, **extra)  # type: ignore[arg-type]


def test_same_second_items_are_neither_lost_nor_repeated() -> None:
    first = [item("t1_a", 100), item("t1_b", 100), item("t1_z", 99)]
    cursor = ListingCursor().advanced(first, overlap=0)
    assert cursor == ListingCursor(100, {"t1_a": 100, "t1_b": 100})
    listing = [item("t1_c", 100), item("t1_b", 100), item("t1_a", 100), item("t1_z", 99)]
    new = take_new(listing, cursor, max_items=10, overlap=0)
    assert ([i.fullname for i in new.items], new.read, new.gap) == (["t1_c"], 4, False)


def test_the_overlap_finds_a_late_item_once_and_forgets_what_left_the_window() -> None:
    cursor = ListingCursor().advanced([item("t1_b", 100), item("t1_old", 10)], overlap=30)
    assert cursor == ListingCursor(100, {"t1_b": 100})
    # t1_a (created at 80) was approved from the mod queue after t1_b was read.
    listing = [item("t1_c", 120), item("t1_b", 100), item("t1_a", 80), item("t1_x", 60)]
    new = take_new(listing, cursor, max_items=10, overlap=30)
    assert ([i.fullname for i in new.items], new.read) == (["t1_c", "t1_a"], 4)
    later = cursor.advanced(new.items, overlap=30)
    assert later == ListingCursor(120, {"t1_c": 120, "t1_b": 100})
    assert take_new(listing, later, max_items=10, overlap=30).items == []


def test_a_full_page_of_new_items_reports_a_gap_but_not_on_the_first_poll() -> None:
    listing = [item(f"t1_{n}", 200 - n) for n in range(5)]
    assert take_new(listing, ListingCursor(50), max_items=3, overlap=60).gap is True
    assert take_new(listing, ListingCursor(), max_items=3, overlap=60).gap is False
    # Late items inside the overlap window are no gap: nothing above the cursor is missed.
    assert take_new(listing, ListingCursor(199), max_items=3, overlap=60).gap is False


def test_cursor_round_trips_and_bad_cursors_stop_the_source() -> None:
    cursor = SourceCursor({"mentions": ListingCursor(5.5, {"t1_x": 5.5})}, ("t1_x",))
    assert decode_cursor(cursor.encode()) == cursor
    # A cursor stored before the overlap window: its fullnames are at the ``since`` second.
    old = '{"listings": {"m": {"since": 5.5, "seen": ["t1_x"]}}, "to_mark": [], "disabled": {}}'
    assert decode_cursor(old).listing("m") == ListingCursor(5.5, {"t1_x": 5.5})
    with pytest.raises(SourceError) as caught:
        decode_cursor('{"listings": 3}')
    assert str(caught.value) == "reddit cursor is not valid JSON state: '{\"listings\": 3}'"
    assert caught.value.permanent is True


@pytest.mark.parametrize(
    ("author", "body", "title", "expected"),
    [
        (None, "text", "", Skip.DELETED),
        ("someone", "[deleted]", "", Skip.DELETED),
        ("someone", "[removed]", "", Skip.DELETED),
        ("Acme_Official", "hi", "", Skip.OWN),
        ("someone", "hi", "", None),
    ],
)
def test_skip_reasons(author: str | None, body: str, title: str, expected: Skip | None) -> None:
    thing = RedditItem("t1_q", author, 1.0, body=body, title=title)
    assert skip_reason(thing, frozenset({"acme_official"})) is expected


def test_removed_submission_text_keeps_a_titled_post() -> None:
    post = RedditItem("t3_q", "someone", 1.0, body="[removed]", title="Acme broke")
    assert skip_reason(post, frozenset()) is None


def test_a_keyword_of_invisible_characters_matches_nothing() -> None:
    # Read without its invisible characters it is empty: it must not match every text.
    assert KeywordMatcher(["\u200b"]).matches("anything at all") is False
    assert KeywordMatcher(["\u200b", "acme"]).matches("I like ACME") is True
