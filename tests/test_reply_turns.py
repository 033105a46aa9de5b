"""The reply variants' rotation, counted from the outbox by each worker (reply_turns)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from monitor.pipeline import drain, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.db import transaction
from monitor.store.models import ActionRow
from tests.conftest import RuntimeFactory, mention
from tests.rulekit import write
from tests.test_pipeline import append

ROTATING = """
name: kettle
match: {text: kettle}
then:
  reply: ["kettle one", "kettle two"]
"""


def _action(rt: Runtime, kind: str, rule: str | None, key: str) -> ActionRow:
    now = rt.clock.now()
    return ActionRow(
        kind=kind,
        platform="x",
        target_external_id="-",
        conversation_id="-",
        text=f"{rule} by another worker",
        rule=rule,
        status="sent",
        next_attempt_at=now,
        idempotency_key=key,
        created_at=now,
        updated_at=now,
    )


def _answer(rt: Runtime, n: int) -> str:
    """Mention ``n`` about a kettle, polled and decided: the text of its reply."""
    append(rt, mention(n, "@acme my kettle", author_id=str(n)))
    drain(poll_source, rt, "feed")
    assert not process_pending(rt)
    with rt.sessions() as session:
        query = select(ActionRow.text).where(ActionRow.kind == "reply", ActionRow.rule == "kettle")
        return str(session.scalars(query.order_by(ActionRow.id.desc())).first())


def test_a_reply_another_worker_commits_late_still_turns_the_rotation(
    make_runtime: RuntimeFactory, tmp_path: Path, db_url: str
) -> None:
    """Another worker's reply, its id taken before a later action committed and itself
    committed after this worker counted past that one: the count read only ids above the
    newest it had seen, so it missed the reply for good, and this worker's rotation ran
    one behind the other workers' from then on, their replies repeating its texts."""
    if db_url.startswith("sqlite"):
        pytest.skip("SQLite runs one write transaction at a time: no commit comes late")
    write(tmp_path / "rules", ROTATING)
    rt = make_runtime(rules={"path": str(tmp_path / "rules")})
    assert _answer(rt, 0) == "kettle one"  # turn 0
    late = rt.sessions()
    try:
        late.add(_action(rt, "reply", "kettle", "late"))  # its id taken, not committed
        late.flush()
        with transaction(rt.sessions) as session:
            session.add(_action(rt, "notify", None, "meanwhile"))  # a later id, committed
        assert _answer(rt, 1) == "kettle two"  # turn 1, counted past the late id
        late.commit()
    finally:
        late.close()
    # Replies queued so far: turn 0, the late one, turn 1. This is turn 3.
    assert _answer(rt, 2) == "kettle two"
