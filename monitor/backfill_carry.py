"""What one backfill run carries from chunk to chunk, and how it settles its cases.

Each chunk of a backfill is its own transaction and leaves the database as if the bot
had never replied: the cases it opened resolved with no reply counted, the authors'
cooldowns as they were. The next chunk must still decide as the live daemon would have,
with the thread's reply count, state and the author's cooldown as the run's earlier
decisions left them: ``Carry`` keeps those, ``resume`` puts them back for a chunk and
``settle`` takes them out again. A thread that goes on in a later chunk is resumed, not
reopened (all its cases: the thread's reply count is theirs together): its trail shows
one resolution, after its last message. A thread an earlier run left (stopped by Ctrl-C,
rerun with the --since it printed) is taken up the same way, from what that run stored
(``_carried_over``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from monitor import cases
from monitor.domain import ActionKind, ActionStatus, CaseState
from monitor.store.models import ActionRow, Case, Customer, Event, Message, from_customer
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

    def lend_cooldowns(
        self,
        customers: Sequence[Customer],
        first: dict[int, datetime],
        earlier: dict[int, datetime],
    ) -> None:
        """The run's cooldowns on the authors, for the batch; ``first``: each author's
        earliest message in it; ``earlier``: ``earlier_cooldowns``."""
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
                live = None
            known = [at for at in (live, earlier.get(customer.id)) if at is not None]
            customer.last_bot_reply_at = max(known, default=None)

    def take_back_cooldowns(
        self, customers: Sequence[Customer], real: dict[int, datetime | None]
    ) -> None:
        for customer in customers:
            self.cooldowns[customer.id] = customer.last_bot_reply_at
            customer.last_bot_reply_at = real[customer.id]


def resume(
    session: Session, carry: Carry, messages: Sequence[Message]
) -> dict[int, datetime | None]:
    """Put this run's settled cases in the threads the chunk continues back as its
    decisions left them; return their ids, each with when its customer's newest message
    was written (``newest_written``; None: none). Every customer's case of such a
    thread, not only the chunk's authors': the reply cap counts the thread's replies to
    all of them. A case taken over since (by a live mention, or reopened by a person) is
    theirs: it is left as it is and no longer carried."""
    threads = {(m.platform, m.conversation_id) for m in messages}
    carried, measured = _carried_over(session, carry, messages)
    carry.cases.update(carried)
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
    # Those an earlier run left were measured taking them over; this run's, not yet.
    unmeasured = [case_id for case_id in resumed if case_id not in measured]
    if unmeasured:
        measured.update(newest_written(session, unmeasured))
    return {case_id: measured.get(case_id) for case_id in resumed}


def _carried_over(
    session: Session, carry: Carry, messages: Sequence[Message]
) -> tuple[dict[int, Simulated], dict[int, datetime]]:
    """The cases an earlier run settled in the threads this chunk goes on with, as its
    decisions left them, and ``newest_written`` of each case it looked at (``resume``
    hands it on). Without them a rerun took such a case for a resolved one the customer
    wrote to again: reopened, and the thread's replies counted from none, so a capped
    thread was answered again. Only a case whose last step is that run's
    resolution, and that the chunk goes on past (its older messages join the case
    undecided: ``monitor.backfill``): a person's step since makes it theirs, and older
    history alone does not go on from newer."""
    reach: dict[tuple[str, str], datetime] = {}  # each thread's newest in the chunk
    for m in messages:
        thread = (m.platform, m.conversation_id)
        reach[thread] = max(reach.get(thread, m.created_at), m.created_at)
    query = select(Case).where(
        Case.platform.in_({platform for platform, _ in reach}),
        Case.conversation_id.in_({conversation for _, conversation in reach}),
        Case.state == CaseState.RESOLVED.value,
    )
    found = {
        case.id: case
        for case in session.scalars(query)
        if (case.platform, case.conversation_id) in reach
        and TAG in case.tags
        and case.id not in carry.cases
    }
    settled = _settled_by_backfill(session, list(found))
    newest = newest_written(session, list(settled))
    replies = _simulated_replies(session, list(settled))
    carried: dict[int, Simulated] = {}
    for case_id, (old, at) in settled.items():
        case = found[case_id]
        key = (case.platform, case.conversation_id, case.customer_id)
        if case_id in newest and newest[case_id] > reach[key[:2]]:
            continue
        count, last = replies.get(case_id, (0, None))
        carried[case_id] = Simulated(key, old, count, last, at)
    return carried, newest


def _settled_by_backfill(session: Session, case_ids: list[int]) -> dict[int, tuple[str, datetime]]:
    """Of these cases, those whose last state step is a backfill's resolution: the state
    it resolved them from, and when."""
    last = (
        select(func.max(Event.id))
        .where(Event.case_id.in_(case_ids), Event.kind == "state")
        .group_by(Event.case_id)
    )
    steps = session.scalars(select(Event).where(Event.id.in_(last.scalar_subquery())))
    return {
        e.case_id: (str(e.detail["old"]), e.at)
        for e in steps
        if e.case_id is not None and e.actor == ACTOR and e.detail.get("new") == "resolved"
    }


def newest_written(session: Session, case_ids: list[int]) -> dict[int, datetime]:
    """When the newest customer message of each of these cases was written. Not the
    brand's own posts, which join the case too: a native answer newer than what the
    customer wrote is no history of theirs the case holds (``ThreadIndex`` alike)."""
    query = (
        select(Message.case_id, func.max(Message.created_at))
        .where(Message.case_id.in_(case_ids), from_customer())
        .group_by(Message.case_id)
    )
    return {case_id: at for case_id, at in session.execute(query) if case_id is not None}


def _simulated_replies(
    session: Session, case_ids: list[int]
) -> dict[int, tuple[int, datetime | None]]:
    """The replies a backfill decided in these cases, and the last one's time."""
    replies: dict[int, tuple[int, datetime | None]] = {}
    for case_id, _, at in _would_be_replies(session, ActionRow.case_id.in_(case_ids)):
        count, last = replies.get(case_id, (0, None))
        replies[case_id] = (count + 1, at if last is None else max(last, at))
    return replies


def earlier_cooldowns(
    session: Session, carry: Carry, first: dict[int, datetime]
) -> dict[int, datetime]:
    """Each author's last reply an earlier run decided before ``first`` (the author's
    earliest message in the chunk), for authors this run has not decided on yet: a rerun
    after Ctrl-C otherwise answered the author again inside the cooldown."""
    fresh = [customer_id for customer_id in first if customer_id not in carry.cooldowns]
    last: dict[int, datetime] = {}
    for _, customer_id, at in _would_be_replies(session, Case.customer_id.in_(fresh)):
        if at <= first[customer_id] and (customer_id not in last or at > last[customer_id]):
            last[customer_id] = at
    return last


def _would_be_replies(
    session: Session, where: ColumnElement[bool]
) -> Iterator[tuple[int, int, datetime]]:
    """(case, customer, when) of each reply (not draft) a backfill decided: stored
    suppressed, dated as of the message it answers."""
    query = (
        select(ActionRow.case_id, Case.customer_id, ActionRow.created_at, Message.decision)
        .join(Case, ActionRow.case_id == Case.id)
        .join(Message, ActionRow.message_id == Message.id)
        .where(
            where,
            ActionRow.kind == ActionKind.REPLY.value,
            ActionRow.status == ActionStatus.SUPPRESSED.value,
        )
    )
    for case_id, customer_id, at, decision in session.execute(query):
        if not ((decision or {}).get("reply") or {}).get("draft"):
            yield case_id, customer_id, at


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
        case.sla_due_at = case.sla_warn_from = case.sla_warned_at = case.sla_breached_at = None
        cases.transition(session, case, CaseState.RESOLVED, ACTOR, now, reason=reason)
