"""Two dispatchers on one database: every action is sent exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from monitor.domain import ActionStatus, Platform
from monitor.pipeline import dispatch_outbox
from monitor.store.models import ActionRow, Case, Customer
from tests.conftest import RuntimeFactory
from tests.fakes import ScriptedResponder

N = 500
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def seed_actions(rt: object, n: int) -> None:
    sessions = rt.sessions  # type: ignore[attr-defined]
    with sessions.begin() as session:
        customer = Customer(
            platform="x",
            platform_user_id="1",
            handle="jane",
            display_name="",
            verified=False,
            first_seen_at=T0,
            last_seen_at=T0,
        )
        session.add(customer)
        session.flush()
        case = Case(
            platform="x",
            conversation_id="c1",
            customer_id=customer.id,
            state="new",
            priority="normal",
            tags=[],
            bot_replies=0,
            opened_at=T0,
            updated_at=T0,
        )
        session.add(case)
        session.flush()
        session.add_all(
            ActionRow(
                case_id=case.id,
                kind="reply",
                platform="x",
                target_external_id=f"m{i}",
                conversation_id="c1",
                text=f"reply {i}",
                status="pending",
                attempts=0,
                next_attempt_at=T0,
                idempotency_key=f"k{i}",
                created_at=T0,
                updated_at=T0,
            )
            for i in range(n)
        )


def test_two_dispatchers_send_each_action_once(make_runtime: RuntimeFactory) -> None:
    first = make_runtime(dispatch={"batch_size": 20})
    second = make_runtime(dispatch={"batch_size": 20})
    seed_actions(first, N)
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
