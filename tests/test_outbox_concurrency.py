"""Two dispatchers on one database: every action is sent exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from monitor.domain import Action, ActionStatus, Platform
from monitor.pipeline import dispatch_outbox
from monitor.runtime import Runtime
from monitor.store.models import ActionRow
from monitor.testing import seed_pending_replies
from responders.base import SendResult
from tests.conftest import RuntimeFactory
from tests.fakes import ScriptedResponder, temporary

N = 500
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_two_dispatchers_send_each_action_once(make_runtime: RuntimeFactory) -> None:
    first = make_runtime(dispatch={"batch_size": 20})
    second = make_runtime(dispatch={"batch_size": 20})
    seed_pending_replies(first.sessions, N, at=T0)
    platform = ScriptedResponder()  # one "platform" that both workers post to
    for rt in (first, second):
        rt.responders[Platform.X] = platform
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(rt: object) -> None:
        try:
            barrier.wait()
            while dispatch_outbox(rt):  # type: ignore[arg-type]
                pass
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(rt,)) for rt in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    posted = Counter(target for _, target, _ in platform.posts)
    assert len(posted) == N
    assert max(posted.values()) == 1
    with first.sessions() as session:
        statuses = dict(
            session.execute(select(ActionRow.status, func.count()).group_by(ActionRow.status)).all()
        )
    assert statuses == {ActionStatus.SENT.value: N}


class PausedWhileSending(ScriptedResponder):
    """Worker ``rt`` stops (SIGSTOP, a VM paused) for longer than
    workers.stale_claim_seconds: after posting its batch's first reply, or, with a
    ``refusal``, in the middle of that post, which then comes back refused. Meanwhile
    ``other`` takes the batch's claims over as a dead worker's, and is still posting
    when the paused worker resumes."""

    def __init__(self, rt: Runtime, other: Runtime, refusal: Exception | None = None) -> None:
        super().__init__()
        self.rt, self.other, self.refusal = rt, other, refusal
        self.in_flight, self.go = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def send(self, action: Action) -> SendResult:
        if threading.current_thread() is self.thread:  # the worker that took over
            self.in_flight.set()
            assert self.go.wait(timeout=60)
            return super().send(action)
        if self.thread is not None:
            return super().send(action)
        sent = None if self.refusal else super().send(action)
        stale = self.rt.settings.workers.stale_claim_seconds + 1
        for rt in (self.rt, self.other):
            rt.clock.advance(seconds=stale)  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=dispatch_outbox, args=(self.other,))
        self.thread.start()
        assert self.in_flight.wait(timeout=60)
        if sent is None:
            raise self.refusal  # type: ignore[misc]
        return sent

    def resume_the_other(self) -> None:
        self.go.set()
        assert self.thread is not None
        self.thread.join(timeout=60)


def test_a_worker_resumed_after_its_claims_were_taken_over_leaves_them_alone(
    make_runtime: RuntimeFactory,
) -> None:
    # The resumed worker, past its sending time, gave back its untried claim as
    # `pending`: the claim the other worker had taken over and was posting. Any
    # dispatcher then claimed it afresh, found nothing in the thread yet and posted it
    # too: two identical replies to the customer.
    first, second = make_runtime(), make_runtime()
    seed_pending_replies(first.sessions, 2, at=T0)
    platform = PausedWhileSending(first, second)
    for rt in (first, second):
        rt.responders[Platform.X] = platform
    dispatch_outbox(first)
    first.clock.advance(seconds=5)  # type: ignore[attr-defined]  # its next run
    dispatch_outbox(first)
    platform.resume_the_other()
    posted = Counter(target for _, target, _ in platform.posts)
    assert posted == {"m0": 1, "m1": 1}
    with first.sessions() as session:
        rows = session.scalars(select(ActionRow).order_by(ActionRow.id)).all()
        assert [(r.status, r.attempts) for r in rows] == [("sent", 2), ("sent", 2)]


def test_a_refusal_coming_back_after_the_claim_was_taken_over_leaves_it_alone(
    make_runtime: RuntimeFactory,
) -> None:
    # The resumed worker's request came back refused (a rate limit): it recorded the
    # failure over the claim the other worker was posting, `failed` until the reset.
    # The next dispatcher then claimed it, found nothing in the thread yet, and posted
    # it again.
    first, second = make_runtime(), make_runtime()
    seed_pending_replies(first.sessions, 1, at=T0)
    reset = T0 + timedelta(seconds=first.settings.workers.stale_claim_seconds + 60)
    limited = temporary("429 Too Many Requests", rate_limited=True, retry_after=reset)
    platform = PausedWhileSending(first, second, refusal=limited)
    for rt in (first, second):
        rt.responders[Platform.X] = platform
    dispatch_outbox(first)
    first.clock.advance(seconds=61)  # type: ignore[attr-defined]  # past the reset
    dispatch_outbox(first)
    platform.resume_the_other()
    assert [target for _, target, _ in platform.posts] == ["m0"]
    with first.sessions() as session:
        row = session.scalars(select(ActionRow)).one()
        assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


class TakenOverByAClockAhead(ScriptedResponder):
    """Worker ``rt`` posts its batch's first reply, slowly; meanwhile ``other``, whose
    clock runs ahead by more than workers.stale_claim_seconds, takes the batch's claims
    for a dead worker's, and is posting the second reply when ``rt`` goes on."""

    def __init__(self, rt: Runtime, other: Runtime) -> None:
        super().__init__()
        self.rt, self.other = rt, other
        self.in_flight, self.go = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def send(self, action: Action) -> SendResult:
        if threading.current_thread() is self.thread:
            if not self.in_flight.is_set():
                self.in_flight.set()
                assert self.go.wait(timeout=60)
            return super().send(action)
        sent = super().send(action)
        if self.thread is None:
            self.rt.clock.advance(seconds=2)  # type: ignore[attr-defined]
            ahead = self.rt.settings.workers.stale_claim_seconds + 1
            self.other.clock.set(self.rt.clock.now() + timedelta(seconds=ahead))  # type: ignore[attr-defined]
            self.thread = threading.Thread(target=dispatch_outbox, args=(self.other,))
            self.thread.start()
            assert self.in_flight.wait(timeout=60)
        return sent


def test_claims_taken_over_by_a_worker_whose_clock_runs_ahead_are_not_sent_again(
    make_runtime: RuntimeFactory,
) -> None:
    # The check before each send asked only whether a claim was still `sending`, which
    # a claim taken over is: the worker went on posting replies the other worker had
    # taken over and was posting too.
    first, second = make_runtime(), make_runtime()
    seed_pending_replies(first.sessions, 3, at=T0)
    platform = TakenOverByAClockAhead(first, second)
    for rt in (first, second):
        rt.responders[Platform.X] = platform
    dispatch_outbox(first)
    platform.go.set()
    assert platform.thread is not None
    platform.thread.join(timeout=60)
    posted = Counter(target for _, target, _ in platform.posts)
    assert posted == {"m0": 1, "m1": 1, "m2": 1}
    with first.sessions() as session:
        statuses = list(session.scalars(select(ActionRow.status).order_by(ActionRow.id)))
    assert statuses == ["sent", "sent", "sent"]
