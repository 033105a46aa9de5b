"""Which case each message of a batch belongs to, loaded with a few queries per batch.

Per-message lookups (customer, latest case of the thread, the author's history) cost a
round trip each; for a batch of 200 that dominated processing time. One index per
batch answers them from memory, and new cases are inserted together in one statement.

The batch's cases are detached objects (``store.bulk``): processing changes them in
memory and writes the changes with one UPDATE per set of changed columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from enum import Enum
from typing import Any, NamedTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session, aliased

from monitor import case_transitions, cases, casework, native_answers
from monitor.domain import CaseState, Direction, MessageKind, Score
from monitor.settings import Settings
from monitor.store.bulk import detach
from monitor.store.models import Case, Customer, Event, Message, from_customer
from monitor.store.queries import insert_returning_objects, locked, one_of

ThreadKey = tuple[str, str, int]  # platform, conversation id, customer id
Thread = tuple[str, str]  # platform, conversation id
_KEY = ("platform", "conversation_id", "customer_id")
# Cases opened by `inchannel backfill` carry this tag until a live message arrives.
BACKFILL_TAG = "backfill"


class Link(Enum):
    """What became of a brand's own post (``ThreadIndex.link_own``)."""

    JOINED = "joined"  # the case of the post it answers, or none
    WAITS = "waits"  # the post it answers is stored but not decided yet
    UNKNOWN = "unknown"  # it answers no post, and no customer of this batch is in its thread


class _Earlier(NamedTuple):
    """One of the author's cases outside the batch, as much as history needs. A tuple:
    a batch reads hundreds, and a frozen dataclass cost twice as much to build."""

    id: int
    team: str | None


def _key(case: Case) -> ThreadKey:
    return (case.platform, case.conversation_id, case.customer_id)


def _new_case(key: ThreadKey, score: Score, now: datetime) -> dict[str, Any]:
    platform, conversation_id, customer_id = key
    return {
        "platform": platform,
        "conversation_id": conversation_id,
        "customer_id": customer_id,
        "state": CaseState.NEW.value,
        "priority": "normal",
        "tags": [],
        "first_label": score.label.value,
        "bot_replies": 0,
        "opened_at": now,
        "updated_at": now,
    }


class ThreadIndex:
    def __init__(
        self,
        session: Session,
        messages: Sequence[Message],
        settings: Settings,
        *,
        backfilling: bool = False,
    ) -> None:
        self._session = session
        self._settings = settings  # the teams' clocks, for a follow-up owed (_settle_answered)
        self.backfilling = backfilling
        ids = {m.customer_id for m in messages if m.customer_id is not None}
        # Locked like the cases: two workers deciding on the same author in different
        # threads would both read an empty cooldown and both reply. The live claim has
        # locked them already (batch_claim.claim); a backfill waits here.
        customers = locked(session, select(Customer).where(one_of(session, Customer.id, ids)))
        self.customers = {c.id: c for c in session.scalars(customers.order_by(Customer.id))}
        # The authors' other cases only matter as history (id, team), so they are read
        # as rows; only the latest case of each thread in the batch becomes an object.
        self._by_customer: dict[int, list[Case | _Earlier]] = defaultdict(list)
        latest: dict[ThreadKey, int] = {}
        history = select(Case.id, Case.platform, Case.conversation_id, Case.customer_id, Case.team)
        rows = session.execute(
            history.where(one_of(session, Case.customer_id, ids)).order_by(Case.id)
        )
        # The authors' cases so far; ``history`` adds each case once it is decided on.
        self._existing: set[int] = set()
        # Unpacked, in one pass: reading each row's columns by name cost a quarter of it.
        for case_id, platform, conversation_id, customer_id, team in rows:
            latest[(platform, conversation_id, customer_id)] = case_id
            self._by_customer[customer_id].append(_Earlier(case_id, team))
            self._existing.add(case_id)
        keys = {(m.platform, m.conversation_id, m.customer_id) for m in messages}
        wanted = {case_id for key, case_id in latest.items() if key in keys}
        self._latest: dict[ThreadKey, Case] = {}
        if wanted:  # a batch of new threads only has none to read
            self._load(select(Case).where(Case.id.in_(wanted)))
        self._new: dict[ThreadKey, dict[str, Any]] = {}
        self._opened: list[tuple[ThreadKey, Message]] = []
        self._threads: dict[Thread, ThreadKey] = {}  # last attached per thread
        self._written: dict[Thread, ThreadKey] = {}  # (platform, external id) → case key
        # (platform, external id) → when the customer's post was written; for the brand's
        # post, when the customer's post it answers was: what a brand's answer covers.
        self._written_at: dict[Thread, datetime] = {}
        self._own: list[tuple[Message, ThreadKey, datetime]] = []
        # The brand's posts answering a stored case's post, with what each covers
        # (``_settle_answered``).
        self._outside: list[tuple[Message, datetime]] = []
        # Cases those answered whose state waits on the batch's decisions: settled once
        # decided if the rules ignored all their messages (``settle_ignored``).
        self._deferred: dict[int, Case] = {}
        # (platform, external id) → the case (or none) a post outside ``_written`` joined
        self._joined: dict[Thread, int | None] = {}
        threads = {(m.platform, m.conversation_id) for m in messages}
        first = min((m.created_at for m in messages), default=None) if backfilling else None
        self._replies = self._bot_replies(threads, first)
        self._last_answer_at = self._last_answers(
            [case.id for case in self._latest.values() if case.first_response_at is not None]
        )
        self._newest = self._newest_written([case.id for case in self._latest.values()])
        # Cases a message of this batch took out of resolved (``reopen``).
        self._reopened: set[int] = set()
        # The messages whose insert opened their case (``opens``).
        self._openers: set[int] = set()
        self._assignee_problems: dict[tuple[str, str | None], str | None] = {}

    def _load(self, query: Select[Case]) -> None:
        # Locked until the batch commits: another worker processing a message of the
        # same case waits and then reads what this batch wrote (its reply count, its
        # state), instead of both deciding on the same old values.
        self._add(list(self._session.scalars(locked(self._session, query.order_by(Case.id)))))

    def _add(self, found: list[Case]) -> None:
        """``found``, detached, as the latest cases of their threads (and history)."""
        detach(self._session, found)
        for case in found:
            self._latest[_key(case)] = case
            # The object replaces its history row: an escalation in this batch counts
            # as history for the author's cases after it.
            earlier = self._by_customer[case.customer_id]
            rows = [i for i, other in enumerate(earlier) if other.id == case.id]
            if rows:
                earlier[rows[0]] = case
            else:
                earlier.append(case)

    def _bot_replies(
        self, threads: set[Thread], first: datetime | None
    ) -> dict[Thread, tuple[int, datetime | None]]:
        """The bot's replies so far in each thread, to every customer in it: the cap is
        per thread, and a busy thread has many customers (each with a case).

        ``first``: a backfill's earliest message. The replies of a case last answered
        after it are left out: they had not been made when the history was written,
        and every older message in the thread was capped by them. (Only a case's latest
        reply time is stored, so such a case counts none.)"""
        if not threads:
            return {}
        query = (
            select(
                Case.platform,
                Case.conversation_id,
                func.sum(Case.bot_replies),
                func.max(Case.last_bot_reply_at),
            )
            .where(
                one_of(self._session, Case.platform, {platform for platform, _ in threads}),
                one_of(
                    self._session,
                    Case.conversation_id,
                    {conversation for _, conversation in threads},
                ),
            )
            .group_by(Case.platform, Case.conversation_id)
        )
        if first is not None:
            query = query.where(
                or_(Case.last_bot_reply_at.is_(None), Case.last_bot_reply_at <= first)
            )
        rows = self._session.execute(query)
        return {(p, c): (int(n or 0), last) for p, c, n, last in rows if (p, c) in threads}

    def _last_answers(self, case_ids: list[int]) -> dict[int, datetime]:
        """What the brand's last reply in each of these answered cases answers: all the
        customer wrote until it was posted, for its outbound messages (dispatch stores
        every post it makes as one); until the post it answers was written, for its own
        posts on the platform, as ``_answered`` judges one in its own batch. Counted by
        when it was posted (the first response), a message written between that post and
        the answer, stored in a later batch, crossed the answer and was owed nothing."""
        if not case_ids:
            return {}
        own = aliased(Message)  # the brand's post; Message: the post it answers, if own
        native = (own.direction == Direction.INBOUND.value) & (own.kind == MessageKind.OWN.value)
        answered = (Message.platform == own.platform) & (Message.external_id == own.in_reply_to)
        # Not the brand's own post: "2/2" answering "1/2" covers no more than "1/2" does
        # (_link_answered).
        answered &= Message.kind != MessageKind.OWN.value
        outbound = own.direction == Direction.OUTBOUND.value
        covers = sql_case((outbound, own.created_at), else_=Message.created_at)
        query = (
            select(own.case_id, func.max(covers))
            .outerjoin(Message, native & answered)
            .where(own.case_id.in_(case_ids), or_(outbound, Message.id.is_not(None)))
            .group_by(own.case_id)
        )
        rows = self._session.execute(query)
        return {case_id: last for case_id, last in rows if case_id is not None and last}

    def _newest_written(self, case_ids: list[int]) -> dict[ThreadKey, datetime]:
        """When the newest customer message decided in each of these cases was written."""
        if not case_ids:
            return {}
        query = (
            select(
                Case.platform, Case.conversation_id, Case.customer_id, func.max(Message.created_at)
            )
            # The customer's messages (from_customer, as every "customer's messages of
            # the case" query reads them): the brand's posts join the case too. Only
            # ``attach`` puts a customer's message in a case, keyed by its customer, so
            # this is the customer join it replaced, without a second definition.
            .join(Message, Message.case_id == Case.id)
            .where(Case.id.in_(case_ids), from_customer())
            .group_by(Case.platform, Case.conversation_id, Case.customer_id)
        )
        rows = self._session.execute(query)
        return {(p, c, n): last for p, c, n, last in rows if last is not None}

    def _is_newest(self, key: ThreadKey, written: datetime) -> bool:
        """Whether a message written at ``written`` is the newest of its case so far.

        Sources overlap and lag (X search and the mentions timeline, Reddit search): an
        older message can be stored after a newer one, and must not set the case's
        latest sentiment."""
        newest = self._newest.get(key)
        if newest is not None and written < newest:
            return False
        self._newest[key] = written
        return True

    def follow_up(self, case: Case, message: Message) -> bool:
        """Whether the customer's ``message`` makes the brand owe them an answer again:
        the case was answered, no earlier follow-up waits already (its clock runs on),
        and the message was written after the brand's last reply. One written before
        it crossed that reply, which answers it. A backfill owes nothing: its cases are
        history."""
        if self.backfilling or case.first_response_at is None or case.follow_up_at is not None:
            return False
        # A message written before the last reply crossed it, unless the case was
        # resolved since and this batch reopened it: stored late (a source that lags,
        # an outage), it was not there when a person closed the case, so nobody judged
        # it answered. Reopened owing nothing, the case waited in the queue with no
        # deadline, never warned about and never overdue.
        return case.id in self._reopened or message.created_at > self._last_answer(case)

    def earlier_follow_up(self, case: Case, message: Message) -> bool:
        """Whether ``message`` is a follow-up written before the one whose answer is owed
        already, and after the brand's last reply: stored late (a source that lags), it
        is the first of them, and the customer has waited since it."""
        if self.backfilling or case.first_response_at is None or case.follow_up_at is None:
            return False
        if case.id in self._reopened:  # every late message of it counts (follow_up)
            return message.created_at < case.follow_up_at
        return self._last_answer(case) < message.created_at < case.follow_up_at

    def shown_when_closed(self, case: Case, message: Message) -> bool:
        """Whether ``message``, a post stored first as thread context, was on the case
        page when a person resolved the case, or answered it and it waits on the
        customer. Listed as a mention since (a sweep cut short, a search that lags), it
        is not the customer writing again: decided as new, it reopened the case, owed an
        answer from when it was written (overdue at once), and the rules could answer or
        escalate what the person had dealt with already."""
        shown = message.context_at
        if shown is None:
            return False
        if case.state == CaseState.RESOLVED.value:
            return case.resolved_at is not None and shown <= case.resolved_at
        if case.state == CaseState.WAITING_CUSTOMER.value:
            # Only a person's posted reply moves a case to waiting (dispatch).
            return case.first_response_at is not None and shown <= self._last_answer(case)
        return False

    def _last_answer(self, case: Case) -> datetime:
        """When the brand's last reply in an answered case was posted."""
        assert case.first_response_at is not None
        return self._last_answer_at.get(case.id, case.first_response_at)

    def thread_replies(self, case: Case) -> tuple[int, datetime | None]:
        """(bot replies in the case's thread, the last one's time), this batch's included."""
        return self._replies.get((case.platform, case.conversation_id), (0, None))

    def replied(self, case: Case, now: datetime) -> None:
        """Count a bot reply queued in ``case``, for its thread's later decisions too."""
        case.bot_replies += 1
        case.last_bot_reply_at = now
        count, last = self.thread_replies(case)
        latest = now if last is None else max(last, now)
        self._replies[(case.platform, case.conversation_id)] = (count + 1, latest)

    @property
    def cases(self) -> list[Case]:
        """The batch's case objects, for ``store.bulk.write_changes``."""
        return list(self._latest.values())

    def attach(
        self, message: Message, customer: Customer, score: Score, now: datetime
    ) -> ThreadKey:
        """Same platform + thread + customer → same case (a resolved one is reopened
        once the rules have decided on the message: ``reopen``).

        A thread new to the database is only noted here; ``open_new`` inserts all of
        the batch's new cases at once. Afterwards ``case(key)`` gives each its case.
        """
        key = (message.platform, message.conversation_id, customer.id)
        self._threads[(message.platform, message.conversation_id)] = key
        self._written[(message.platform, message.external_id)] = key
        self._written_at[(message.platform, message.external_id)] = message.created_at
        case = self._latest.get(key)
        if case is None:
            values = self._new.get(key)
            if values is None:
                values = self._new[key] = _new_case(key, score, now)
                self._opened.append((key, message))
            if self._is_newest(key, message.created_at):
                values["latest_label"] = score.label.value
                values["latest_compound"] = score.compound
            return key
        if self._is_newest(key, message.created_at):
            self._touch(case, score.label.value, score.compound, now)
        else:
            self._touch(case, case.latest_label, case.latest_compound, now)
        return key

    def reopen(self, case: Case, now: datetime) -> None:
        """The customer wrote again in a resolved or waiting case: it is open again.

        Called once the rules have decided on the message, and only when they did not
        ignore it: an ignored message is stored and nothing else happens (docs/rules.md).
        Reopened when attached, giveaway spam or a blocklisted troll put a resolved case
        back in the queue, owing nothing, and cleared the clock of an answer still owed."""
        self._deferred.pop(case.id, None)  # a message not ignored: processing settles it
        waiting = CaseState(case.state) in case_transitions.REOPENABLE
        if waiting and not cases.closed_as_spam(case):
            # Before the clocks restart: a resolved case counts one posted before it closed.
            self._count_unlinked_answer(case)
            if case.state == CaseState.RESOLVED.value:
                self._reopened.add(case.id)
                if BACKFILL_TAG in case.tags and not self.backfilling:
                    _go_live(case, now)  # its clocks: _restart_response_clock below
            # Before the transition clears resolved_at, which tells a breach made before
            # the close from a deadline that passed while the case sat closed.
            _restart_response_clock(case, now)
            reason = "customer wrote again"
            cases.transition(self._session, case, CaseState.NEW, "system", now, reason=reason)

    def _count_unlinked_answer(self, case: Case) -> None:
        """Count the brand's post answering the case on the platform that is stored but
        not processed yet, before the customer's new message reopens the case. Dispatch
        (withdrawing the bot's reply for it) or processing (no bot reply for a post it
        answers) made the case wait on the customer before the post was linked, or a
        person resolved it (counted if posted before that: ``cases.answered_on_platform``):
        reopened as never answered, its opening moved to now, and the post, linked after
        the new message, answered nothing. One query per reopened case, not per message."""
        if self.backfilling or case.first_response_at is not None:
            return
        own = aliased(Message)
        query = (
            select(own.created_at, own.ingested_at, Message.created_at.label("covers"))
            .join(
                Message,
                (Message.platform == own.platform) & (Message.external_id == own.in_reply_to),
            )
            .where(
                own.platform == case.platform,
                own.conversation_id == case.conversation_id,
                own.direction == Direction.INBOUND.value,
                own.kind == MessageKind.OWN.value,
                own.processed.is_(False),
                Message.case_id == case.id,
                from_customer(),
            )
            .order_by(own.created_at)
            .limit(1)
        )
        row = self._session.execute(query).first()
        if row is not None:
            self._answered(case, row.created_at, row.ingested_at, row.covers, settle=False)

    def _touch(self, case: Case, label: str | None, compound: float | None, now: datetime) -> None:
        # A case a person took up: live from now on. A resolved one goes live only when
        # the rules do not ignore the message (``reopen``): an ignored one changes
        # nothing, and the backfill's resolution, its tag gone, counted in the reports
        # from the moved opening, at minus minutes.
        live = BACKFILL_TAG in case.tags and not self.backfilling
        if live and case.state != CaseState.RESOLVED.value:
            _go_live(case, now)
        case.latest_label, case.latest_compound = label, compound
        case.updated_at = now

    def link_own(self, message: Message) -> Link:
        """The brand's own post joins the case of the post it answers, none if that post
        is not stored; a post that answers none (``in_reply_to`` missing) joins the case
        of the customer who last wrote in its thread earlier in this batch (the case may
        not be inserted yet: ``open_new`` sets the id). UNKNOWN when neither is known:
        the caller looks for the thread's latest case in the database.

        The post it answers comes first: in a thread where several customers write, the
        last one to write is often not the one the brand is answering. A post that
        answers one in no case (the brand adding to its own post) joins none: it joined
        the case of whoever last wrote in the thread, as if it answered them. One that
        answers a post stored but not decided yet WAITS for it: that post has no case
        yet, and the thread's latest case is often another customer's."""
        answered = (message.platform, message.in_reply_to or "")
        key = self._written.get(answered)
        if key is None and answered in self._joined:
            message.case_id = self._joined[answered]
            self.note_linked(message)
            return Link.JOINED
        if key is None:
            link = self._link_answered(message)
            if link is not Link.UNKNOWN:
                if link is Link.JOINED:
                    self.note_linked(message)
                return link
        key = key or self._threads.get((message.platform, message.conversation_id))
        if key is None:
            return Link.UNKNOWN
        covers = self._written_at.get(answered, message.created_at)
        self._note_own(message, key, covers)
        return Link.JOINED

    def _note_own(self, message: Message, key: ThreadKey, covers: datetime) -> None:
        """The brand's ``message`` joins the case of ``key`` once it is inserted
        (``open_new``), answering what its customer wrote until ``covers``."""
        self._written[(message.platform, message.external_id)] = key
        self._written_at[(message.platform, message.external_id)] = covers
        self._own.append((message, key, covers))

    def note_linked(self, message: Message) -> None:
        """``message`` joined the case it has now (or none): a brand's post answering
        it later in this batch joins the same."""
        self._joined[(message.platform, message.external_id)] = message.case_id

    def _link_answered(self, message: Message) -> Link:
        """Join the case of the stored post ``message`` answers, if it has one (a post
        kept as thread context: its author's case in the thread); JOINED too, to no
        case, when that post is decided and in no case (the brand's own, say) or not
        stored at all. UNKNOWN only when ``message`` answers no post. Answering the
        brand's own post in a case, it joins that case and answers nothing more."""
        if message.in_reply_to is None:
            return Link.UNKNOWN
        query = select(
            Message.case_id,
            Message.processed,
            Message.direction,
            Message.kind,
            Message.author_handle,
            Message.conversation_id,
            Message.created_at,
        ).where(
            Message.platform == message.platform,
            Message.external_id == message.in_reply_to,
        )
        row = self._session.execute(query).one_or_none()
        if row is None:
            # Not stored (a third party's post, a parent the source could not fetch): who
            # it answers is unknown. The thread's last writer, the guess it took, was
            # often another customer, whose case then showed the answer as theirs.
            message.case_id = None
            return Link.JOINED
        if row.direction == Direction.CONTEXT.value:
            # Context is in no case and names no customer: its author's case in the
            # thread is the one the brand answered.
            return self._join_authors_case(
                message, row.author_handle, row.conversation_id, row.created_at
            )
        if row.case_id is None and not row.processed:
            return Link.WAITS
        message.case_id = row.case_id
        if row.kind != MessageKind.OWN.value:
            # Not the second post of an answer in two ("2/2" replying to "1/2"): the first
            # answered what the customer wrote until her post. Counted too, it answered
            # all she wrote until the first was posted, a follow-up owed included.
            self._answered_outside_batch(message, row.created_at)
        return Link.JOINED

    def _join_authors_case(
        self, message: Message, handle: str, conversation_id: str, covers: datetime
    ) -> Link:
        """Join the case in ``conversation_id`` of the customer called ``handle``, none
        if they have none there. A case of this batch may not be inserted yet:
        ``open_new`` gives the message its id. ``covers``: when the post it answers was
        written."""
        thread, wanted = (message.platform, conversation_id), handle.lower()
        for key in [*self._latest, *self._new]:
            customer = self.customers.get(key[2])
            if key[:2] == thread and customer is not None and customer.handle.lower() == wanted:
                self._note_own(message, key, covers)
                return Link.JOINED
        query = (
            select(Case.id)
            .join(Customer, Customer.id == Case.customer_id)
            .where(
                Case.platform == message.platform,
                Case.conversation_id == conversation_id,
                func.lower(Customer.handle) == wanted,
            )
            .order_by(Case.id.desc())
            .limit(1)
        )
        message.case_id = self._session.scalar(query)
        self._answered_outside_batch(message, covers)
        return Link.JOINED

    def _answered_outside_batch(self, message: Message, covers: datetime) -> None:
        """The brand's ``message`` answers a post of a stored case, written at ``covers``:
        its response, noted here and settled by ``open_new`` for the whole batch
        (_settle_answered)."""
        if self.backfilling or message.case_id is None or message.in_reply_to is None:
            return
        self._outside.append((message, covers))

    def _settle_answered(self) -> None:
        """The brand's answers noted by ``_answered_outside_batch``. A case with none of
        the customer's messages in this batch is read (and locked) here; one with them
        is decided after this and settles its state then. Three statements a batch: per
        answer, a batch of 200 read (and locked, in no order) its case and its later
        messages one by one, and each read flushed the events recorded before it."""
        answers, self._outside = self._outside, []
        if not answers:
            return
        later = native_answers.first_written_after(
            self._session, {m.id: (m.case_id, covers) for m, covers in answers if m.case_id}
        )
        known = {case.id for case in self._latest.values()}
        missing = {m.case_id for m, _ in answers if m.case_id is not None} - known
        if missing:
            self._load(select(Case).where(Case.id.in_(missing)))
        by_id = {case.id: case for case in self._latest.values()}
        earlier = self._to_earlier_opening(answers, by_id, later)
        for message, covers in answers:
            case = by_id.get(message.case_id or 0)
            if case is None or message.id in earlier:
                continue
            posted, arrived = message.created_at, message.ingested_at
            since = later.get(message.id)
            if since is None:
                settle = case.id in missing
                if self._answered(case, posted, arrived, covers, settle=settle) and not settle:
                    self._deferred[case.id] = case
            else:
                self._answered_before(case, posted, arrived, covers, since)

    def _to_earlier_opening(
        self,
        answers: Sequence[tuple[Message, datetime]],
        by_id: dict[int, Case],
        later: dict[int, datetime],
    ) -> set[int]:
        """The ids of those of ``answers`` that answer the conversation before the one
        their case owes now: posted before its opening moved on (a reopening of a case
        closed unanswered, a backfilled thread going live), to a post the customer wrote
        again after. Counted, each was the new conversation's first response, clamped
        to the moved opening at zero minutes, and stopped the clock of what is owed.
        Only a moved opening: one a lagging poll made late takes the answer, as
        ``cases.answered_on_platform`` counts it."""
        wanted = {
            message.id: case.id
            for message, _ in answers
            if message.id in later
            and (case := by_id.get(message.case_id or 0)) is not None
            and case.first_response_at is None
            and message.created_at < case.opened_at
        }
        if not wanted:
            return set()
        query = select(Event.case_id, Event.at).where(
            Event.case_id.in_(set(wanted.values())), Event.kind == "opened"
        )
        moved = {
            case_id
            for case_id, at in self._session.execute(query)
            if case_id is not None and at < by_id[case_id].opened_at
        }
        return {message_id for message_id, case_id in wanted.items() if case_id in moved}

    def _answered_before(
        self, case: Case, posted: datetime, arrived: datetime, covers: datetime, since: datetime
    ) -> None:
        """The brand answered in ``case`` a post the customer wrote again after, first at
        ``since`` (a message decided already), as dispatch judges a reply withdrawn for
        such an answer: what was owed until that post is given, the first response too,
        and the later message is owed its own answer, on its own clock, as after
        dispatch's reply. Dropped, the answer left the case unanswered in the reports."""
        self._note_answer_at(case, covers)
        if not cases.answered_on_platform(case, posted, arrived, covers):
            return  # nothing owed until that post: the later message's answer stays owed
        if cases.SPAM_TAG not in case.tags:
            cases.owe_follow_up(self._settings, case, since)

    def _answered(
        self, case: Case, posted: datetime, arrived: datetime, covers: datetime, *, settle: bool
    ) -> bool:
        """The brand answered in ``case`` on the platform (its own post answering one of
        the case, posted and stored at these times, the post it answers written at
        ``covers``): the answer owed is given. A customer message of this batch counts
        as answered when written by ``covers``, as one stored in the case before the
        answer is judged (``_settle_answered``): judged by ``posted``, one written
        after the post answered but before the answer went unowed in the answer's batch
        and stayed owed in a later one. ``settle``: no customer message of the batch is
        in the case, so it waits on the customer now, as after a person's reply from the
        dashboard; with one, processing decides its state. Whether it answered what was
        owed."""
        self._note_answer_at(case, covers)
        if not cases.answered_on_platform(case, posted, arrived, covers):
            return False
        if settle:
            self._settle(case, arrived)
        return True

    def _note_answer_at(self, case: Case, covers: datetime) -> None:
        """The brand's latest answer in ``case`` covers what the customer wrote until
        ``covers``."""
        last = self._last_answer_at.get(case.id, covers)
        self._last_answer_at[case.id] = max(last, covers)

    def _settle(self, case: Case, at: datetime) -> None:
        """The case answered on the platform waits on the customer, if nothing is owed."""
        if cases.response_owed_since(case) is None:
            # case_transitions, shared with the dry run: a draft's case keeps its state.
            reason = "the brand answered on the platform"
            state = case_transitions.after_brand_answer(CaseState(case.state))
            cases.transition(self._session, case, state, "system", at, reason=reason)

    def settle_ignored(self, now: datetime) -> None:
        """Once the batch is decided: the cases the brand answered on the platform whose
        messages of the batch the rules all ignored are settled as with none (an ignored
        message is stored and nothing else happens). Left to processing, which settles
        nothing for an ignored message, an answered case stayed in the team's queue."""
        for case_id in sorted(self._deferred):
            self._settle(self._deferred[case_id], now)
        self._deferred.clear()

    def open_new(self, at: Callable[[Message], datetime]) -> None:
        """Insert the batch's new cases in one statement and record them as opened, each
        at ``at`` of the message that opened it (the batch's time; in a backfill, the
        message's own).

        Another worker may have opened the same case a moment ago: the unique index
        turns our insert of it into a no-op and the message joins that case instead.
        Then the brand's own posts noted by ``link_own`` get their case ids.
        """
        if self._new:
            self._insert_new(at)
        self._settle_answered()
        for message, key, covers in self._own:
            case = self._latest[key]
            message.case_id = case.id
            # Answering a customer of this batch (``in_reply_to``), not a guess of the
            # thread's last writer: the brand's response, their message decided next.
            if not self.backfilling and message.in_reply_to is not None:
                posted, arrived = message.created_at, message.ingested_at
                self._answered(case, posted, arrived, covers, settle=False)
        self._own.clear()

    def _insert_new(self, at: Callable[[Message], datetime]) -> None:
        # In arrival order: ids (and so case refs, and what counts as an earlier case)
        # follow the order customers wrote in. Two workers inserting the same new keys
        # in different orders can deadlock; PostgreSQL then rolls one batch back and it
        # runs again (processing.with_retries).
        # The INSERT returns the new cases whole: read back, they cost two SELECTs a
        # batch. In id order, as _load gives them: history lists a customer's cases so.
        opened = insert_returning_objects(self._session, Case, list(self._new.values()))
        self._add(sorted(opened, key=lambda case: case.id))
        inserted = {_key(case) for case in opened}
        taken = [key for key in self._new if key not in inserted]
        if taken:  # another worker opened them a moment ago: loaded (and locked)
            self._load(self._cases_of(taken))
        for key, message in self._opened:
            case, now = self._latest[key], at(message)
            if key in inserted:
                self._openers.add(message.id)
                cases.record(
                    self._session, case, "opened", "system", now, message=message.external_id
                )
            else:
                values = self._new[key]
                self._touch(case, values["latest_label"], values["latest_compound"], now)
        self._new.clear()
        self._opened.clear()

    def _cases_of(self, keys: list[ThreadKey]) -> Select[Case]:
        """The cases of ``keys``: the IN lists also match other threads of these
        customers, so their keys are read first and only the wanted ones loaded."""
        found = select(Case.id, Case.platform, Case.conversation_id, Case.customer_id).where(
            Case.customer_id.in_({key[2] for key in keys}),
            Case.conversation_id.in_({key[1] for key in keys}),
        )
        wanted = set(keys)
        ids = [row.id for row in self._session.execute(found) if tuple(row[1:]) in wanted]
        return select(Case).where(Case.id.in_(ids))

    def assignee_problem(self, name: str, team: str | None) -> str | None:
        """Why a rule's assign to ``name`` cannot give her a case of ``team``, looked up
        once per batch: a rule assigning every message it matches read the same user
        once per message."""
        key = (name, team)
        if key not in self._assignee_problems:
            problem = casework.assignee_problem(self._session, name, team)
            self._assignee_problems[key] = problem
        return self._assignee_problems[key]

    def opens(self, message: Message) -> bool:
        """Whether ``message`` opened its case: not when another worker opened the same
        case a moment before (our insert of it was a no-op)."""
        return message.id in self._openers

    def case(self, key: ThreadKey) -> Case:
        return self._latest[key]

    def history(self, customer_id: int, case: Case) -> tuple[int, bool]:
        """(number of the author's other cases so far, whether any of them was escalated).

        So far means stored before this batch, or opened by a message decided before
        this one: a case opened later in the same batch must not count as history. Not
        opened before this case: a follow-up in the author's first thread counts the
        threads they wrote in since (a customer writing in two threads at once).
        """
        others = self._by_customer[customer_id]
        earlier = [o for o in others if o.id != case.id and o.id in self._existing]
        self._existing.add(case.id)
        escalated = any(other.team is not None for other in earlier) or case.team is not None
        return len(earlier), escalated


def _go_live(case: Case, now: datetime) -> None:
    """A live message in a thread a backfill imported: the conversation is live from
    now on. Its first-response clock (SLA from opened_at) starts now, not years ago, and
    a later backfill must treat it as live and leave it alone. Not a case a person has
    answered: moved past that answer, its first response took minus minutes."""
    case.tags = [tag for tag in case.tags if tag != BACKFILL_TAG]
    if case.first_response_at is None:
        case.opened_at = now


def _restart_response_clock(case: Case, now: datetime) -> None:
    """A case closed while an answer was owed (a person found none was needed) that the
    customer reopens: they wait from now. Counted from the first message or the old
    follow-up, or keeping the old deadline, the reopened case breached its SLA at once,
    days after it was closed. A first response counts from the (re)opening; a follow-up
    owed again starts its clock when processing decides on the new message."""
    if case.first_response_at is None:
        case.opened_at = now
    elif case.follow_up_at is not None:
        case.follow_up_at = None
    else:
        return  # answered, and nothing was owed when it closed: nothing to restart
    cases.drop_clock(case, now)
