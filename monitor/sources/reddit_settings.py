"""Config models for Reddit: the ``reddit:`` section, three source types, one responder.

They live apart from monitor/settings/ so its model only gains the union members.
Secrets are ``SecretStr`` so a repr, a log line or a validation error never shows them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.domain import MAX_WAIT_SECONDS, NAME_CHARS
from monitor.strict_model import Strict

# A Reddit username, as written without u/.
USERNAME = re.compile(r"[A-Za-z0-9_-]{3,20}")

SOURCE_NAME = r"^[A-Za-z0-9_.-]+$"
# Reddit allows 100 queries a minute per OAuth client id, shared by every source and the
# replies: a busy inbox poll is 5, five subreddits 11 (docs/reddit.md, "Budget"), so at
# 15 s one such source takes half of it or less. X sources have the same minimum.
MIN_INTERVAL_SECONDS = 15
# A poll still reading after this long stores what it read and the next poll, at once,
# reads the listings it did not reach (reddit_base.py): a poll that ran for minutes
# outlasted its source's lease, and another worker took the source from it.
POLL_SECONDS = 30
# Reddit names: 3-21 letters, digits and underscores ("all" and "popular" included).
SUBREDDIT = r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$"
# User-agent parts must not contain the ':' separators or spaces of the format.
AGENT_PART = r"^[A-Za-z0-9_.\-]+$"


class RedditUserAgent(Strict):
    """Reddit asks for ``<platform>:<app id>:<version> (by /u/<name>)``; generic agents
    are throttled harder."""

    platform: str = Field(default="python", pattern=AGENT_PART)
    app_id: str = Field(default="inchannel", pattern=AGENT_PART)
    version: str = Field(default="0.1.0", pattern=AGENT_PART)
    by: str

    @field_validator("by")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME.fullmatch(value.removeprefix("u/")):
            raise ValueError("must be the Reddit username of the app's owner (3-20 letters)")
        return value.removeprefix("u/")

    def render(self) -> str:
        return f"{self.platform}:{self.app_id}:{self.version} (by /u/{self.by})"


class RedditSettings(Strict):
    client_id: str = Field(min_length=1)
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    refresh_token: SecretStr | None = None
    user_agent: RedditUserAgent
    oauth_url: str = Field(default="https://oauth.reddit.com", pattern=r"^https?://")
    reddit_url: str = Field(default="https://www.reddit.com", pattern=r"^https?://")
    # prawcore ignores praw's own ``timeout`` option; we force this one per request.
    timeout_seconds: float = Field(default=16, gt=0, le=300)
    # praw sleeps and retries a RATELIMIT error that asks for at most this many seconds;
    # 0 hands every wait to the outbox, so no worker thread ever sleeps.
    ratelimit_seconds: int = Field(default=0, ge=0, le=600)

    def login_names(self) -> frozenset[str]:
        """The account we log in as (lower case), when the config names it.

        Its posts are the brand's own even if ``brand.accounts.reddit`` leaves it out.
        A refresh token does not say whose it is, so then this is empty."""
        return frozenset({self.username.lower()}) if self.username else frozenset()

    @field_validator("password", "refresh_token")
    @classmethod
    def _not_empty(cls, value: SecretStr | None) -> SecretStr | None:
        """Given means meant: `REDDIT_REFRESH_TOKEN=` in an EnvironmentFile is set, so
        the variable check passes, and every request then failed at Reddit as an auth
        error instead of at check-config. (An empty client_secret is praw's installed
        app, which has none.)"""
        if value is not None and not value.get_secret_value():
            raise ValueError("must not be empty (is its environment variable empty?)")
        return value

    @model_validator(mode="after")
    def _one_grant(self) -> RedditSettings:
        has_password = self.username is not None and self.password is not None
        if self.refresh_token is None and not has_password:
            raise ValueError("give either refresh_token, or username and password")
        if self.refresh_token is not None and has_password:
            raise ValueError("give refresh_token or username+password, not both")
        if has_password and not (self.client_secret and self.client_secret.get_secret_value()):
            raise ValueError("username+password (script app) needs client_secret")
        return self


class _RedditSourceBase(Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS, pattern=SOURCE_NAME)
    interval_seconds: float = Field(default=60, ge=MIN_INTERVAL_SECONDS, le=MAX_WAIT_SECONDS)
    enabled: bool = True
    # Items read per listing per poll; older ones beyond it are reported as a gap.
    max_items: int = Field(default=100, ge=1, le=1000)
    # Re-read this far below the newest item of the last poll: search indexes posts late
    # and items approved from the spam filter or mod queue appear among newer ones.
    # Costs a request only when the window holds more than a page; see docs/reddit.md.
    overlap_seconds: float = Field(default=1800, ge=0, le=86_400)


class RedditInboxSourceConfig(_RedditSourceBase):
    type: Literal["reddit_inbox"]
    mentions: bool = True
    comment_replies: bool = True
    submission_replies: bool = True  # comments on the brand's own posts
    mark_read: bool = True
    # Parent levels fetched to show a comment's thread (0: none); see docs/reddit.md.
    context_depth: int = Field(default=2, ge=0, le=8)

    @model_validator(mode="after")
    def _something(self) -> RedditInboxSourceConfig:
        if not (self.mentions or self.comment_replies or self.submission_replies):
            raise ValueError("enable at least one of mentions, comment_replies, submission_replies")
        return self


class RedditSubredditSourceConfig(_RedditSourceBase):
    type: Literal["reddit_subreddit"]
    subreddits: list[str] = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)
    comments: bool = True
    submissions: bool = True
    context_depth: int = Field(default=2, ge=0, le=8)

    @field_validator("subreddits")
    @classmethod
    def _subreddit_names(cls, names: list[str]) -> list[str]:
        return _check_names(names)

    @field_validator("keywords")
    @classmethod
    def _keyword_list(cls, keywords: list[str]) -> list[str]:
        return _check_keywords(keywords)

    @model_validator(mode="after")
    def _check(self) -> RedditSubredditSourceConfig:
        if not (self.comments or self.submissions):
            raise ValueError("enable comments, submissions or both")
        return self


class RedditSearchSourceConfig(_RedditSourceBase):
    type: Literal["reddit_search"]
    interval_seconds: float = Field(default=300, ge=MIN_INTERVAL_SECONDS, le=MAX_WAIT_SECONDS)
    # None: the brand name, quoted as a phrase.
    query: str | None = Field(default=None, min_length=1, max_length=512)
    subreddits: list[str] = Field(default_factory=lambda: ["all"], min_length=1)

    @field_validator("subreddits")
    @classmethod
    def _subreddit_names(cls, names: list[str]) -> list[str]:
        return _check_names(names)


class RedditResponderConfig(Strict):
    type: Literal["reddit"]


def _check_names(names: list[str]) -> list[str]:
    bad = [n for n in names if not re.fullmatch(SUBREDDIT, n.removeprefix("r/"))]
    if bad:
        raise ValueError(f"not a subreddit name: {bad[0][:40]!r}")
    lowered = [n.removeprefix("r/").lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError("subreddits are listed twice")
    return names


def _check_keywords(keywords: list[str]) -> list[str]:
    for keyword in keywords:
        if _blank(keyword):
            raise ValueError("keywords must not be blank")
        if len(keyword) > 100:
            raise ValueError(f"keyword longer than 100 characters: {keyword[:20]!r}...")
    return keywords


def _blank(keyword: str) -> bool:
    """Nothing left once read as the watch reads text (reddit_keywords.py: invisible
    characters, U+FE0F and skin tones dropped): such a keyword would be no word at all."""
    # Here, not at the top: monitor.rules imports the settings this module is part of.
    from monitor.rules.textmatch import as_read

    return not as_read(keyword).split()
