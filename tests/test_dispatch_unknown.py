"""An action that may have been posted is looked up before every later send: a failed
lookup or a timed-out send never turns into a blind re-post (DESIGN rule 2)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from monitor import triage
from monitor.domain import Action, ActionKind, ActionStatus, Platform
from monitor.pipeline import dispatch_outbox, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow, Event
from responders.base import SendResult
from tests.conftest import RuntimeFactory, mention
from tests.fakeapi import FakeAPI, Reply
from tests.fakes import CrashAfterPost, ScriptedResponder, temporary
from tests.reddit_fake import (
    BRAND,
    RATE,
    api_error,
    comment,
    created_comment,
    listing,
    serve_token,
)
from tests.test_cases import actions, escalated_to_a_chat
from tests.test_dispatch import OUTAGE, action, queued
from tests.test_reddit_responder import (
    mention_from,
    reddit_runtime,
    serve_thread,
    thread_with_replies,
)
from tests.xapi import (
    MENTIONS,
    SEARCH,
    USAGE_CAPPED,
    body,
    limits,
    ok,
    tid,
    too_many,
    tweet,
    x_runtime,
)


class FlakyLookup(ScriptedResponder):
    """The thread cannot be read for the next ``failing_lookups`` lookups."""

    failing_lookups: int = 0

    def find_own_reply(self, action: Action) -> str | None:
        if self.failing_lookups:
            self.failing_lookups -= 1
            self.lookups += 1
            raise temporary("502 while reading the thread")
        return super().find_own_reply(action)


class AcceptedThenTimedOut(ScriptedResponder):
    """The platform takes the post, but the answer never reaches us."""

    def send(self, action: Action) -> SendResult:
        super().send(action)
        raise temporary("read timed out")


def sent_events(rt: Runtime) -> list[dict[str, object]]:
    with rt.sessions() as session:
        return [e.detail for e in session.scalars(select(Event).where(Event.kind == "sent"))]


def test_a_failed_lookup_leaves_the_outcome_unknown(make_runtime: RuntimeFactory) -> None:
    rt, _ = queued(make_runtime)
    responder = FlakyLookup(crash_after_post=True)
    rt.responders[Platform.X] = responder
    with pytest.raises(CrashAfterPost):
        dispatch_outbox(rt)
    responder.crash_after_post, responder.failing_lookups = False, 1
    rt.clock.advance(minutes=11)  # type: ignore[attr-defined]
    dispatch_outbox(rt)  # the dead worker's claim: its lookup fails
    assert action(rt).status == ActionStatus.FAILED
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)  # still unknown: looked up again, found, not posted again
    row = action(rt)
    assert (row.status, row.result_external_id) == (ActionStatus.SENT, "p1")
    assert len(responder.posts) == 1
    assert responder.lookups == 2
    assert sent_events(rt)[0]["recovered"] is True


def test_a_retry_after_a_timed_out_send_looks_first(make_runtime: RuntimeFactory) -> None:
    rt, _ = queued(make_runtime)
    responder = AcceptedThenTimedOut()
    rt.responders[Platform.X] = responder
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.FAILED
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (action(rt).status, len(responder.posts)) == (ActionStatus.SENT, 1)


def test_a_dead_action_retried_by_a_person_looks_before_posting(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1, OUTAGE)], dispatch={"max_attempts": 2})
    responder = AcceptedThenTimedOut()
    rt.responders[Platform.X] = responder
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(temporary())  # attempt 1: refused, nothing posted
    dispatch_outbox(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)  # attempt 2 (the last): accepted, but the answer never came
    assert (action(rt).status, len(responder.posts)) == (ActionStatus.DEAD, 1)
    # The retry starts the attempts again; the last one's outcome is still unknown.
    triage.retry_action(rt, action(rt).id, user="lena")
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.attempts, row.result_external_id) == (ActionStatus.SENT, 1, "p1")
    assert len(responder.posts) == 1
    assert sent_events(rt)[0]["recovered"] is True


def test_a_first_attempt_posts_without_a_lookup(make_runtime: RuntimeFactory) -> None:
    rt, responder = queued(make_runtime)
    dispatch_outbox(rt)
    assert (action(rt).status, responder.lookups) == (ActionStatus.SENT, 0)


@pytest.fixture
def api() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def test_reddit_reply_is_not_posted_twice_after_a_failed_lookup(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "erin")
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        # The worker died after Reddit accepted the post but before "sent" was stored.
        row.status, row.attempts = ActionStatus.SENDING, 1
        row.updated_at = rt.clock.now() - timedelta(hours=1)
        text = row.text
    ours = comment("r5", "", author=BRAND, parent="t1_c1")
    ours["data"]["body"] = text  # a rule's template: posted as written
    serve_token(api)
    api.add("GET", "/api/info/?", listing(comment("c1", "my order is late")))
    # Reading the thread is rate limited once, then shows the reply we already posted.
    limited = Reply(429, {"retry-after": "60", **RATE}, b"whoa there")
    api.add("GET", "/comments/abc123/_/c1/?", limited, thread_with_replies(ours))
    api.add("POST", "/api/comment/?", created_comment("r6", "t1_c1", "a duplicate"))
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.FAILED
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert api.seen("POST", "/api/comment/?") == []
    row = action(rt)
    assert (row.status, row.result_external_id) == (ActionStatus.SENT, "t1_r5")


def test_an_x_retry_searches_the_thread_once(make_runtime: RuntimeFactory, api: FakeAPI) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("GET", SEARCH, ok(body([])))
    created = Reply.json({"data": {"id": tid(9), "text": "x"}}, 201)
    api.add("POST", "/2/tweets", Reply(503, {}, b"Service Unavailable"), created)
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (action(rt).status, action(rt).result_external_id) == (ActionStatus.SENT, tid(9))
    # The dispatcher looked; the responder does not search (and pay for) it again.
    assert len(api.seen("GET", SEARCH)) == 1
    assert len(api.seen("POST", "/2/tweets")) == 2


def refused(**kw: object) -> Exception:
    """A rate limit that took nothing: the platform refused the post outright."""
    return temporary("429 Too Many Requests", rate_limited=True, **kw)


def test_a_retry_after_a_rate_limit_posts_without_a_lookup(
    make_runtime: RuntimeFactory,
) -> None:
    # A 429 refused the post: nothing can be in the thread, and a lookup is a billed read.
    rt, responder = queued(make_runtime)
    responder.fail_next(refused(retry_after=rt.clock.now() + timedelta(minutes=15)))
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.FAILED
    rt.clock.advance(minutes=15)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (action(rt).status, len(responder.posts), responder.lookups) == (
        ActionStatus.SENT,
        1,
        0,
    )


def test_a_rate_limit_after_a_timed_out_send_still_looks_first(
    make_runtime: RuntimeFactory,
) -> None:
    # The first attempt may have posted; a refusal after it does not settle that.
    rt, responder = queued(make_runtime)
    responder.fail_next(temporary("read timed out"))
    dispatch_outbox(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    responder.fail_next(refused(retry_after=rt.clock.now() + timedelta(minutes=15)))
    dispatch_outbox(rt)  # looked (nothing), then refused by a rate limit
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (action(rt).status, responder.lookups) == (ActionStatus.SENT, 2)


def test_a_rate_limited_lookup_keeps_the_outcome_unknown(make_runtime: RuntimeFactory) -> None:
    rt, _ = queued(make_runtime)
    responder = FlakyLookup(crash_after_post=True)
    rt.responders[Platform.X] = responder
    with pytest.raises(CrashAfterPost):
        dispatch_outbox(rt)
    responder.crash_after_post = False
    rt.clock.advance(minutes=11)  # type: ignore[attr-defined]
    # The dead worker's claim: the thread cannot be read for now (refused, not posted).
    responder.failing_lookups = 1
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.FAILED
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (len(responder.posts), responder.lookups) == (1, 2)
    assert action(rt).result_external_id == "p1"


def test_an_x_reply_refused_by_a_429_is_posted_again_without_a_search(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("GET", SEARCH, ok(body([])))
    rt = x_runtime(make_runtime, api, responder=True)
    reset = int((rt.clock.now() + timedelta(minutes=15)).timestamp())
    created = Reply.json({"data": {"id": tid(9), "text": "x"}}, 201)
    api.add("POST", "/2/tweets", too_many(reset), created)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.FAILED
    rt.clock.advance(minutes=16)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (action(rt).status, action(rt).result_external_id) == (ActionStatus.SENT, tid(9))
    assert api.seen("GET", SEARCH) == []


def test_an_x_reply_refused_by_the_usage_cap_is_posted_again_without_a_search(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    api.add("GET", MENTIONS, ok(body([tweet(1, "@acme my order is late")])))
    api.add("GET", SEARCH, ok(body([])))
    capped = Reply.json(USAGE_CAPPED, 429, limits(39_999))
    created = Reply.json({"data": {"id": tid(9), "text": "x"}}, 201)
    api.add("POST", "/2/tweets", capped, created)
    rt = x_runtime(make_runtime, api, responder=True)
    poll_source(rt, "mentions")
    process_pending(rt)
    dispatch_outbox(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.SENT
    assert api.seen("GET", SEARCH) == []


def test_a_reddit_reply_refused_by_ratelimit_is_posted_without_reading_the_thread(
    make_runtime: RuntimeFactory, api: FakeAPI
) -> None:
    mention_from(api, "dave")
    wait = api_error("RATELIMIT", "Take a break for 9 minutes before trying again.")
    api.add("POST", "/api/comment/?", wait, created_comment("r9", "t1_c1", "ignored"))
    serve_thread(api)
    rt = reddit_runtime(make_runtime, api)
    poll_source(rt, "inbox")
    process_pending(rt)
    dispatch_outbox(rt)
    rt.clock.advance(minutes=9)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert (action(rt).status, action(rt).result_external_id) == (ActionStatus.SENT, "t1_r9")
    assert api.seen("GET", "/comments/abc123/_/c1/?") == []


class HungThenRateLimited(ScriptedResponder):
    """The first post hangs past workers.stale_claim_seconds; meanwhile another worker
    takes the claim over, and its own post is taken by the platform but times out. The
    hung request then comes back refused by a rate limit."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt, self.hung = rt, False

    def send(self, action: Action) -> SendResult:
        if not self.hung:
            self.hung = True
            self.rt.clock.advance(seconds=self.rt.settings.workers.stale_claim_seconds + 1)  # type: ignore[attr-defined]
            dispatch_outbox(self.rt)  # the other worker
            raise temporary("429 Too Many Requests", rate_limited=True)
        super().send(action)
        raise temporary("read timed out")


def test_a_late_refusal_does_not_clear_what_the_worker_that_took_over_may_have_posted(
    make_runtime: RuntimeFactory,
) -> None:
    # The hung worker's refusal was written over the row after the takeover's timeout:
    # "may have posted" became False, and the next retry posted again without looking.
    rt, _ = queued(make_runtime)
    responder = HungThenRateLimited(rt)
    rt.responders[Platform.X] = responder
    dispatch_outbox(rt)
    assert len(responder.posts) == 1  # the takeover's, which timed out
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert responder.lookups == 2  # the takeover's look, and the retry's
    assert len(responder.posts) == 1
    with rt.sessions() as session:
        assert session.scalars(select(ActionRow)).one().status == ActionStatus.SENT.value


def test_a_refusal_keeps_a_pre_0008_reply_that_failed_before_looked_for(
    make_runtime: RuntimeFactory,
) -> None:
    # A reply queued before migration 0008 knows nothing of its attempts (NULL): one
    # that failed before may be in the thread, so its retry looks first, and finds
    # nothing (X's search shows a new post only after a while). A rate limit then
    # refuses the send: that settles nothing, and the retry after it looks again.
    rt, responder = queued(make_runtime)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        row.status, row.attempts, row.last_error = ActionStatus.FAILED, 1, "read timed out"
        row.may_have_posted, row.next_attempt_at = None, rt.clock.now()
        earlier = ("p1", row.target_external_id, row.text)  # what the timeout had posted
    reset = rt.clock.now() + timedelta(minutes=15)
    responder.fail_next(temporary("429 Too Many Requests", rate_limited=True, retry_after=reset))
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.may_have_posted, responder.lookups) == (ActionStatus.FAILED, True, 1)
    responder.posts.append(earlier)  # the search shows it now
    rt.clock.advance(minutes=15)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.result_external_id) == (ActionStatus.SENT, "p1")
    assert (responder.lookups, len(responder.posts)) == (2, 1)


class KillsItsWorker(ScriptedResponder):
    """Sending, or looking in the thread, takes the worker down every time (a crash in a
    client library, memory running out): the claim is left in `sending`."""

    calls: int = 0

    def send(self, action: Action) -> SendResult:
        self.calls += 1
        raise CrashAfterPost("killed")

    def find_own_reply(self, action: Action) -> str | None:
        self.calls += 1
        raise CrashAfterPost("killed")


def test_an_action_that_kills_its_worker_every_time_is_given_up_and_handed_over(
    make_runtime: RuntimeFactory,
) -> None:
    # Each worker that took the claim back died with it: taken back every
    # stale_claim_seconds for ever, past max_attempts, and no person ever told.
    rt = make_runtime([mention(1, OUTAGE)], dispatch={"max_attempts": 1})
    poll_source(rt, "feed")
    process_pending(rt)
    responder = KillsItsWorker()
    rt.responders[Platform.X] = responder
    stale = timedelta(seconds=rt.settings.workers.stale_claim_seconds + 1)
    for _ in range(1 + 3):  # the first attempt, then three recoveries past max_attempts
        with pytest.raises(CrashAfterPost):
            dispatch_outbox(rt)
        rt.clock.advance(seconds=stale.total_seconds())  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert responder.calls == 4
    row = action(rt)
    assert row.status == ActionStatus.DEAD
    assert "its worker stopped while sending it" in (row.last_error or "")
    with rt.sessions() as session:
        kinds = list(session.scalars(select(Event.kind).order_by(Event.id)))
    assert "send_failed" in kinds


def test_a_notification_retried_for_hours_survives_one_worker_killed_while_sending_it(
    make_runtime: RuntimeFactory,
) -> None:
    # A notification is retried for notify_retry_hours, not max_attempts times: its
    # attempts run past max_attempts + 3 while its channel is down. One worker killed
    # while sending it (a deploy) then gave the escalation up at once, unsent.
    with FakeAPI() as hook:
        hook.add("POST", "/hook", *[Reply(503)] * 12, Reply(200, body=b"ok"))
        rt = escalated_to_a_chat(make_runtime, hook, dispatch={"notify_retry_hours": 24})
        for _ in range(11):  # backoff is capped at an hour
            rt.clock.advance(hours=1)  # type: ignore[attr-defined]
            dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert (notify.status, notify.attempts) == (ActionStatus.FAILED, 12)
        notifier, rt.notifier = rt.notifier, KillsItsWorker()
        rt.clock.advance(hours=1)  # type: ignore[attr-defined]
        with pytest.raises(CrashAfterPost):
            dispatch_outbox(rt)
        rt.notifier = notifier
        stale = rt.settings.workers.stale_claim_seconds + 1
        rt.clock.advance(seconds=stale)  # type: ignore[attr-defined]
        dispatch_outbox(rt)
        (notify,) = actions(rt, ActionRow.kind == ActionKind.NOTIFY)
        assert notify.status == ActionStatus.SENT, notify.last_error
        assert len(hook.seen("POST", "/hook")) == 13


def test_a_recovered_claim_released_untried_gets_its_attempt_back(
    make_runtime: RuntimeFactory,
) -> None:
    # A worker stopping (or out of sending time) gives back the claims it did not try.
    # A recovered one kept the attempt its claim counted: enough of those and the reply
    # was given up as killing its worker, never tried.
    rt, _ = queued(make_runtime)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        row.status, row.attempts = ActionStatus.SENDING, 2
        row.updated_at = rt.clock.now() - timedelta(hours=1)
    rt.stopping.set()
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.attempts, row.may_have_posted) == (ActionStatus.PENDING, 2, True)


def test_a_recovered_claim_a_stopping_worker_gives_back_is_taken_over_at_once(
    make_runtime: RuntimeFactory,
) -> None:
    # A dead worker's claim, taken over by a worker that stops before trying it: kept
    # `sending` under a fresh claim time, it waited stale_claim_seconds (10 min) more
    # before anyone sent it. It is due at once, and still looked for before posting.
    rt, responder = queued(make_runtime)
    with transaction(rt.sessions) as session:
        row = session.scalars(select(ActionRow)).one()
        row.status, row.attempts = ActionStatus.SENDING, 1
        row.updated_at = rt.clock.now() - timedelta(hours=1)
        responder.posts.append(("p1", row.target_external_id, row.text))  # the dead one's
    rt.stopping.set()
    dispatch_outbox(rt)
    rt.stopping.clear()  # the next worker
    rt.clock.advance(seconds=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.result_external_id) == (ActionStatus.SENT, "p1")
    assert (responder.lookups, len(responder.posts)) == (1, 1)
