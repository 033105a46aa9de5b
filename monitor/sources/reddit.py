"""A small typed connection to Reddit: with reddit_errors.py, the only module that
imports praw/prawcore.

Everything praw returns is copied into RedditItem values and every praw/prawcore error
becomes a RedditFailure (reddit_errors.translate), so the sources and the responder
never see praw types.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import praw
import praw.exceptions
import praw.objector
import requests
from requests.adapters import HTTPAdapter

from monitor.clock import Clock, SystemClock
from monitor.sources.reddit_errors import (
    ReplyOutcomeUnknown,
    RetryAfterNotSeconds,
    header_number,
    translate,
)
from monitor.sources.reddit_failure import FailureKind, RedditFailure
from monitor.sources.reddit_items import RedditItem, same_text
from monitor.sources.reddit_settings import RedditSettings

InboxStream = Literal["mentions", "comment_replies", "submission_replies"]
SubredditStream = Literal["comments", "new"]
T = TypeVar("T")

log = logging.getLogger("inchannel.reddit")

# Items per listing request: Reddit's largest page, which praw asks for.
PAGE_ITEMS = 100
# The longest pause prawcore puts between requests while some quota remains.
PRAWCORE_SPACING = 10.0
# The account's newest comments read for a reply Reddit created without returning it.
OWN_HISTORY = 25


@dataclass(frozen=True, slots=True)
class RateLimits:
    remaining: float | None
    used: int | None
    reset_seconds: int | None  # seconds until the window resets, as Reddit reports it
    requests: int  # HTTP requests made by this connection so far
    reset_at: datetime | None = None  # when it resets: counted from the answer that said so


class ObservingAdapter(HTTPAdapter):
    """Forces the timeout, remembers the last ``x-ratelimit-*`` headers, and sends a
    comment at most once per call.

    praw's own ``timeout`` option is ignored by prawcore 4 for API calls, and the
    rate-limit reset is not kept anywhere public, so both are handled at the transport.
    prawcore retries any request, a POST too, twice after a timeout or a 5xx answer: for
    a reply Reddit may already have posted, that was the same comment up to three times.
    """

    def __init__(self, timeout: float, clock: Clock) -> None:
        super().__init__(max_retries=0)
        self.timeout = timeout
        self.clock = clock
        self.requests = 0
        self.headers: dict[str, str] = {}
        self.headers_at: datetime | None = None  # when the last ``headers`` came
        # time.monotonic() until which prawcore holds the next request: nothing remains.
        self.held_until = 0.0
        self._lock = threading.Lock()
        # Per thread, as workers share the connection: the status of the last comment
        # POST, which tells a success answer praw cannot read from a failed request.
        self._comment = threading.local()

    def forget_comment_answer(self) -> None:
        self._comment.status = None

    def comment_accepted(self) -> bool:
        """Whether this thread's last comment POST got a success answer."""
        status = getattr(self._comment, "status", None)
        return status is not None and 200 <= status < 300

    def held_for(self) -> float:
        """Seconds prawcore will sleep before the next request for a spent quota."""
        return max(self.held_until - time.monotonic(), 0.0)

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = self.timeout
        with self._lock:
            self.requests += 1
        if _posts_a_comment(request):
            response = self._send_once(request, *args, **kwargs)
        else:
            response = super().send(request, *args, **kwargs)
        if "x-ratelimit-remaining" in response.headers:
            _whole_numbers(response.headers)
            with self._lock:
                self.headers = {k: response.headers.get(k, "") for k in _RATE_HEADERS}
                self.headers_at = self.clock.now()
                self.held_until = _held_until(self.headers)
        if response.status_code == 429:
            _check_retry_after(response)
        return response

    def _send_once(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            response = super().send(request, *args, **kwargs)
            # Read here: a body cut short fails later, in requests, and prawcore retries that.
            _ = response.content
        except requests.exceptions.ConnectTimeout:
            raise  # never reached Reddit: prawcore may try again
        except requests.RequestException as exc:
            raise ReplyOutcomeUnknown(type(exc).__name__) from exc
        if response.status_code >= 500 or response.status_code == 408:
            raise ReplyOutcomeUnknown(f"HTTP {response.status_code}")
        self._comment.status = response.status_code
        return response


# A comment and a submission: the kinds praw makes a Redditor of the author for.
_AUTHORED = frozenset({"t1", "t3"})


class _NullAuthorObjector(praw.objector.Objector):
    """praw's objector, reading ``"author": null`` on a comment or submission as
    ``"[deleted]"``, which praw already turns into no author (skipped as deleted).

    praw builds a Redditor from a null author and raises TypeError, and it builds a
    listing's items all at once: one such item failed the whole page, at every poll,
    and the mentions on it were never read while it stayed among the newest."""

    def objectify(self, data: Any = None) -> Any:
        if isinstance(data, dict) and data.get("kind") in _AUTHORED:
            item = data.get("data")
            if isinstance(item, dict) and "author" in item and item["author"] is None:
                item["author"] = "[deleted]"
        return super().objectify(data=data)


def _whole_numbers(headers: Any) -> None:
    """``x-ratelimit-used`` and ``-reset`` as whole numbers, in place: prawcore reads them
    with int(), so a float such as "239.4" failed every request it came on. The reset is
    rounded up, so no request goes before the window is over."""
    for name, whole in (("x-ratelimit-used", math.floor), ("x-ratelimit-reset", math.ceil)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw)
        except ValueError:
            continue  # left as it is: unreadable to prawcore too, reported as such
        if math.isfinite(value):
            headers[name] = str(whole(value))


def _held_until(headers: dict[str, str]) -> float:
    """When prawcore's RateLimiter lets the next request go if nothing remains: it
    sleeps until the reset (at least 1 s), measured from when the answer came."""
    remaining = header_number(headers.get("x-ratelimit-remaining"), float)
    if remaining is None or remaining >= 1:
        return 0.0
    reset = header_number(headers.get("x-ratelimit-reset"), int) or 0
    return time.monotonic() + max(reset, 1)


def _check_retry_after(response: requests.Response) -> None:
    raw = response.headers.get("retry-after")
    if not raw:
        return
    try:
        float(raw)  # as prawcore reads it
    except ValueError:
        response.close()
        raise RetryAfterNotSeconds(_http_date(raw)) from None


def _http_date(raw: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(raw)
    except (ValueError, TypeError):
        return None
    # "-0000" gives a naive datetime: the date is in UTC all the same.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _posts_a_comment(request: Any) -> bool:
    path = urlsplit(str(request.url)).path
    return str(request.method).upper() == "POST" and path.rstrip("/").endswith("/api/comment")


_RATE_HEADERS = ("x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")
# What praw raises on a body not of the shape it reads (``{}``, a 204, a thing without id).
_UNREADABLE = (KeyError, IndexError, TypeError, AttributeError, ValueError)


class RedditConnection:
    def __init__(self, settings: RedditSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.adapter = ObservingAdapter(settings.timeout_seconds, clock or SystemClock())
        self._login_name: str | None = None
        session = requests.Session()
        session.mount("https://", self.adapter)
        session.mount("http://", self.adapter)
        self.reddit = praw.Reddit(
            **_credentials(settings),
            user_agent=settings.user_agent.render(),
            oauth_url=settings.oauth_url,
            reddit_url=settings.reddit_url,
            check_for_updates=False,
            ratelimit_seconds=_praw_ratelimit_seconds(settings.ratelimit_seconds),
            requestor_kwargs={"session": session},
        )
        # praw has no public hook for how it builds its objects; its objector is the one
        # place every listing item passes through.
        self.reddit._objector = _NullAuthorObjector(self.reddit, self.reddit._objector.parsers)

    # -- reading ---------------------------------------------------------------------
    # ``after`` (a fullname) starts the listing just past that item: backfill pages
    # with it so it can check the quota between requests (see reddit_backfill.py).
    def inbox(
        self, stream: InboxStream, limit: int, after: str | None = None
    ) -> Iterator[RedditItem]:
        listing = getattr(self.reddit.inbox, stream)
        return self._items(lambda: listing(limit=limit, **_after(after)), limit)

    def subreddit(
        self, name: str, stream: SubredditStream, limit: int, after: str | None = None
    ) -> Iterator[RedditItem]:
        subreddit = self.reddit.subreddit(name)
        return self._items(lambda: getattr(subreddit, stream)(limit=limit, **_after(after)), limit)

    def search(
        self, name: str, query: str, limit: int, after: str | None = None
    ) -> Iterator[RedditItem]:
        subreddit = self.reddit.subreddit(name)
        return self._items(
            lambda: subreddit.search(query, sort="new", limit=limit, **_after(after)), limit
        )

    def things(self, fullnames: list[str]) -> list[RedditItem]:
        """Fetch items by fullname through ``/api/info``, 100 a request (praw batches)."""
        return list(self._items(lambda: self.reddit.info(fullnames=fullnames), len(fullnames)))

    def replies_to(self, fullname: str) -> list[RedditItem]:
        """Direct replies to a comment or submission (first page of the thread only).

        Newest first: the reply looked for is our own, posted minutes ago, and in a busy
        thread sorted by votes it could sit behind "load more comments", where a retry
        would not see it and would post it again."""

        def fetch() -> list[Any]:
            if fullname.startswith("t3_"):
                submission = self.reddit.submission(fullname[3:])
                submission.comment_sort = "new"
                forest = submission.comments
            else:
                forest = _comment_replies(self.reddit.comment(fullname[3:]))
            forest.replace_more(limit=0)
            return list(forest.list())

        items = [_item(thing) for thing in self._call(fetch)]
        return [item for item in items if item.parent_id == fullname]

    def own_replies_to(self, fullname: str) -> list[RedditItem]:
        """The account's replies to ``fullname`` among its newest comments (one request).

        Read from the account's history, not the thread: under a comment deep in a thread
        Reddit shows its replies only behind "continue this thread", which a thread read
        does not follow, so our reply there was not seen and was posted again."""

        def fetch() -> list[Any]:
            me = self.reddit.user.me()
            return list(me.comments.new(limit=PAGE_ITEMS)) if me is not None else []

        items = [_item(thing) for thing in self._call(fetch)]
        return [item for item in items if item.parent_id == fullname]

    # -- writing ---------------------------------------------------------------------
    def mark_read(self, fullnames: list[str]) -> None:
        # praw batches these 25 per request, Reddit's limit.
        things: list[Any] = [self.reddit.comment(f[3:]) for f in fullnames if f.startswith("t1_")]
        if things:
            self._call(lambda: self.reddit.inbox.mark_read(things))

    def reply(self, fullname: str, body: str) -> str:
        """Post ``body`` (markdown) under ``fullname``; return the new comment's fullname."""

        def post() -> str:
            created = self._post_comment(fullname, body)
            if created is not None:
                return created
            # praw returns None when Reddit created the comment but sent none back (a
            # thread in a quarantined subreddit the account has not opted into). It is
            # posted: taken for a refusal, the case went to a person who answered again.
            return self._found_after_posting(fullname, body)

        return self._call(post)

    def _post_comment(self, fullname: str, body: str) -> str | None:
        """The new comment's fullname; None if Reddit's answer does not name it.

        A success answer praw cannot read (a proxy's, a changed API's) made it raise a
        KeyError or ValueError that passed for a bug: a traceback, and "KeyError: 0"
        for the team to read. Reddit took the POST, so the comment may be there."""
        parent: Any = (
            self.reddit.submission(fullname[3:])
            if fullname.startswith("t3_")
            else self.reddit.comment(fullname[3:])
        )
        self.adapter.forget_comment_answer()
        try:
            created = parent.reply(body)
            return None if created is None else str(created.fullname)
        except _UNREADABLE as exc:
            if not self.adapter.comment_accepted():
                raise  # a refusal prawcore or praw failed to read: translate() knows those
            log.warning("reddit: the answer to a reply could not be read (%r)", exc)
            return None

    def login_name(self) -> str | None:
        """The account we post as, lower case (one request, then remembered).

        A refresh token does not say whose it is, and brand.accounts.reddit may name the
        brand's other accounts only: the posts of this one are ours all the same."""
        if self._login_name is None:
            me = self._call(self.reddit.user.me)
            self._login_name = str(me.name).lower() if me is not None else ""
        return self._login_name or None

    def _found_after_posting(self, parent: str, body: str) -> str:
        """``_recent_own_reply``, whose failure (a 429, a 403 on the history) refuses
        nothing: the comment is posted, and the retry must look for it first."""
        try:
            return self._recent_own_reply(parent, body)
        except Exception as exc:
            if isinstance(exc, RedditFailure) and exc.kind == FailureKind.TEMPORARY:
                raise  # not found among them: says so already
            raise RedditFailure(
                FailureKind.TEMPORARY,
                "did not return the reply, and reading the account's newest comments "
                f"failed ({translate(exc)}): it may have been posted",
            ) from exc

    def _recent_own_reply(self, parent: str, body: str) -> str:
        """Our comment with ``body`` under ``parent``, from the account's newest comments,
        where praw says a reply Reddit did not return can be found."""
        me = self.reddit.user.me()
        comments = me.comments.new(limit=OWN_HISTORY) if me is not None else []
        for thing in comments:
            item = _item(thing)
            if item.parent_id == parent and same_text(item.body, body):
                return item.fullname
        # Not seen yet: the dispatcher looks in the thread before any retry.
        raise RedditFailure(
            FailureKind.TEMPORARY,
            "did not return the reply, nor show it among the account's newest comments: "
            "it may have been posted",
        )

    def limits(self) -> RateLimits:
        headers, received = self.adapter.headers, self.adapter.headers_at
        reset = header_number(headers.get("x-ratelimit-reset"), int)
        reset_at = None
        if reset is not None and received is not None:
            reset_at = received + timedelta(seconds=reset)  # Reddit counts from its answer
        return RateLimits(
            remaining=header_number(headers.get("x-ratelimit-remaining"), float),
            used=header_number(headers.get("x-ratelimit-used"), int),
            reset_seconds=reset,
            requests=self.adapter.requests,
            reset_at=reset_at,
        )

    # -- plumbing --------------------------------------------------------------------
    def _items(self, listing: Callable[[], Any], limit: int) -> Iterator[RedditItem]:
        # A generator, so praw's lazy paging happens inside the translating try.
        self._check_quota()
        try:
            for count, thing in enumerate(listing(), start=1):
                yield _item(thing)
                if count % PAGE_ITEMS == 0 and count < limit:
                    self._check_quota()  # praw asks for the next page after this item
        except Exception as exc:
            raise translate(exc) from exc

    def _call(self, function: Callable[[], T]) -> T:
        self._check_quota()
        try:
            return function()
        except Exception as exc:
            raise translate(exc) from exc

    def _check_quota(self) -> None:
        """Refuse a request prawcore would hold until the reset (up to Reddit's 10-minute
        window) in the calling worker: the poll or the send fails as rate limited and
        the scheduler waits instead. Its usual spacing, 10 s at most, is left to it."""
        wait = self.adapter.held_for()
        if wait <= PRAWCORE_SPACING:
            return
        used = self.adapter.headers.get("x-ratelimit-used") or "?"
        raise RedditFailure(
            FailureKind.RATE_LIMITED,
            f"request quota spent ({used} used)",
            retry_after_seconds=round(wait, 3),
        )


def _comment_replies(comment: Any) -> Any:
    """The replies under ``comment``, newest first.

    praw raises its own ClientException when Reddit no longer has the comment (not in
    /api/info, or gone from its thread): a deleted or removed comment, which no retry
    brings back, not an unexpected bug to retry until max_attempts."""
    comment.reply_sort = "new"
    try:
        return comment.refresh().replies
    except praw.exceptions.ClientException as exc:
        if type(exc) is not praw.exceptions.ClientException:
            raise
        raise RedditFailure(
            FailureKind.UNAVAILABLE,
            f"{comment.fullname} is no longer in its thread: deleted or removed",
        ) from exc


def _praw_ratelimit_seconds(configured: int) -> int:
    """praw's own option for ``reddit.ratelimit_seconds``.

    praw reads a wait in milliseconds as 0 s, which is "at most" 0: it slept 1 s in the
    worker and posted again, up to three times. Below any wait, 0 means what it says."""
    return configured if configured > 0 else -1


def _credentials(settings: RedditSettings) -> dict[str, Any]:
    values: dict[str, Any] = {"client_id": settings.client_id}
    if settings.client_secret is not None:
        values["client_secret"] = settings.client_secret.get_secret_value()
    if settings.refresh_token is not None:
        values["refresh_token"] = settings.refresh_token.get_secret_value()
    elif settings.username is not None and settings.password is not None:
        values["username"] = settings.username
        values["password"] = settings.password.get_secret_value()
    return values


def _after(after: str | None) -> dict[str, Any]:
    # praw merges ``params`` into the listing's query string (search adds q and sort).
    return {"params": {"after": after}} if after else {}


def _item(thing: Any) -> RedditItem:
    # vars(), not getattr: a missing attribute on a praw object triggers a fetch.
    data = vars(thing)
    author = data.get("author")
    return RedditItem(
        fullname=str(data.get("name") or f"{_prefix(thing)}_{data['id']}"),
        author=None if author is None else str(author),
        created_utc=_created(data.get("created_utc")),
        body=reddit_text(data.get("body") or data.get("selftext") or _crossposted(data)),
        title=reddit_text(data.get("title")),
        link_id=data.get("link_id"),
        parent_id=data.get("parent_id"),
        subreddit=str(data.get("subreddit") or ""),
        permalink=str(data.get("permalink") or data.get("context") or ""),
        link_title=reddit_text(data.get("link_title")),
        locked=bool(data.get("locked")),
        archived=bool(data.get("archived")),
        unread=bool(data.get("new")),
    )


# 10000-01-01 UTC, out of datetime's reach. A NaN is out too: no comparison holds for it.
LATEST_CREATED = 253_402_300_800.0


def _created(value: object) -> float:
    """``created_utc`` in epoch seconds, or 0 (undated: RedditItem.dated) when missing
    or unreadable: garbled data must not end a scan or a poll."""
    try:
        created = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    # Past year 9999 datetime cannot hold it, and storing the mention crashed the poll.
    return created if 0 < created < LATEST_CREATED else 0.0


def _crossposted(data: dict[str, Any]) -> str:
    """What a crosspost shares: the original's title and text. The crosspost itself has
    only a title of its own, so a brand named in the post it shares went unmatched."""
    parents = data.get("crosspost_parent_list")
    if not isinstance(parents, list) or not parents or not isinstance(parents[0], dict):
        return ""
    original = parents[0]
    return "\n\n".join(str(original[k]) for k in ("title", "selftext") if original.get(k))


def reddit_text(value: object) -> str:
    """Post text as its author wrote it. Reddit's JSON escapes ``&``, ``<`` and ``>`` in
    the markdown of a body, a self-post and a title (``&lt;3`` for a heart), and only
    those: unread, a customer's "<3" scored as nothing and "A&B" failed the rules, and
    our own reply never matched what we sent, so a crashed send was posted twice. The
    ampersand last, so a "&lt;" the author typed stays "&lt;"."""
    text = str(value or "")
    if "&" not in text:
        return text
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _prefix(thing: Any) -> str:
    return "t3" if isinstance(thing, praw.models.Submission) else "t1"
