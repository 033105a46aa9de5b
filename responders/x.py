"""Replies on X through the API v2 (``POST /2/tweets``), within the write budget.

All tweepy calls go through monitor.sources.x, the one module importing tweepy.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock, SystemClock
from monitor.domain import Action, Platform, x_refuses_unmentioned
from monitor.sources import x_usage as usage
from monitor.sources.x import XApi, XApiError
from monitor.sources.x_account import me_account, other_account_problem
from monitor.sources.x_errors import REDIRECTED, USAGE_CAP_RETRY, usage_capped
from monitor.sources.x_http import RateLimit
from monitor.sources.x_settings import XSettings, poster_id
from monitor.store.models import Message
from monitor.textlength import reply_length_problem, x_has_link
from responders.base import RateLimitWait, ResponderError, SendResult

log = logging.getLogger("inchannel.x")

# X links bare domains too, and a post with a link costs ~13x a plain one.
URL = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+"
    r"|\b[a-z0-9][a-z0-9-]*\.(?:com|net|org|io|co|ly|app|dev|info|me|us|uk|de|fr|eu|shop"
    r"|store|help|support|link|gl|gg|tv)\b"
)

# The handles X puts before a reply's text: the authors it answers.
REPLY_HANDLES = re.compile(r"^(?:@\w+\s+)+")

# Posts asked for when looking for our own reply in a thread (X's page maximum).
OWN_SEARCH = 100
NO_ENDPOINT = (
    "x.api_base_url has no X posting endpoint (POST /2/tweets answered 404): no reply can "
    "be sent until that setting is fixed"
)
NO_SEARCH_ENDPOINT = (
    "x.api_base_url has no X search endpoint (GET /2/tweets/search/recent answered 404): "
    "no retry can check the thread until that setting is fixed"
)


class XResponder:
    def __init__(
        self,
        api: XApi,
        x: XSettings,
        sessions: sessionmaker[Session],
        clock: Clock | None = None,
        notify: Sequence[str] = (),
    ) -> None:
        self.api, self.x, self.sessions = api, x, sessions
        self.clock = clock or SystemClock()
        hold_for = usage.hold_lifetime(x.timeout_seconds)
        self.ledger = usage.XLedger(sessions, notify or x.budget.notify, hold_for=hold_for)
        self.poster_id = poster_id(x)
        # (action id, attempt) that find_own_reply just checked and found nothing for.
        self._looked: set[tuple[int, int]] = set()
        self._rate_limit = RateLimitWait()  # X's last 429 to a post

    def check_account(self) -> str | None:
        """With an oauth2_user_token, why the replies must not be sent: the token is
        another account's than x.user_id (monitor.sources.x_account). One request, made
        once at start, never per poll or send. When X cannot tell (down, a 401, an
        answer naming no account) the start goes on, as before, with a warning: a
        brief outage of X must not keep the daemon, and its reading, from starting."""
        if not self.x.oauth2_user_token.get_secret_value():
            return None  # an OAuth 1.0a access_token names its account (poster_id)
        try:
            answer = self.api.me()
            account_id, handle = me_account(answer)
        except (XApiError, ValueError) as exc:
            log.warning(
                "x: could not check which account x.oauth2_user_token belongs to (%s); "
                "it is taken to be x.user_id %s's",
                exc,
                self.x.user_id,
            )
            return None
        finally:
            self.ledger.add(self.clock.now(), {usage.REQUESTS: 1})
        return other_account_problem(self.x, account_id, handle)

    def send(self, action: Action) -> SendResult:
        looked = self._just_looked(action)
        now = self.clock.now()
        has_url = self._check_text(action.text)
        self._check_reply_allowed(action)
        self._rate_limit.check(now)
        if action.retry and not looked:
            # An earlier attempt may have posted before failing (a timeout after X
            # accepted it): look before posting again. The dispatcher usually has just
            # done so, and a second search would cost another read.
            existing = self._search_own(action)
            if existing is not None:
                return SendResult(existing)
        self._take_write(now)
        try:
            post_id, rate = self.api.create_reply(action.text, action.target_external_id)
        except XApiError as exc:
            # Counted as posts X confirmed, as before: one a timeout may have created
            # is found (and counted) by the retry's thread check, which posts nothing again.
            self.ledger.give_back(now, usage.WRITES)
            raise self._send_failed(exc, now, retry=action.retry) from None
        self.ledger.add(now, {usage.REQUESTS: 1, usage.WRITES_WITH_URL: int(has_url)})
        self._note_spent(rate, now)
        return SendResult(post_id)

    def _send_failed(self, exc: XApiError, now: datetime, *, retry: bool) -> ResponderError:
        error = responder_error(exc, now, retry=retry)
        if exc.kind == "rate_limited":
            self._rate_limit.note(error)
        elif exc.kind == "redirect" or str(error).startswith(NO_ENDPOINT):
            # The setup's fault, not this case's: the operator reads the log, not cases.
            log.error("x responder: %s", error)
        return error

    def _note_spent(self, rate: RateLimit, now: datetime) -> None:
        """X's answer to a post says when it used the last of the posting window or of a
        24-hour limit: the next reply would only meet a 429, so it waits for the reset
        as after one."""
        reset = rate.reset_by(now)
        if rate.exhausted and reset is not None and reset > now:
            self._rate_limit.note(
                ResponderError(
                    "x rate limited: X's answer to the last post left none of its posting "
                    f"limit, until {reset:%Y-%m-%d %H:%M:%S} UTC",
                    retry_after=reset,
                    rate_limited=True,
                )
            )

    def _check_text(self, text: str) -> bool:
        """Refuse a text X would refuse or bill at the URL price; True if it has a URL."""
        has_url = _has_url(text)
        if has_url and not self.x.allow_urls_in_replies:
            raise ResponderError(
                "the reply contains a URL, which X bills at about 13x a plain post; "
                "set x.allow_urls_in_replies: true to allow it",
                permanent=True,
            )
        too_long = reply_length_problem(Platform.X, text)
        if too_long is not None:
            # X would refuse it anyway; saying why here spares a request and a vague 400.
            raise ResponderError(f"the reply is too long for X ({too_long})", permanent=True)
        return has_url

    def find_own_reply(self, action: Action) -> str | None:
        """Our reply with this text in the conversation, via recent search."""
        found = self._search_own(action)
        if found is None:
            self._looked.add((action.id, action.attempts))
        return found

    def _just_looked(self, action: Action) -> bool:
        key = (action.id, action.attempts)
        looked = key in self._looked
        self._looked.discard(key)
        return looked

    def _search_own(self, action: Action) -> str | None:
        now = self.clock.now()
        hold = self._hold_reads(now)
        query = f"conversation_id:{action.conversation_id} from:{self.poster_id}"
        try:
            page = self.api.search(query, since_id=None, token=None, max_results=OWN_SEARCH)
        except XApiError as exc:
            self.ledger.add(now, usage.page_counts(None))
            error = lookup_error(exc, now)
            if exc.kind in ("not_found", "redirect"):
                # The setup's fault, as for the posting endpoint: the operator reads the log.
                log.error("x responder: %s", error)
            raise error from None
        else:
            # Billed like a source's page: the includes (parents, authors) too.
            self.ledger.add(now, usage.page_counts(page))
        finally:
            # Only once counted: released earlier, its reads counted nowhere meanwhile.
            self.ledger.release_reads(hold)
        wanted = _normal(action.text)
        for tweet in page.tweets:
            if not isinstance(tweet, dict) or _as_sent(str(tweet.get("text", ""))) != wanted:
                continue
            # The same text may answer another post of the thread; only ours counts.
            if _replied_to(tweet) in (None, action.target_external_id):
                self._count_found(now, action.text)
                return str(tweet["id"])
        return None

    def _count_found(self, now: datetime, text: str) -> None:
        """Count a post of ours the thread check found: the attempt that made it failed
        (a timeout, a 5xx) and gave its write back, so x:writes fell one short of the
        posts X made and bills. A worker killed after counting its write counts it twice:
        the budget errs on the safe side, as the reads' counts do."""
        self.ledger.add(
            now, {usage.WRITES: 1, usage.REQUESTS: 1, usage.WRITES_WITH_URL: int(_has_url(text))}
        )

    def _check_reply_allowed(self, action: Action) -> None:
        with self.sessions() as session:
            stored = session.execute(
                select(Message.reply_allowed, Message.kind).where(
                    Message.platform == "x", Message.external_id == action.target_external_id
                )
            ).first()
        if stored is None or stored.reply_allowed:
            return
        if x_refuses_unmentioned(stored.kind, stored.reply_allowed):
            # X's API takes a reply only to a post that mentions the posting account or
            # answers its post; X's own app is not bound by that rule.
            raise ResponderError(
                "X refuses replies to posts that do not mention the brand account the "
                "replies come from, and this one neither names it nor answers its post; "
                "answer from X's own app",
                permanent=True,
            )
        raise ResponderError(
            "the author restricted replies to this post and has not mentioned the brand; "
            "a human must answer",
            permanent=True,
        )

    def _hold_reads(self, now: datetime) -> usage.Hold:
        """As a source does: hold the search's worst case, its full page with the posts
        it references in includes.tweets, against the day's reads and what requests
        under way hold, until it is counted.

        Posting without this look could post twice, so the send waits too: for
        midnight, or for the requests under way to be counted."""
        limit = self.x.budget.reads_per_day
        needed = usage.worst_case_reads(OWN_SEARCH)
        if needed > limit:
            # No day could ever fit it: waiting for midnight, which uses up no attempt,
            # met the same refusal every day and the reply never reached a person.
            raise ResponderError(
                f"x read budget: the check for an earlier post of this reply may read "
                f"{needed} posts (a search of {OWN_SEARCH} and the posts they reference), "
                f"more than x.budget.reads_per_day ({limit}) allows in a day; a person "
                "must check the thread and answer, or raise the budget",
                permanent=True,
            )
        hold = self.ledger.hold_reads(now, needed, limit)
        if isinstance(hold, usage.Hold):
            return hold
        spent, held = hold
        resumes = "the thread is checked for an earlier reply from"
        if spent + needed > limit:
            self._stop_at_budget(now, "read", limit, spent, "posts read today", resumes)
        retry = now + usage.HELD_RETRY
        raise ResponderError(
            f"x read budget: {held} posts held by X requests under way, {spent} of {limit} "
            f"read today; {resumes} {retry:%H:%M:%S} UTC",
            retry_after=retry,
            rate_limited=True,
        )

    def _take_write(self, now: datetime) -> None:
        """Count the post about to be made against the day's writes, or refuse it."""
        limit = self.x.budget.writes_per_day
        spent = self.ledger.take_one(now, usage.WRITES, limit)
        if spent is None:
            return
        self._stop_at_budget(now, "write", limit, spent, "posts today", "sending resumes at")

    def _stop_at_budget(
        self, now: datetime, kind: str, limit: int, spent: int, counted: str, resumes: str
    ) -> NoReturn:
        """Refuse until the next UTC midnight: ``spent`` of the day's ``limit`` leaves no
        room (as the ledger counted it, under its lock). The budget event (and its
        notice) once a day."""
        resume = usage.next_utc_midnight(now)
        detail = {"spent": spent, "limit": limit}
        if self.ledger.budget_event_once(f"{kind}s", "x-responder", now, detail):
            log.warning("x %s budget reached: %d of %d %s", kind, spent, limit, counted)
        when = f"{resume:%Y-%m-%d %H:%M} UTC"
        message = f"x {kind} budget: {spent} of {limit} {counted}; {resumes} {when}"
        # Our own quota, as a rate limit is X's: nothing posted, no attempt used up.
        raise ResponderError(message, retry_after=resume, rate_limited=True)


def responder_error(exc: XApiError, now: datetime, *, retry: bool = False) -> ResponderError:
    """``retry``: an earlier attempt may have posted this reply."""
    held = _held(exc, now)
    if held is not None:
        return held
    text = str(exc)
    lowered = text.lower()
    if _may_pass_later(exc):
        # Unreached: nothing can be in the thread, and the retry spares its billed search.
        return ResponderError(f"x temporarily failed: {text}", refused=not exc.reached)
    if exc.kind == "redirect":  # its Location is no words of X's to read
        reason = f"{REDIRECTED}; no reply can be sent until then"
        return ResponderError(f"{reason} ({text})", permanent=True)
    if "duplicate" in lowered and retry:
        # Most likely our own earlier attempt, which timed out after X took it; recent
        # search shows a new post only after a while. The next try looks again, and
        # after max_attempts a person takes over as for any failure.
        return ResponderError(
            "X refuses the reply as a duplicate, probably of our earlier attempt that it "
            f"took; the thread is checked again before the next try ({text})"
        )
    if "duplicate" in lowered:
        reason = "duplicate content: X refuses a post identical to an earlier one"
    elif "deleted or not visible" in lowered:
        reason = "the post was deleted or is not visible to the brand account"
    elif exc.kind == "not_found":
        # X answers a deleted parent with a 403 (code 385), never a 404: a 404 is the
        # endpoint itself missing, as behind a wrong x.api_base_url, and every reply meets it.
        reason = NO_ENDPOINT
    elif "where you are mentioned" in lowered:
        # An API rule, not the author's choice: the author may well take replies.
        reason = (
            "X's API takes a reply only to a post that mentions the posting account or "
            "that it wrote; a person can answer from X's own app"
        )
    elif "not allowed" in lowered or "restricted who can reply" in lowered:
        reason = "the author does not allow the brand to reply in this conversation"
    elif exc.kind == "auth":
        reason = "x rejected the posting credentials (x.consumer_key, x.access_token)"
    else:
        reason = "x refused the reply"
    return ResponderError(f"{reason} ({text})", permanent=True)


def _may_pass_later(exc: XApiError) -> bool:
    """Whether the same post may get another answer later. A 4xx other than 408 (a 429
    is a rate limit, handled before) is X's verdict on this request: retried, it met
    the same refusal until max_attempts and a person heard only that it gave up."""
    if exc.kind == "http":
        return exc.status is None or not 400 <= exc.status < 500 or exc.status == 408
    return exc.kind in ("server", "transport", "payload")


def lookup_error(exc: XApiError, now: datetime) -> ResponderError:
    """The search for our earlier reply failed: the retry waits for it, as for a send."""
    held = _held(exc, now)
    if held is None and not _may_pass_later(exc):
        # No later check gets past it (an access level without search, revoked keys, a
        # 409): retried, the reply reached a person only after max_attempts of them, and
        # as one that "could not be posted", though the timed-out attempt may have posted.
        refused = _search_refused(exc)
        return ResponderError(
            "the bot's reply may already be in the thread, check before answering: "
            f"{refused} ({exc})",
            permanent=True,
        )
    why = exc if held is None else held
    return ResponderError(
        f"cannot check the thread for our reply: {why}",
        retry_after=held.retry_after if held else None,
        rate_limited=held.rate_limited if held else False,
    )


def _search_refused(exc: XApiError) -> str:
    # X search answers an unknown thread with no posts: a 404 is the endpoint missing.
    if exc.kind == "not_found":
        return NO_SEARCH_ENDPOINT
    if exc.kind == "redirect":
        return REDIRECTED
    return "X refused the search for it"


def _held(exc: XApiError, now: datetime) -> ResponderError | None:
    """X takes nothing from us for now: a 429. Nothing was posted either way."""
    if usage_capped(exc):
        # Its x-rate-limit-reset is the 15-minute window's: waiting for it tried again,
        # and used up an attempt, every 15 minutes. The cap has no announced end, so
        # the attempts count (an hour apart): after max_attempts a person answers from
        # X's own app, which the API cap does not cover.
        retry = now + USAGE_CAP_RETRY
        return ResponderError(
            f"x usage cap reached ({exc}): X takes no requests from this App's project "
            f"until the cap resets or the plan changes; the reply is tried again at "
            f"{retry:%Y-%m-%d %H:%M} UTC",
            retry_after=retry,
            refused=True,  # a 429: X took nothing
        )
    if exc.kind == "rate_limited":
        return ResponderError(
            f"x rate limited: {exc}", retry_after=exc.rate.reset_by(now), rate_limited=True
        )
    return None


def _has_url(text: str) -> bool:
    # URL alone knew fewer endings than the length count: acme.ca/help passed.
    return URL.search(text) is not None or x_has_link(text)


def _replied_to(tweet: dict[str, Any]) -> str | None:
    refs = tweet.get("referenced_tweets")
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("type") == "replied_to":
            return str(ref.get("id"))
    return None


def _as_sent(text: str) -> str:
    """X's copy of a post in the terms of ``_normal``: X escapes & < > as HTML entities.

    Only X's side is unescaped: ours is what we sent, and unescaping it too turned a
    literal ``&not`` or ``&lt;`` (HTML entities) into another text than X shows."""
    return _normal(html.unescape(text))


def _normal(text: str) -> str:
    """A post's text as compared with ours: X puts the handles of the thread before a
    reply's text (``@carla Sorry...``) and makes every link a t.co one, so neither the
    leading handles nor the links count. X keeps the text NFC: ``e`` + U+0301 we sent
    reads back as ``é``."""
    text = unicodedata.normalize("NFC", text)
    words = REPLY_HANDLES.sub("", " ".join(text.split())).split()
    # A whole word: X links a name with its subdomains (status.acme.com) and keeps the
    # punctuation after it, both outside what URL matches. x_has_link too: X makes a
    # t.co link of endings URL does not list (acme.ca/help), and ours read as text.
    return " ".join("<link>" if _linked(word) else word for word in words)


def _linked(word: str) -> bool:
    return URL.search(word) is not None or x_has_link(word)
