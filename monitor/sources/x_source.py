"""X mentions and recent-search sources: since_id sweeps, budget, rate limits, threads.

``poll`` reads a whole sweep (the ``next_token`` pages answering one ``since_id``, up to
``max_pages``) and hands it over at once: X pages newest first, and pages stored one by
one were decided newest first, so a customer's "it arrived, thanks" on the first page
opened the case before their complaint on the second. Stored together, a sweep is
sorted into the order it was written. A sweep cut short (a rate limit, an error, the
time bound) keeps its place in the cursor, and the next poll reads on. It never sleeps:
a rate limit or a spent budget becomes a time the scheduler must wait for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from monitor.clock import Clock
from monitor.domain import Direction, Mention
from monitor.sources import x_usage as usage
from monitor.sources.base import (
    BackfillRefused,
    FetchInterrupted,
    PollResult,
    SourceError,
    Window,
    rerun_until,
    window_flags,
)
from monitor.sources.x import Page, XApi, XApiError
from monitor.sources.x_cursor import (
    Sweep,
    XCursor,
    decode,
    newer,
    older,
    overlap_since,
    snowflake_at,
    snowflake_time,
)
from monitor.sources.x_errors import source_error
from monitor.sources.x_parse import Origin, Parsed, XBrand, parse_page
from monitor.sources.x_settings import (
    SWEEP_SECONDS,
    XMentionsSourceConfig,
    XSearchSourceConfig,
    XSettings,
)
from monitor.store.models import Message

log = logging.getLogger("inchannel.x")

# The mentions timeline only holds the 800 most recent mentions (notes/platforms.md 5.1).
MENTIONS_WINDOW = 800
# Recent search only reaches this far back; a minute of margin for clock skew.
SEARCH_WINDOW = timedelta(days=7) - timedelta(minutes=1)
# The first moment X's post ids carry (a --since or --until maps to an id through it).
_ID_EPOCH = snowflake_time("0")
# How long a --since suggested for recent search stays inside its reach, at least.
SUGGESTION_MARGIN = timedelta(minutes=30)
# A search backfill whose since_id left the 7 days reads on from this far inside them:
# moved to the very edge, it left them again by the next page, which was asked without
# its page token (an empty page with one was asked again and again).
EDGE_MARGIN = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class XSourceParts:
    api: XApi
    brand: XBrand
    x: XSettings
    sessions: sessionmaker[Session]
    # Each request is held and counted as of when it is made: a sweep crossing midnight
    # UTC reads its later pages on the new day's budget.
    clock: Clock
    # Channels told about a budget stop: alerts.channels and x.budget.notify.
    notify: tuple[str, ...] = ()


class XSource:
    def __init__(
        self, config: XMentionsSourceConfig | XSearchSourceConfig, parts: XSourceParts
    ) -> None:
        self.name = config.name
        self.config = config
        self.api, self.brand, self.x = parts.api, parts.brand, parts.x
        self.sessions, self.clock = parts.sessions, parts.clock
        # Each hold is taken just before its one request, as of that moment.
        hold_for = usage.hold_lifetime(parts.x.timeout_seconds)
        notify = parts.notify or parts.x.budget.notify
        self.ledger = usage.XLedger(parts.sessions, notify, hold_for=hold_for)
        self.origin = Origin.MENTIONS if config.type == "x_mentions" else Origin.SEARCH
        # Set when X refused a stored next_token (expired while we waited on a rate
        # limit); the cursor cannot change on a failed poll, so the next poll drops it.
        self._token_refused = False
        # The since_id of a sweep this poll restarted because it left the 7-day window:
        # recorded as a gap once a page is read.
        self._left_window: str | None = None

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        state = decode(cursor)
        self._left_window = None
        if state.in_sweep and (self._token_refused or self._since_out_of_reach(state, now)):
            state = self._restarted(state, now)
        sweep = Sweep(state)
        started = time.monotonic()
        while True:
            try:
                more = self._read_page(sweep, self.clock.now())
            except SourceError as exc:
                if not sweep.pages:
                    raise
                # The pages read are paid for and kept; the cursor holds the sweep's
                # place, and the next poll (after a rate limit's reset) reads on.
                sweep.stopped(exc)
                return self._result(sweep, more=False)
            if not more:
                return self._result(sweep, more=False)
            if time.monotonic() - started > SWEEP_SECONDS:
                # Stored now, so the lease cannot lapse.
                return self._result(sweep, more=True)

    def _result(self, sweep: Sweep, *, more: bool) -> PollResult:
        """What the poll read of ``sweep``. A customer's parent that a page still to be
        read may list as a mention (the sweep was cut short) is stored as context only:
        stored as their post, it was decided as one that allows no replies, and the
        mention itself was then dropped as a duplicate. Listed, it is promoted and
        decided once; the brand's posts are never listed, and join the case at once."""
        awaited = frozenset(
            c.external_id
            for c in sweep.context
            if not self._by_brand(c) and sweep.state.may_list(c.external_id)
        )
        return self._edits_apart(sweep.result(more=more, awaited=awaited), sweep.versions)

    def _since_out_of_reach(self, state: XCursor, now: datetime) -> bool:
        """Whether a search sweep's since_id has fallen out of the 7-day window while it
        waited (a rate limit's reset, a backoff): X answers 400 to the next page."""
        return self._left_search_window(state.since_id, now)

    def _restarted(self, state: XCursor, now: datetime) -> XCursor:
        """The sweep without its page token: from its since_id (moved up to the 7-day
        window's edge) down to the oldest post it has read. Started over from scratch,
        it read and paid for its first pages again."""
        since = state.since_id
        if self._since_out_of_reach(state, now):
            since = snowflake_at(now - SEARCH_WINDOW)
            if state.sweep_oldest is not None and int(state.sweep_oldest) <= int(since):
                # The pages read left the 7 days too: nothing X still serves lies below
                # them, and a since_id above the until_id is refused (400), which stopped
                # the source for good. Read the window like any week-old cursor, which
                # records the gap from where the sweep began.
                return XCursor(newest_id=state.newest_id)
            self._left_window = state.since_id
        below = state.read_on_below(since)
        return below if below is not None else XCursor(newest_id=state.newest_id)

    def _read_page(self, sweep: Sweep, now: datetime) -> bool:
        """Read the sweep's next page, requested at ``now``, into ``sweep``; whether to
        read on at once."""
        state = sweep.state
        since = state.since_id if state.in_sweep else self._since(state, now)
        with self._reads_held(now):
            page = self._fetch(since, state.next_token, now, until=state.until_id)
        if self._left_window is not None:
            lost = XCursor(since_id=self._left_window, sweep_count=state.sweep_count)
            self._gap(now, lost, "sweep resumed after its since_id left the 7-day window")
            self._left_window = None
        if not state.in_sweep and self._out_of_reach(state, now):
            # Recorded once the window is read: each failed try recorded it again.
            self._gap(now, XCursor(since_id=state.newest_id), "cursor older than 7 days")
        parsed = parse_page(page.tweets, page.users, self.brand, self.origin)
        # The sweep's earlier pages are stored with this one, at its end: a parent they
        # found (or listed) is in no table yet, and was fetched and billed again.
        context, context_problems = self._thread_context(
            parsed.mentions, page, self.clock, sweep.found()
        )
        if parsed.own or parsed.retweets:
            log.info("source=%s skipped own=%d retweets=%d", self.name, parsed.own, parsed.retweets)
        for problem in parsed.problems:
            log.warning("source=%s skipped malformed %s", self.name, problem)
        next_cursor, more = self._advance(state, since, page, parsed, now)
        sweep.add(next_cursor, parsed.mentions, context, [*parsed.problems, *context_problems])
        sweep.versions.update(parsed.versions)
        sweep.reset_at = page.rate.reset_by(now) if page.rate.exhausted else None
        return more

    def backfill(self, window: Window, *, clock: Clock) -> Iterator[PollResult]:
        """History by time, newest page first, billed and budgeted like a poll. Recent
        search reaches back 7 days; the mentions timeline holds the latest 800 posts.

        Stopped part way (the read budget, a rate limit, an error), the SourceError says
        how far back the window was read and the --until that goes on from there: a
        rerun of the same window starts again from its newest post, so one larger than
        a day's budget or a rate-limit window read (and paid for) the same pages every
        time and never got further."""
        self._check_reach(window, clock.now())
        reach = _Reach()
        try:
            yield from self._backfill_pages(window, clock, reach)
        except SourceError as exc:
            if reach.parents:
                # The held parents, so the mentions fetched keep their threads.
                yield PollResult(reach.release(done=True), None)
            raise SourceError(
                f"{exc}; {_rerun(window, reach)}",
                permanent=exc.permanent,
                retry_at=exc.retry_at,
                kind=exc.kind,
            ) from None
        except KeyboardInterrupt:
            if reach.oldest is None:
                raise
            if reach.parents:
                # As on an error: dropped, the parents held back left the mentions
                # fetched without their threads. Handed over before the caller hears of
                # the interruption (at its next page, or as throw's answer).
                yield PollResult(reach.release(done=True), None)
            raise FetchInterrupted(rerun_until("the window", reach.oldest)) from None

    def _backfill_pages(self, window: Window, clock: Clock, reach: _Reach) -> Iterator[PollResult]:
        since, token = _since_id(window.since), None
        # X stops at until_id (exclusive, like --until), so posts after the window are
        # neither read nor billed; a window reaching into the future needs no bound.
        start = clock.now()
        until = snowflake_at(window.until) if window.until and window.until < start else None
        while True:
            # Each request budgeted and billed as of when it is made: a run crossing
            # midnight UTC reads on the new day's budget, as the live poll does.
            now = clock.now()
            if self._left_search_window(since, now):
                # X answers 400 to a since_id older than 7 days, page token or not: read
                # on from the window's edge, below the posts read so far.
                edge = now - SEARCH_WINDOW + EDGE_MARGIN
                since, token = snowflake_at(edge), None
                until = str(reach.lowest) if reach.lowest is not None else until
                reach.lost_before = edge
            with self._reads_held(now):
                page = self._fetch(since, token, now, until=until)
            parsed = parse_page(page.tweets, page.users, self.brand, self.origin)
            kept = [m for m in parsed.mentions if m.created_at in window]
            context, problems = self._thread_context(kept, page, clock, reach.found)
            reach.found.update(c.external_id for c in context)
            token = page.next_token
            reach.add(page, parsed)
            reach.hold(context, kept, window)
            if token is None:
                problems.extend(self._timeline_cut(reach))
                problems.extend(self._edge_moved(reach))
            result = PollResult(
                [*kept, *reach.release(done=token is None)],
                None,
                more=token is not None,
                problems=[*parsed.problems, *problems],
            )
            yield self._edits_apart(result, parsed.versions)
            if token is None:
                return
            if page.rate.exhausted:
                reset = page.rate.reset_by(now)
                when = f"until {reset:%Y-%m-%d %H:%M:%S} UTC" if reset else "(no reset time sent)"
                raise SourceError(f"x rate limited {when}", retry_at=reset, kind="rate_limited")

    def _edits_apart(
        self, result: PollResult, versions: Mapping[str, frozenset[str]]
    ) -> PollResult:
        """``result`` with the edits of posts already read moved to its context.

        X gives an edited post a new id: as a mention, the edit was decided again and
        the bot could answer one complaint twice. An edit of a post stored as a mention,
        or of one read earlier in ``result``, is kept in that post's thread (stored as
        context, never decided); the post keeps the text it was read with. Read again,
        it is an edit again, so it is never promoted to a mention either."""
        if not versions:
            return result
        known = self._stored_threads(set().union(*versions.values()))
        edits: dict[str, str] = {}  # edit id -> the thread of the version read first
        for mention in sorted(result.mentions, key=lambda m: int(m.external_id)):
            read = sorted((i for i in versions.get(mention.external_id, ()) if i in known), key=int)
            if read:
                edits[mention.external_id] = known[read[0]]
            known.setdefault(mention.external_id, mention.conversation_id)
        if not edits:
            return result
        for edit in edits:
            log.info("source=%s post %s is an edit of one already read", self.name, edit)
        return replace(
            result,
            mentions=[m for m in result.mentions if m.external_id not in edits],
            context=[
                *result.context,
                *(
                    replace(m, conversation_id=edits[m.external_id])
                    for m in result.mentions
                    if m.external_id in edits
                ),
            ],
        )

    def _stored_threads(self, ids: set[str]) -> dict[str, str]:
        """The conversation of each of ``ids`` stored as a customer's post (a mention, or
        a parent stored for a thread's context), by id."""
        with self.sessions() as session:
            rows = session.execute(
                select(Message.external_id, Message.conversation_id).where(
                    Message.platform == "x",
                    Message.external_id.in_(sorted(ids)),
                    Message.direction == Direction.INBOUND.value,
                )
            )
            return {str(i): str(c) for i, c in rows}

    def _check_reach(self, window: Window, now: datetime) -> None:
        if self.origin is Origin.SEARCH and window.since < now - SEARCH_WINDOW:
            raise BackfillRefused(
                f"source {self.name}: X recent search reaches back 7 days only; use --since "
                f"{_reachable_since(now):%Y-%m-%dT%H:%M} or later (older posts need the "
                "full-archive search, which inchannel does not use)"
            )
        if window.until is not None and int(snowflake_at(window.until)) <= 0:
            # No id stands for a moment before the ids' epoch: X was sent until_id=0,
            # an id no post has, once the command had started.
            raise BackfillRefused(
                f"source {self.name}: --until {window.until:%Y-%m-%d %H:%M} UTC is before "
                f"{_ID_EPOCH:%Y-%m-%d %H:%M} UTC, when X's post ids start to carry their "
                "time, so X cannot be asked for posts before it (and the mentions timeline "
                f"holds the {MENTIONS_WINDOW} most recent mentions only)"
            )

    def _left_search_window(self, since: str | None, now: datetime) -> bool:
        """Whether a search backfill's since_id has left the 7 days since its check: a
        --since just inside them passes it, and a long run outlives them."""
        return (
            self.origin is Origin.SEARCH
            and since is not None
            and snowflake_time(since) < now - SEARCH_WINDOW
        )

    def _edge_moved(self, reach: _Reach) -> list[str]:
        if reach.lost_before is None:
            return []
        return [
            f"{self.name}: X recent search no longer reaches back to --since: posts before "
            f"{reach.lost_before:%Y-%m-%d %H:%M:%S} UTC were not read (the window's start "
            "left the 7 days while the backfill ran)"
        ]

    def _timeline_cut(self, reach: _Reach) -> list[str]:
        """The problem line when the mentions timeline ran out at X's 800 posts: X then
        moves since_id up to the oldest post it keeps, so the window was not covered and
        nothing else would say so."""
        if self.origin is not Origin.MENTIONS or reach.read < MENTIONS_WINDOW:
            return []
        end = f"{reach.oldest:%Y-%m-%d %H:%M} UTC" if reach.oldest else "its 800th post"
        return [
            f"{self.name}: X's mentions timeline ends at {end} (X keeps the "
            f"{MENTIONS_WINDOW} most recent mentions); older mentions cannot be fetched"
        ]

    def _since(self, state: XCursor, now: datetime) -> str | None:
        if state.newest_id is None:
            return None
        since = overlap_since(state.newest_id, self.config.overlap_seconds)
        if self.origin is not Origin.SEARCH:
            return since
        floor = snowflake_at(now - SEARCH_WINDOW)
        if self._out_of_reach(state, now):
            # X answers 400 to a since_id outside the 7-day window: read the whole window.
            return floor
        # The overlap must not push a quiet search's since_id out of the window either:
        # that 400 would stop the source for good.
        return newer(since, floor)

    def _out_of_reach(self, state: XCursor, now: datetime) -> bool:
        """Whether a search's newest id has fallen out of recent search's 7 days."""
        return (
            self.origin is Origin.SEARCH
            and state.newest_id is not None
            and snowflake_time(state.newest_id) < now - SEARCH_WINDOW
        )

    def _fetch(
        self, since: str | None, token: str | None, now: datetime, *, until: str | None = None
    ) -> Page:
        size = self.config.max_results
        try:
            if isinstance(self.config, XSearchSourceConfig):
                page = self.api.search(
                    self.config.query, since_id=since, token=token, max_results=size, until_id=until
                )
            else:
                page = self.api.mentions(
                    self.x.user_id, since_id=since, token=token, max_results=size, until_id=until
                )
        except XApiError as exc:
            self._count(now, None)
            self.ledger.merge_details(self.name, {"rate_limit": exc.rate.as_details()})
            if exc.kind == "bad_request" and token is not None:
                self._token_refused = True
                raise SourceError(f"x refused the page token; the sweep restarts: {exc}") from None
            raise source_error(exc, now) from None
        self._token_refused = False
        self._count(now, page)
        self.ledger.merge_details(self.name, {"rate_limit": page.rate.as_details()})
        refusal = _refusal(page)
        if refusal:
            raise SourceError(
                f"x refused the request (HTTP 200 with errors only: {refusal}); check "
                "x.user_id and the source's query",
                permanent=True,
                kind="not_found",
            )
        return page

    def _count(self, now: datetime, page: Page | None) -> None:
        self.ledger.add(now, usage.page_counts(page))

    @contextmanager
    def _reads_held(self, now: datetime) -> Iterator[None]:
        """The day's read budget around one request: its worst case held while it runs."""
        hold = self._check_budget(now)
        try:
            yield
        finally:
            self.ledger.release_reads(hold)

    def _check_budget(self, now: datetime) -> usage.Hold:
        """Stop short: refuse a request whose full page could overrun the day's budget,
        else hold its room until it is counted; the reads held, to release.

        A full page is ``max_results`` posts and the posts they reference in
        includes.tweets, billed too: the budget is a bound, not a target."""
        limit = self.x.budget.reads_per_day
        needed = usage.worst_case_reads(self.config.max_results)
        if needed > limit:
            # No day could ever fit it: only the config can, and a restart reads that.
            raise SourceError(
                f"x read budget: one request of {self.name} may read {needed} posts "
                f"(max_results {self.config.max_results} and the posts they reference), "
                f"more than x.budget.reads_per_day ({limit}) allows in a day; raise it or "
                "lower the source's max_results",
                permanent=True,
            )
        hold = self.ledger.hold_reads(now, needed, limit)
        if isinstance(hold, usage.Hold):
            return hold
        spent, held = hold
        if spent + needed > limit:
            self._stop_for_the_day(now, spent, limit)
        # Only requests under way fill the budget: once counted, they may leave room.
        retry = now + usage.HELD_RETRY
        raise SourceError(
            f"x read budget: {held} posts held by X requests under way, {spent} of "
            f"{limit} read today; polling again at {retry:%H:%M:%S} UTC",
            retry_at=retry,
        )

    def _stop_for_the_day(self, now: datetime, spent: int, limit: int) -> NoReturn:
        resume = usage.next_utc_midnight(now)
        detail = {"spent": spent, "limit": limit, "source": self.name}
        if self.ledger.budget_event_once("reads", self.name, now, detail):
            log.warning("x read budget reached: %d of %d posts read today", spent, limit)
        self.ledger.merge_details(
            self.name, {usage.BUDGET_STOP: {**detail, "until": resume.isoformat()}}
        )
        raise SourceError(
            f"x read budget: {spent} of {limit} posts read today; polling resumes at "
            f"{resume:%Y-%m-%d %H:%M} UTC",
            retry_at=resume,
        )

    def _advance(
        self, state: XCursor, since: str | None, page: Page, parsed: Parsed, now: datetime
    ) -> tuple[XCursor, bool]:
        raw_count = page.meta.get("result_count")
        count = raw_count if isinstance(raw_count, int) else len(page.tweets)
        newest = newer(_max_id(parsed.ids), _str(page.meta.get("newest_id")))
        # An empty answer still moves the cursor up to a since_id above it (the 7-day
        # floor); an overlap since_id is below the newest id and changes nothing.
        newest = newer(newest, since)
        token = page.next_token
        oldest = older(_min_id(parsed.ids), _str(page.meta.get("oldest_id")))
        swept = state.continued(since, token, newest, count, oldest)
        # First start: one page of history, not the whole window (each post is billed).
        first_start = state.newest_id is None and not state.in_sweep
        if token and not first_start and swept.sweep_pages < self.config.max_pages:
            return swept, not page.rate.exhausted
        if token and not first_start:
            self._gap(now, swept, f"page cap of {self.config.max_pages} reached")
        elif self.origin is Origin.MENTIONS and swept.sweep_count >= MENTIONS_WINDOW:
            self._gap(
                now, swept, f"{swept.sweep_count} new mentions: the 800-post window overflowed"
            )
        return swept.finish(), False

    def _gap(self, now: datetime, swept: XCursor, reason: str) -> None:
        detail = {
            "source": self.name,
            "reason": reason,
            "since_id": swept.since_id,
            "fetched": swept.sweep_count,
        }
        log.warning("source=%s gap: %s", self.name, reason)
        self.ledger.event("gap", self.name, now, detail)
        self.ledger.merge_details(self.name, {"last_gap": {**detail, "at": now.isoformat()}})

    def _thread_context(
        self,
        mentions: Sequence[Mention],
        page: Page,
        clock: Clock,
        found_before: AbstractSet[str] = frozenset(),
    ) -> tuple[list[Mention], list[str]]:
        """Parents of replies we have not stored, up to ``thread_depth`` levels, nor
        found before (``found_before``: a backfill's, kept for the import, not stored).

        Level one comes from includes.tweets of the same answer; a parent missing there
        is deleted or protected (X lists it in errors[]), so asking again would only
        spend a read. Deeper levels are fetched by id, each request held to the read
        budget like a poll (context is never worth passing it); its includes.tweets
        bring the level after it."""
        found: list[Mention] = []
        problems: list[str] = []
        pool, users = dict(page.included), dict(page.users)
        # The page's own mentions are stored with it at every level: a grandparent among
        # them (a complaint, the brand's answer, the follow-up) was fetched and billed.
        found_before = frozenset(found_before) | {m.external_id for m in mentions}
        wanted = self._unseen_parents(mentions, found_before)
        # Each post's customers: the authors of the mentions its chain of replies starts
        # from (a brand reply in between included).
        customers = {m.external_id: {m.author.id} for m in mentions}
        short = ""
        for level in range(self.config.thread_depth):
            missing = [i for i in wanted if i not in pool]
            if missing and level > 0 and not short:
                short = self._fetch_into(pool, users, missing[:100], clock.now())
                if short:
                    problems.append(f"thread context not fetched: {short}")
            items = [pool[i] for i in wanted if i in pool]
            parsed = parse_page(items, users, self.brand, Origin.CONTEXT)
            kept = self._in_conversation(parsed.mentions, mentions, customers)
            found.extend(kept)
            problems.extend(f"parent {p}" for p in parsed.problems)
            mentions, wanted = kept, self._unseen_parents(kept, found_before)
            if not wanted:
                break
        return found, problems

    def _in_conversation(
        self,
        parents: Sequence[Mention],
        children: Sequence[Mention],
        customers: dict[str, set[str]],
    ) -> list[Mention]:
        """Parents by the brand or by the customer whose mention replied to them, directly
        or through the brand's answer; ``customers`` learns the kept parents'.

        Every stored post is processed as customer input, so a third party's post would
        open a case for someone who never addressed the brand; those are left out, also
        when their author wrote another mention of the page."""
        kept = []
        for parent in parents:
            replied = [c for c in children if c.in_reply_to == parent.external_id]
            theirs: set[str] = set().union(*(customers.get(c.external_id, set()) for c in replied))
            if parent.author.id in theirs or self._by_brand(parent):
                customers[parent.external_id] = theirs
                kept.append(parent)
            else:
                log.info("source=%s parent %s by a third party not stored", self.name,
                         parent.external_id)  # fmt: skip
        return kept

    def _by_brand(self, post: Mention) -> bool:
        return self.brand.is_brand(post.author.id, post.author.handle)

    def _fetch_into(
        self,
        pool: dict[str, dict[str, Any]],
        users: dict[str, dict[str, Any]],
        ids: list[str],
        now: datetime,
    ) -> str:
        """Add the posts ``ids`` (and their authors) to ``pool`` and ``users``; when they
        could overrun the day's read budget, fetch nothing and return why."""
        limit = self.x.budget.reads_per_day
        # The lookup has the same expansions: the parents' own parents come back too.
        needed = usage.worst_case_reads(len(ids))
        hold = self.ledger.hold_reads(now, needed, limit)
        if not isinstance(hold, usage.Hold):
            spent, held = hold
            if spent + needed > limit:
                return f"x read budget: {spent} of {limit} posts read today"
            # The day has room: only requests under way hold it, as a poll says then.
            return (
                f"x read budget: {held} posts held by X requests under way, "
                f"{spent} of {limit} read today"
            )
        try:
            fetched = self._fetch_parents(ids, now)
        except XApiError as exc:
            return str(exc)
        finally:
            self.ledger.release_reads(hold)
        # An item without an id is left out here; each kept one is checked in parse_page.
        # Their own parents, brought (and billed) by the same expansions: the next level
        # reads them here instead of asking X for them again.
        pool.update(fetched.included)
        pool.update((str(t["id"]), t) for t in fetched.tweets if isinstance(t, dict) and "id" in t)
        users.update(fetched.users)
        return ""

    def _fetch_parents(self, ids: list[str], now: datetime) -> Page:
        """The posts ``ids``; an empty page when X says they are deleted or protected.

        Any other failure (429, 5xx, a timeout) is raised for the poll to report: it
        says nothing about the parents, and the mentions, once stored, never ask again."""
        try:
            page = self.api.tweets(ids)
        except XApiError as exc:
            self._count(now, None)
            if exc.kind not in ("not_found", "forbidden"):
                raise
            log.info("source=%s parents unavailable: %s", self.name, exc)
            return Page([], {}, {}, [], {}, exc.rate)
        self._count(now, page)
        for error in page.errors:
            log.info("source=%s parent unavailable: %s", self.name, str(error)[:200])
        return page

    def _unseen_parents(
        self, mentions: Sequence[Mention], found_before: AbstractSet[str] = frozenset()
    ) -> list[str]:
        parents = {m.in_reply_to for m in mentions if m.in_reply_to}
        parents -= {m.external_id for m in mentions} | found_before
        if not parents:
            return []
        with self.sessions() as session:
            known = set(
                session.scalars(
                    select(Message.external_id).where(
                        Message.platform == "x", Message.external_id.in_(parents)
                    )
                )
            )
        return sorted(parents - known)


def _since_id(since: datetime) -> str | None:
    """X's since_id for an inclusive --since: since_id is exclusive, so the id just below
    the smallest one a post created at ``since`` can have. None (no lower bound) for a
    moment before X's ids carried time."""
    smallest = int(snowflake_at(since))
    return str(smallest - 1) if smallest > 0 else None


def _reachable_since(now: datetime) -> datetime:
    """A --since to suggest: the whole hour after the search's reach plus half an hour,
    so it is still inside the reach when the command is typed again. The reach's first
    date would not do: its midnight lies before the reach."""
    later = now - SEARCH_WINDOW + SUGGESTION_MARGIN
    hour = later.replace(minute=0, second=0, microsecond=0)
    return hour if hour == later else hour + timedelta(hours=1)


def _rerun(window: Window, reach: _Reach) -> str:
    """The command that finishes ``window``. With no mention read, nothing says how far
    back it was read: the same window again, the one command sure to leave nothing out
    (the message used to end with no command at all)."""
    if reach.oldest is None:
        flags = window_flags(window)
        return f"no mention of the window was read: rerun the same window with {flags}"
    return rerun_until("the window", reach.oldest)


@dataclass
class _Reach:
    """How far back a backfill has read (posts X returned, the oldest one's time, the
    lowest id), and the thread context held back until the listing has read past it.

    Pages come newest first, so a follow-up's parent arrived as context (never to be
    answered) a page or more before it arrived as a mention; the spool keeps a post's
    first copy, and the mention was decided as one whose author allows no replies. A
    parent inside the window now waits until the listing is past its id, and is dropped
    if it came as a mention meanwhile: a live sweep puts mentions before context too."""

    read: int = 0
    oldest: datetime | None = None
    lowest: int | None = None
    # Where a search backfill read on from after its since_id left the 7 days.
    lost_before: datetime | None = None
    parents: dict[str, Mention] = field(default_factory=dict)  # held, by id
    ready: list[Mention] = field(default_factory=list)
    # Every parent found so far, held or handed on: none is stored before the import, so
    # a thread spanning pages fetched (and X billed) its ancestors again on every page.
    found: set[str] = field(default_factory=set)

    def add(self, page: Page, parsed: Parsed) -> None:
        self.read += len(page.tweets)
        times = [m.created_at for m in parsed.mentions]
        if self.oldest is not None:
            times.append(self.oldest)
        self.oldest = min(times, default=None)
        ids = [int(i) for i in parsed.ids]
        self.lowest = min([*ids, *([] if self.lowest is None else [self.lowest])], default=None)

    def hold(self, context: Sequence[Mention], kept: Sequence[Mention], window: Window) -> None:
        for mention in kept:
            self.parents.pop(mention.external_id, None)
        for parent in context:
            if parent.created_at in window:
                self.parents[parent.external_id] = parent
            else:  # never one of the window's mentions
                self.ready.append(parent)

    def release(self, *, done: bool) -> list[Mention]:
        """The parents the listing has read past (all of them once it is ``done``)."""
        passed = [
            key for key in self.parents if done or self.lowest is None or int(key) >= self.lowest
        ]
        out, self.ready = [*self.ready, *(self.parents.pop(key) for key in passed)], []
        return out


def _refusal(page: Page) -> str:
    """X's words when it answered 200 with nothing but ``errors``, else "".

    That is how X refuses a timeline whose account does not exist or is suspended (a
    wrong x.user_id, a banned brand account): taken for an empty page, nothing would
    ever arrive and nothing would say why. A real empty page carries ``meta``."""
    if page.tweets or page.meta or not page.errors:
        return ""
    parts = []
    for error in page.errors[:3]:
        if isinstance(error, dict):
            words = [error.get(k) for k in ("title", "detail")]
            parts.append(": ".join(w for w in words if isinstance(w, str) and w))
    return "; ".join(p for p in parts if p)[:300] or "no detail"


def _max_id(ids: Sequence[str]) -> str | None:
    return max(ids, key=int) if ids else None


def _min_id(ids: Sequence[str]) -> str | None:
    return min(ids, key=int) if ids else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
