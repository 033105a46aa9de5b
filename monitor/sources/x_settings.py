"""X (Twitter) API v2 config: the x_mentions / x_search sources, the x responder and the
shared ``x:`` section. Part of the config file's models (monitor.settings)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from monitor.domain import MAX_WAIT_SECONDS, NAME_CHARS
from monitor.sources.x_parse import ID
from monitor.strict_model import Strict

# A sweep still being read after this long is stored as far as it got, and the next
# poll reads on (x_source.py): so a poll has a bound its source's lease can outlast.
SWEEP_SECONDS = 30
# Past its requests, the database work of a poll: the read budget's holds, the commit.
POLL_MARGIN_SECONDS = 30


class XSourceBase(Strict):
    name: str = Field(min_length=1, max_length=NAME_CHARS, pattern=r"^[A-Za-z0-9_.-]+$")
    # 120 s keeps mentions under the Basic tier's 10 requests / 15 min per user.
    interval_seconds: float = Field(default=120, ge=15, le=MAX_WAIT_SECONDS)
    max_results: int = Field(default=100, ge=10, le=100)  # posts per page (billed per post)
    max_pages: int = Field(default=5, ge=1, le=50)  # next_token pages per sweep
    # Re-read this far below the newest id: ids are not strictly time-ordered across
    # X's workers, and the unique key drops the posts we already have.
    overlap_seconds: float = Field(default=15, ge=0, le=3600)
    thread_depth: int = Field(default=2, ge=0, le=10)  # parent posts fetched for context
    enabled: bool = True


def longest_poll_seconds(source: XSourceBase, timeout_seconds: float) -> float:
    """The longest one poll of ``source`` can take: it reads pages for SWEEP_SECONDS, and
    the page under way then still makes its requests (the page, then a parents lookup
    per thread level past the first), each up to twice the timeout (connect, then read)."""
    requests = 1 + max(source.thread_depth - 1, 0)
    return SWEEP_SECONDS + requests * 2 * timeout_seconds + POLL_MARGIN_SECONDS


class XMentionsSourceConfig(XSourceBase):
    type: Literal["x_mentions"]


class XSearchSourceConfig(XSourceBase):
    type: Literal["x_search"]
    query: str = Field(min_length=1, max_length=512)
    interval_seconds: float = Field(default=300, ge=15, le=MAX_WAIT_SECONDS)


class XBudget(Strict):
    reads_per_day: int = Field(default=2000, ge=0)  # posts read, as X bills them
    writes_per_day: int = Field(default=100, ge=0)  # posts created
    # Channels (from `channels:`) told when a budget stops polling or posting for the day.
    notify: list[str] = Field(default_factory=list)


class XSettings(Strict):
    user_id: str  # the brand account's numeric id
    bearer_token: SecretStr = SecretStr("")  # app-only: reads
    consumer_key: SecretStr = SecretStr("")  # OAuth 1.0a user context: posting
    consumer_secret: SecretStr = SecretStr("")
    access_token: SecretStr = SecretStr("")
    access_token_secret: SecretStr = SecretStr("")
    oauth2_user_token: SecretStr = SecretStr("")  # instead of OAuth 1.0a: posting
    api_base_url: str = "https://api.twitter.com"
    timeout_seconds: float = Field(default=10, gt=0, le=300)
    budget: XBudget = XBudget()
    allow_urls_in_replies: bool = False  # a post with a URL costs about 13x more

    def empty_credentials(self, *, reads: bool, writes: bool) -> list[str]:
        oauth1 = ["consumer_key", "consumer_secret", "access_token", "access_token_secret"]
        posts_with_oauth1 = writes and not self.oauth2_user_token.get_secret_value()
        needed = (["bearer_token"] if reads else []) + (oauth1 if posts_with_oauth1 else [])
        return [key for key in needed if not getattr(self, key).get_secret_value()]

    @field_validator("user_id")
    @classmethod
    def _numeric_user_id(cls, value: str) -> str:
        if not ID.fullmatch(value):
            raise ValueError(
                "must be the brand account's numeric id (GET /2/users/by/username/<handle> "
                "shows it), not a handle"
            )
        return value

    @field_validator("api_base_url")
    @classmethod
    def _bare_origin(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/?#\s]+/?", value):
            raise ValueError("must be a scheme and host only, e.g. https://api.twitter.com")
        return value.rstrip("/")


def poster_id(x: XSettings) -> str:
    """The id of the account our replies come from. Not always x.user_id: a brand may
    answer mentions of @acme from @acmehelp, and a search from:<x.user_id> never found
    that account's reply. An OAuth 1.0a access token starts with its user's id (tweepy
    reads it there too); an OAuth 2 user token names none."""
    prefix = x.access_token.get_secret_value().split("-", 1)[0]
    if x.oauth2_user_token.get_secret_value() or not ID.fullmatch(prefix):
        return x.user_id
    return prefix


def split_account_warning(x: XSettings) -> str | None:
    """Why posts will go to the team when the replies come from another account than
    x.user_id's (@acme read, @acmehelp answering): X's API refuses a reply to a post
    that does not mention the posting account, and the mentions timeline is x.user_id's.
    Set up so on purpose or by a wrong token, the split showed only as hand-overs."""
    poster = poster_id(x)
    if poster == x.user_id:
        return None
    return (
        f"the replies come from account {poster} (the id this token starts with), not "
        f"x.user_id {x.user_id}: X refuses a reply to a post that does not mention the "
        f"account the replies come from, so mentions of {x.user_id} (x_mentions reads "
        f"only those) and search hits that do not name account {poster} go to the team, "
        f"to answer from X's app; use a token of {x.user_id}'s account to answer them here"
    )


class XResponderConfig(Strict):
    type: Literal["x"]
