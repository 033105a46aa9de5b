"""A batch of the brand's answers on the platform reads their cases with a few
statements, however many answers it holds: not a query or two per answer."""

from __future__ import annotations

from sqlalchemy import select

from monitor.pipeline import drain, poll_source, process_pending
from monitor.runtime import Runtime
from monitor.store.models import Case
from tests.conftest import RuntimeFactory, mention
from tests.test_batch_writes import statements
from tests.test_pipeline import append

LATE = "@acme my order is late, I am calling my lawyer"
ANSWER = "@user sorry about that: it ships today, tracking in your DMs"


def _answered(rt: Runtime, customers: range) -> dict[str, int]:
    """The brand answers each of ``customers`` on X in one batch; the statements it took."""
    own = {"author": "acmehelp", "author_id": "900", "created_at": "2026-11-20T10:20:00Z"}
    answers = [
        mention(100 + n, ANSWER, **own, conversation_id=str(1000 + n), in_reply_to=str(1000 + n))
        for n in customers
    ]
    append(rt, *answers)
    drain(poll_source, rt, "feed")
    with statements(rt) as seen:
        assert not process_pending(rt)
    return dict(seen)


def test_answers_on_the_platform_read_their_cases_once_per_batch(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(n, LATE, created_at="2026-11-20T10:00:00Z") for n in range(1, 13)])
    drain(poll_source, rt, "feed")
    assert not process_pending(rt)
    two = _answered(rt, range(1, 3))
    ten = _answered(rt, range(3, 13))
    with rt.sessions() as session:
        states = set(session.scalars(select(Case.state)))
    assert states == {"waiting_customer"}
    # Each answer looks up the post it answers (one SELECT); nothing else per answer.
    grown = {k: ten.get(k, 0) - two.get(k, 0) for k in ten}
    assert sum(grown.values()) <= 8, sorted(grown.items())
