"""Two dispatchers on one database: every action is sent exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import func, select

from monitor.domain import ActionStatus, Platform
from monitor.pipeline import dispatch_outbox
from monitor.store.models import ActionRow
from monitor.testing import seed_pending_replies
from tests.conftest import RuntimeFactory
from tests.fakes import ScriptedResponder

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
