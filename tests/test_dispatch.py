"""The outbox: retries, permanent failures, rate limits and crash safety. No sleeping."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from monitor import casework_drafts, casework_replies, triage
from monitor.domain import Action, ActionStatus, CaseState, Platform
from monitor.pipeline import dispatch_outbox, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Case, Event, Message, case_ref
from responders.base import ResponderError, SendResult
from tests.conftest import RuntimeFactory, mention
from tests.fakes import CrashAfterPost, ScriptedResponder, permanent, temporary
from tests.webkit import TEAMS

OUTAGE = "@acme the app is down"


def with_scripted(rt: Runtime) -> ScriptedResponder:
    responder = ScriptedResponder()
    rt.responders[Platform.X] = responder
    return responder


def queued(make_runtime: RuntimeFactory, n: int = 1) -> tuple[Runtime, ScriptedResponder]:
    rt = make_runtime([mention(i, OUTAGE) for i in range(n)])
    responder = with_scripted(rt)
    while poll_source(rt, "feed"):
        pass
    process_pending(rt)
    return rt, responder


def action(rt: Runtime) -> ActionRow:
    with rt.sessions() as session:
        return session.scalars(select(ActionRow)).one()


def test_temporary_error_reschedules_with_backoff(make_runtime: RuntimeFactory) -> None:
    rt, responder = queued(make_runtime)
    responder.fail_next(temporary())
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "503 Service Unavailable")
    base = rt.settings.dispatch.backoff_base_seconds
    assert (
        timedelta(seconds=base / 2)
        <= row.next_attempt_at - rt.clock.now()
        <= timedelta(seconds=base)
    )
    dispatch_outbox(rt)  # not due yet: nothing happens
    assert responder.posts == []
    rt.clock.advance(seconds=base)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.SENT
    assert len(responder.posts) == 1


def test_rate_limited_send_waits_for_the_reset_time(make_runtime: RuntimeFactory) -> None:
    rt, responder = queued(make_runtime)
    reset = rt.clock.now() + timedelta(minutes=14)
    responder.fail_next(temporary("429 Too Many Requests", retry_after=reset))
    dispatch_outbox(rt)
    assert action(rt).next_attempt_at == reset
    rt.clock.advance(minutes=13)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert responder.posts == []
    rt.clock.advance(minutes=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert len(responder.posts) == 1


def test_permanent_error_is_dead_and_case_goes_to_a_human(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1, "@acme thank you so much, wonderful service!")])
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(permanent())
    dispatch_outbox(rt)
    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.DEAD
    assert action(rt).attempts == 1
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == CaseState.AWAITING_HUMAN
        kinds = session.scalars(select(Event.kind)).all()
        assert "send_failed" in kinds


def test_a_platforms_error_in_the_escalation_title_pings_nobody(
    make_runtime: RuntimeFactory,
) -> None:
    """The reason a reply could not be posted quotes the platform's error, which is
    not ours to trust: on a line of its own, its "@everyone" pinged the whole channel."""
    channels = {"care-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["care-chat"]} for team in TEAMS]
    rt = make_runtime(
        [mention(1, "@acme thank you so much, wonderful service!")], channels=channels, teams=teams
    )
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(permanent("403 refused\n@everyone\x1b[2J look <!channel>"))
    dispatch_outbox(rt)
    with rt.sessions() as session:
        (text,) = session.scalars(select(ActionRow.text).where(ActionRow.kind == "notify"))
    title = text.splitlines()[0]
    assert title.endswith("403 refused @\u200beveryone[2J look <\u200b!channel>")
    assert "@everyone" not in text
    assert "<!channel>" not in text  # Mattermost's webhooks ping for it as for "@channel"
    assert "\x1b" not in text


def test_a_dead_reply_that_may_have_been_posted_is_not_called_unposted(
    make_runtime: RuntimeFactory,
) -> None:
    # A timeout or a 5xx first: the reply may be in the thread. "reply could not be
    # posted" on the escalation had the person answer under the bot's reply.
    channels = {"care-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["care-chat"]} for team in TEAMS]
    rt = make_runtime(
        [mention(1, "@acme thank you so much, wonderful service!")], channels=channels, teams=teams
    )
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(temporary(), permanent("403 reply not allowed"))
    dispatch_outbox(rt)
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    with rt.sessions() as session:
        reply = session.scalars(select(ActionRow).where(ActionRow.kind == "reply")).one()
        assert (reply.status, reply.may_have_posted) == (ActionStatus.DEAD, True)
        texts = session.scalars(select(ActionRow.text).where(ActionRow.kind == "notify")).all()
    (text,) = [t for t in texts if "escalated:" in t]
    assert "reply not confirmed as posted (permanent error): 403 reply not allowed" in text
    assert "could not be posted" not in text


def test_a_platforms_error_with_broken_unicode_still_escalates(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    # Half an emoji (an unpaired surrogate) in a refusal reached the escalation's
    # notification text, which neither database driver can encode: the dead reply's
    # whole transaction failed and the case was never handed over.
    # The dispatcher's warning quotes the error as it came (the project's log handlers
    # escape it); pytest's capture keeps it raw, and under `make test` (xdist) the
    # worker could not send such a report back: it crashed, an INTERNALERROR.
    caplog.set_level(logging.ERROR, logger="inchannel")
    channels = {"care-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["care-chat"]} for team in TEAMS]
    rt = make_runtime(
        [mention(1, "@acme thank you so much, wonderful service!")], channels=channels, teams=teams
    )
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(permanent("403 refused \ud83d here"))
    dispatch_outbox(rt)
    with rt.sessions() as session:
        reply = session.scalars(select(ActionRow).where(ActionRow.kind == "reply")).one()
        assert reply.status == ActionStatus.DEAD
        assert session.scalars(select(Case)).one().state == CaseState.AWAITING_HUMAN
        texts = session.scalars(select(ActionRow.text).where(ActionRow.kind == "notify")).all()
    (text,) = [t for t in texts if "escalated:" in t]
    assert "403 refused ? here" in text


def test_a_bot_reply_dying_after_a_person_answered_leaves_the_case_with_the_customer(
    make_runtime: RuntimeFactory,
) -> None:
    # lena answered while the bot's acknowledgement waited for its retry; the case was
    # waiting on the customer when the acknowledgement died (the thread locked). It came
    # back to tech's queue, awaiting_human with no answer owed, and tech's channel was
    # told "escalated: reply could not be posted" about a customer already answered.
    channels = {"tech-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["tech-chat"]} for team in TEAMS]
    rt = make_runtime([mention(1, OUTAGE)], channels=channels, teams=teams)
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(temporary())
    dispatch_outbox(rt)
    casework_replies.reply(rt, "C-1001", "Sorry, we are on it.", user="lena")
    dispatch_outbox(rt)  # the bot's retry is not due yet: only lena's goes out
    assert [text for _, _, text in responder.posts] == ["Sorry, we are on it."]
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    responder.fail_next(permanent("403 the thread is locked"))
    dispatch_outbox(rt)
    with rt.sessions() as session:
        bot = session.scalars(select(ActionRow).where(ActionRow.rule.is_not(None))).one()
        assert bot.status == ActionStatus.DEAD
        assert session.scalars(select(Case)).one().state == CaseState.WAITING_CUSTOMER
        texts = session.scalars(select(ActionRow.text).where(ActionRow.kind == "notify")).all()
        failed = session.scalars(select(Event).where(Event.kind == "send_failed")).one()
    assert [t for t in texts if "could not be posted" in t] == []
    assert failed.detail["action"] == bot.id


def test_a_reply_dying_on_a_case_already_with_its_team_is_no_second_escalation(
    make_runtime: RuntimeFactory,
) -> None:
    # The outage rule escalated the case to tech ("escalated: possible outage") and
    # queued an acknowledgement, which died (the thread locked). The case was with tech
    # already, and tech's channel got a second "escalated: ..." for the same case: it
    # is told the reply died, once, without calling it a new escalation.
    channels = {"tech-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["tech-chat"]} for team in TEAMS]
    rt = make_runtime([mention(1, OUTAGE)], channels=channels, teams=teams)
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    responder.fail_next(permanent("403 the thread is locked"))
    dispatch_outbox(rt)
    with rt.sessions() as session:
        assert session.scalars(select(Case)).one().state == CaseState.AWAITING_HUMAN
        query = select(ActionRow.text).where(ActionRow.kind == "notify").order_by(ActionRow.id)
        titles = [text.splitlines()[0] for text in session.scalars(query)]
    assert titles == [
        "[high] C-1001 escalated: possible outage",
        "[high] C-1001 reply could not be posted (permanent error): 403 the thread is locked",
    ]


def test_a_reply_dying_on_a_case_waiting_for_no_team_is_escalated_to_the_first_team(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    # A lead rejected the rule's draft: the case waits for a person, and for no team
    # (no rule escalated it). The customer's thanks got a bot reply, which died. The
    # case goes to the first team, whose channel never heard of it: a hand-over like
    # any other, "escalated: ...", not the note for a team that has the case already.
    rules = tmp_path / "draft-rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(
        "name: question\nmatch: {text: question}\nthen: {draft: 'Hi {first_name}, '}\n"
        "---\nname: thanks\nmatch: {text: thanks}\nthen: {reply: 'Glad to help!'}\n",
        encoding="utf-8",
    )
    channels = {"care-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["care-chat"]} for team in TEAMS]
    thread = {"author": "user1", "author_id": "501", "conversation_id": "1001"}
    thanks = mention(2, "@acme thanks anyway", in_reply_to="1001", **thread)
    rt = make_runtime(
        [mention(1, "@acme a question about my order"), thanks],
        channels=channels,
        teams=teams,
        rules={"path": str(rules)},
    )
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    casework_drafts.reject(rt, "C-1001", user="lena")
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert (case.state, case.team) == (CaseState.AWAITING_HUMAN, None)
    responder.fail_next(permanent("403 the thread is locked"))
    dispatch_outbox(rt)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert (case.state, case.team) == (CaseState.AWAITING_HUMAN, "care")
        query = select(ActionRow.text).where(ActionRow.kind == "notify").order_by(ActionRow.id)
        titles = [text.splitlines()[0] for text in session.scalars(query)]
    assert titles == [
        "[normal] C-1001 escalated: reply could not be posted (permanent error): "
        "403 the thread is locked",
    ]


def test_retries_are_capped_then_dead(make_runtime: RuntimeFactory) -> None:
    rt, responder = queued(make_runtime)
    attempts = rt.settings.dispatch.max_attempts
    responder.fail_next(*[temporary() for _ in range(attempts)])
    for _ in range(attempts):
        dispatch_outbox(rt)
        rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    row = action(rt)
    assert (row.status, row.attempts) == (ActionStatus.DEAD, attempts)
    assert responder.posts == []


def rate_limited(rt: Runtime, **reset: float) -> ResponderError:
    return temporary(
        "429 Too Many Requests", retry_after=rt.clock.now() + timedelta(**reset), rate_limited=True
    )


def test_a_rate_limited_send_does_not_use_up_an_attempt(make_runtime: RuntimeFactory) -> None:
    # A brand whose reply quota was spent for longer than max_attempts windows saw sound
    # replies die and go to a person.
    rt, responder = queued(make_runtime)
    responder.fail_next(temporary("read timed out"))  # this one may have posted
    dispatch_outbox(rt)
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    held = rt.settings.dispatch.max_attempts + 2
    for _ in range(held):
        responder.fail_next(rate_limited(rt, minutes=15))
        dispatch_outbox(rt)
        row = action(rt)
        assert (row.status, row.attempts) == (ActionStatus.FAILED, 1)
        assert row.next_attempt_at == rt.clock.now() + timedelta(minutes=15)
        rt.clock.advance(minutes=15)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.SENT
    assert len(responder.posts) == 1
    # A rate-limited post posted nothing, but the timed-out first attempt may have:
    # every retry still looked for it first.
    assert responder.lookups == held + 1
    labels = {"kind": "reply", "outcome": "failed"}
    assert rt.metrics.registry.get_sample_value("inchannel_actions_total", labels) == held + 1


@pytest.mark.parametrize("reset_minutes", [None, -1], ids=["no-reset", "reset-past"])
def test_a_rate_limit_without_a_reset_to_come_still_counts(
    make_runtime: RuntimeFactory, reset_minutes: int | None
) -> None:
    # Nothing says when (or whether) it ends: max_attempts is what bounds it.
    rt, responder = queued(make_runtime)
    attempts = rt.settings.dispatch.max_attempts
    for _ in range(attempts):
        reset = None if reset_minutes is None else rt.clock.now() + timedelta(minutes=reset_minutes)
        responder.fail_next(temporary("429", retry_after=reset, rate_limited=True))
        dispatch_outbox(rt)
        rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    row = action(rt)
    assert (row.status, row.attempts) == (ActionStatus.DEAD, attempts)


@pytest.mark.parametrize("reply_exists", [True, False])
def test_crash_between_sending_and_sent_never_posts_twice(
    make_runtime: RuntimeFactory, reply_exists: bool
) -> None:
    rt, responder = queued(make_runtime)
    responder.crash_after_post = True
    with pytest.raises(CrashAfterPost):
        dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.SENDING
    if not reply_exists:
        responder.posts.clear()  # the platform never got it
    responder.crash_after_post = False
    dispatch_outbox(rt)  # the claim is fresh: nobody touches it yet
    assert action(rt).status == ActionStatus.SENDING
    rt.clock.advance(minutes=11)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    row = action(rt)
    assert row.status == ActionStatus.SENT
    assert len(responder.posts) == 1
    assert responder.lookups == 1
    with rt.sessions() as session:
        outbound = session.scalars(select(Message).where(Message.direction == "outbound")).all()
        assert [m.external_id for m in outbound] == [row.result_external_id]


def test_responder_bug_is_a_temporary_failure(make_runtime: RuntimeFactory) -> None:
    rt, responder = queued(make_runtime)
    responder.fail_next(KeyError("oops"))
    dispatch_outbox(rt)
    row = action(rt)
    assert row.status == ActionStatus.FAILED
    assert row.last_error == "KeyError: 'oops'"


def test_recovered_claims_beyond_one_batch_are_still_checked(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(i, OUTAGE) for i in range(3)], dispatch={"batch_size": 2})
    responder = with_scripted(rt)
    while poll_source(rt, "feed"):
        pass
    process_pending(rt)
    responder.crash_after_post = True
    for _ in range(2):
        with pytest.raises(CrashAfterPost):
            dispatch_outbox(rt)
    assert len(responder.posts) == 2  # two posted, one claimed but never tried
    responder.crash_after_post = False
    rt.clock.advance(minutes=11)  # type: ignore[attr-defined]
    while dispatch_outbox(rt):
        pass
    targets = [target for _, target, _ in responder.posts]
    assert sorted(targets) == sorted(set(targets))
    assert len(targets) == 3


class SlowPlatform(ScriptedResponder):
    """Every post takes 20 s of (fake) time: timeouts, a slow API."""

    def __init__(self, rt: Runtime) -> None:
        super().__init__()
        self.rt = rt

    def send(self, action: object) -> object:  # type: ignore[override]
        self.rt.clock.advance(seconds=20)  # type: ignore[attr-defined]
        return super().send(action)  # type: ignore[arg-type]


def test_a_slow_batch_stops_before_its_claims_could_be_taken_over(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(i, OUTAGE) for i in range(5)], workers={"stale_claim_seconds": 60})
    while poll_source(rt, "feed"):
        pass
    process_pending(rt)
    platform = SlowPlatform(rt)
    rt.responders[Platform.X] = platform
    # Two posts take 40 s, past half the 60 s after which another worker would treat
    # the batch's claims as a dead worker's: the rest is handed back, not posted late.
    assert dispatch_outbox(rt) is True
    assert len(platform.posts) == 2
    with rt.sessions() as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        assert [r.status for r in rows] == ["sent", "sent", "pending", "pending", "pending"]
        assert [r.attempts for r in rows] == [1, 1, 0, 0, 0]
    while dispatch_outbox(rt):
        pass
    assert len(platform.posts) == 5


def spam_cases(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        return [case_ref(c) for c in session.scalars(select(Case.id).order_by(Case.id))]


class SpamMarkedWhileSending(ScriptedResponder):
    """A person marks case ``ref`` as spam while the first post of the batch is sent."""

    def __init__(self, rt: Runtime, ref: str) -> None:
        super().__init__()
        self.rt, self.ref = rt, ref

    def send(self, action: Action) -> SendResult:
        self.rt.clock.advance(seconds=3)  # type: ignore[attr-defined]  # a slow platform
        if self.ref:
            triage.mark_spam(self.rt, self.ref, user="lena")
            self.ref = ""
        return super().send(action)


def test_a_claimed_reply_of_a_case_marked_spam_meanwhile_is_not_sent(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = queued(make_runtime, 3)
    _, second, _ = spam_cases(rt)
    platform = SpamMarkedWhileSending(rt, second)
    rt.responders[Platform.X] = platform
    # One batch claims all three; the second's case is spam by the time its turn comes.
    dispatch_outbox(rt)
    assert sorted(target for _, target, _ in platform.posts) == ["1000", "1002"]
    with rt.sessions() as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        assert [r.status for r in rows] == ["sent", "rejected", "sent"]
        spam = session.scalars(select(Event).where(Event.kind == "spam")).one()
        assert spam.detail["replies_withdrawn"] == 1
    rt.clock.advance(hours=2)  # type: ignore[attr-defined]
    dispatch_outbox(rt)
    assert len(platform.posts) == 2


def test_a_reply_withdrawn_while_its_send_fails_stays_withdrawn(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = queued(make_runtime)
    (ref,) = spam_cases(rt)

    class FailsAfterSpam(SpamMarkedWhileSending):
        def send(self, action: Action) -> SendResult:
            super().send(action)
            raise temporary("read timed out")

    rt.responders[Platform.X] = FailsAfterSpam(rt, ref)
    dispatch_outbox(rt)
    row = action(rt)
    assert (row.status, row.last_error) == (ActionStatus.REJECTED, None)
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert case.state == CaseState.RESOLVED  # not handed back to a person
        assert "send_failed" not in session.scalars(select(Event.kind)).all()


def test_a_withdrawn_reply_posted_anyway_still_counts_toward_the_threads_cap(
    make_runtime: RuntimeFactory,
) -> None:
    # "Spam" withdrew the reply while its request was under way, and took it off the
    # thread's count; the platform then posted it. It is in the thread: counted again.
    rt, _ = queued(make_runtime)
    (ref,) = spam_cases(rt)
    platform = SpamMarkedWhileSending(rt, ref)
    rt.responders[Platform.X] = platform
    dispatch_outbox(rt)
    assert len(platform.posts) == 1
    with rt.sessions() as session:
        case = session.scalars(select(Case)).one()
        assert (action(rt).status, case.bot_replies) == (ActionStatus.SENT, 1)
        assert case.last_bot_reply_at == rt.clock.now()


def test_our_post_already_stored_as_thread_context_becomes_the_outbound_message(
    make_runtime: RuntimeFactory,
) -> None:
    rt, _ = queued(make_runtime)
    # The poller saw our post (as the parent of a customer's answer) before the outcome
    # was written: the same platform id is already in the messages table.
    with rt.sessions.begin() as session:
        session.add(
            Message(
                platform="x",
                external_id="p1",
                direction="context",
                kind="reply",
                author_handle="acme",
                text="seen by the poller",
                conversation_id="c0",
                created_at=rt.clock.now(),
                ingested_at=rt.clock.now(),
                processed=True,
            )
        )
    dispatch_outbox(rt)
    assert action(rt).status == ActionStatus.SENT
    with rt.sessions() as session:
        ours = session.scalars(select(Message).where(Message.external_id == "p1")).one()
        assert (ours.direction, ours.case_id) == ("outbound", action(rt).case_id)


def test_a_bot_reply_dying_beside_a_persons_posted_reply_leaves_the_case_answered(
    make_runtime: RuntimeFactory,
) -> None:
    # lena answered before the bot's acknowledgement had gone out, and both were sent
    # in one group: the acknowledgement died (the thread locked), hers was posted. The
    # dead one was handed over before her post counted as the answer, so the case went
    # back to tech's queue (awaiting_human, nothing owed) and tech's channel was told
    # "escalated: reply could not be posted" about a customer just answered.
    channels = {"tech-chat": {"url": "json://127.0.0.1:9/hook"}}
    teams = [{**team, "channels": ["tech-chat"]} for team in TEAMS]
    rt = make_runtime([mention(1, OUTAGE)], channels=channels, teams=teams)
    responder = with_scripted(rt)
    poll_source(rt, "feed")
    process_pending(rt)
    casework_replies.reply(rt, "C-1001", "Sorry, we are on it.", user="lena")
    responder.fail_next(permanent("403 the thread is locked"))  # the bot's, claimed first
    dispatch_outbox(rt)
    assert [text for _, _, text in responder.posts] == ["Sorry, we are on it."]
    with rt.sessions() as session:
        bot = session.scalars(select(ActionRow).where(ActionRow.rule.is_not(None))).one()
        assert bot.status == ActionStatus.DEAD
        case = session.scalars(select(Case)).one()
        assert case.state == CaseState.WAITING_CUSTOMER
        assert case.first_response_at == rt.clock.now()
        texts = session.scalars(select(ActionRow.text).where(ActionRow.kind == "notify")).all()
        failed = session.scalars(select(Event).where(Event.kind == "send_failed")).one()
    assert [t for t in texts if "could not be posted" in t] == []
    assert failed.detail["action"] == bot.id
