"""What one backfill run carries from chunk to chunk, and how it settles its cases.

Each chunk of a backfill is its own transaction and leaves the database as if the bot
had never replied: the cases it opened resolved with no reply counted, the authors'
cooldowns as they were. The next chunk must still decide as the live daemon would have,
with the thread's reply count, state and the author's cooldown as the run's earlier
decisions left them: ``Carry`` keeps those, ``resume`` puts them back for a chunk and
``settle`` takes them out again. A thread that goes on in a later chunk is resumed, not
reopened (all its cases: the thread's reply count is theirs together): its trail shows
one resolution, after its last message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from monitor import cases
from monitor.domain import CaseState
from monitor.store.models import Case, Customer, Event, Message
from monitor.store.queries import locked
from monitor.threads import BACKFILL_TAG as TAG

ACTOR = "backfill"
Key = tuple[str, str, int]  # platform, conversation, customer: what makes a case


@dataclass(frozen=True, slots=True)
class Simulated:
    """A backfilled case as the run's decisions left it, before it was settled."""

    key: Key
    state: str
    bot_replies: int
    last_bot_reply_at: datetime | None
    settled_at: datetime | None  # when settle wrote its "resolved" event (None: none)


@dataclass
class Carry:
    """The run's decisions so far, as they would have left cases and authors."""

    cooldowns: dict[int, datetime | None] = field(default_factory=dict)  # by customer
    cases: dict[int, Simulated] = field(default_factory=dict)  # by case id

    def lend_cooldowns(self, customers: Sequence[Customer], first: dict[int, datetime]) -> None:
        """The run's cooldowns on the authors, for the batch; ``first``: each author's
        earliest message in it."""
        for customer in customers:
            if customer.id in self.cooldowns:
                customer.last_bot_reply_at = self.cooldowns[customer.id]
                continue
            live = customer.last_bot_reply_at
            written = first.get(customer.id)
            if live is not None and written is not None and live > written:
                # A live reply made after the message had not happened when it was
                # written; judged by it, all the author's history was "replied to
                # recently". (Only the latest reply is stored: none earlier is known.)
                customer.last_bot_reply_at = None

    def take_back_cooldowns(
        self, customers: Sequence[Customer], real: dict[int, datetime | None]
    ) -> None:
        for customer in customers:
            self.cooldowns[customer.id] = customer.last_bot_reply_at
            customer.last_bot_reply_at = real[customer.id]


def resume(session: Session, carry: Carry, messages: Sequence[Message]) -> set[int]:
    """Put this run's settled cases in the threads the chunk continues back as its
    decisions left them; return their ids. Every customer's case of such a thread, not
    only the chunk's authors': the reply cap counts the thread's replies to all of them.
    A case taken over since (by a live mention, or reopened by a person) is theirs: it
    is left as it is and no longer carried."""
    threads = {(m.platform, m.conversation_id) for m in messages}
    ids = [case_id for case_id, sim in carry.cases.items() if sim.key[:2] in threads]
    query = locked(session, select(Case).where(Case.id.in_(ids)).order_by(Case.id))
    resumed: set[int] = set()
    retract: dict[datetime, list[int]] = {}
    for case in session.scalars(query):
        sim = carry.cases.pop(case.id)
        if TAG not in case.tags or case.state != CaseState.RESOLVED.value:
            continue
        if sim.settled_at is not None:
            retract.setdefault(sim.settled_at, []).append(case.id)
        case.state, case.bot_replies = sim.state, sim.bot_replies
        case.last_bot_reply_at, case.resolved_at = sim.last_bot_reply_at, None
        resumed.add(case.id)
    for settled_at, case_ids in retract.items():
        _retract_settling(session, case_ids, settled_at)
    session.flush()  # the batch reads the cases back from the database
    return resumed


def _retract_settling(session: Session, case_ids: list[int], settled_at: datetime) -> None:
    """Delete the "resolved" event an earlier chunk wrote for each of these cases: the
    thread goes on, so the resolution was only the chunk's boundary. Each committed
    chunk leaves a trail that matches its cases, even if the run stops there."""
    session.execute(
        delete(Event).where(
            Event.case_id.in_(case_ids),
            Event.kind == "state",
            Event.actor == ACTOR,
            Event.at == settled_at,
        )
    )


def settle(session: Session, case_ids: set[int], now: datetime, carry: Carry) -> None:
    """Backfilled cases are history: resolved, no SLA clock, no bot replies counted."""
    reason = "imported by backfill; its actions are suppressed"
    for case in session.scalars(select(Case).where(Case.id.in_(case_ids))):
        if TAG not in case.tags:
            case.tags = sorted([*case.tags, TAG])
        key = (case.platform, case.conversation_id, case.customer_id)
        writes_event = case.state != CaseState.RESOLVED.value
        carry.cases[case.id] = Simulated(
            key, case.state, case.bot_replies, case.last_bot_reply_at, now if writes_event else None
        )
        case.bot_replies, case.last_bot_reply_at = 0, None
        case.sla_due_at = case.sla_warned_at = case.sla_breached_at = None
        cases.transition(session, case, CaseState.RESOLVED, ACTOR, now, reason=reason)
