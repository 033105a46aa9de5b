"""Values the daemon makes up must fit the columns they are stored in: PostgreSQL
refuses a longer value (and the whole transaction with it), SQLite keeps it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from monitor.pipeline import run_cycle
from monitor.store.models import Event, Message
from tests.conftest import RuntimeFactory, mention
from tests.rulekit import write

LONG = "a-rule-name-that-says-exactly-what-it-does-in-many-words"


def _tag_rules(n: int) -> str:
    return "---\n".join(
        f"name: {LONG}-{i}\nmatch: {{text: broken}}\nthen:\n  tag: [t{i}]\n" for i in range(n)
    )


def test_a_message_many_long_named_rules_match_is_decided(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    write(tmp_path / "rules", _tag_rules(4))
    rules = {"path": str(tmp_path / "rules")}
    rt = make_runtime([mention(1, "@acme my kettle is broken")], rules=rules)
    run_cycle(rt)
    with rt.sessions() as session:
        message = session.scalars(select(Message)).one()
        decided = session.scalars(select(Event).where(Event.kind == "decided")).one()
    assert message.processed
    # The actor names what fits; the event's detail has every rule.
    assert decided.actor == f"{LONG}-0,{LONG}-1,+2 more"
    assert decided.detail["matched"] == [f"{LONG}-{i}" for i in range(4)]
