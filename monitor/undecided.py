"""A message that fails processing by itself: its failures are counted in the database
and, at the UNDECIDED_TRIES-th, it is handed to a team undecided, so no customer waits
on a message tried forever. Messages that fail together, none of their batch decided,
are counted apart and handed over later (UNDECIDED_TRIES_AMONG)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from monitor.domain import Decision, MessageKind
from monitor.runtime import Runtime
from monitor.store.db import transaction, with_retries
from monitor.store.models import Event, Message

log = logging.getLogger("inchannel.process")

# How many times a message fails alone before it is handed to a team undecided: about
# 10 minutes of tries (5 minutes apart), when status starts to report it as late.
UNDECIDED_TRIES = 3
# How many tries in all, when some failed among a batch none of whose messages was
# decided: such a failure may be every message's (the rules or the scorer broken), which
# a fix ends at once, so these messages are never set aside and are handed over only
# after about 25 minutes (status reports them from the first run). Not counted, they
# were tried forever, and a spam wave of one crashing text as long as a batch held up
# every message stored after it for good.
UNDECIDED_TRIES_AMONG = 6
# How long a message that failed its batch alone is left out before it is tried again.
SET_ASIDE_FOR = timedelta(minutes=5)
UNDECIDED = "could not be decided"
# The audit event of each try a message failed alone; its case is not known yet. Its
# detail's AMONG: how many failed with it, none of their batch decided.
UNDECIDED_EVENT = "undecided"
AMONG = "among"
# The audit event of a message closed without a case, for status to report: only a log
# line and a metric told, and no person sees that customer otherwise.
CLOSED_EVENT = "closed_without_case"
# The note of the brand's own post (or one with no customer) closed so: nobody is owed
# an answer to it.
NEEDS_NO_ANSWER = "the brand's own post: needs no answer"


@dataclass(frozen=True, slots=True)
class Tries:
    """A message's counted failures: alone, and in all (with those among its batch)."""

    alone: int
    total: int
    counted_at: datetime  # the last counted try's
    counted: bool  # this failure counted a try (not the last one again)

    @property
    def due(self) -> bool:
        """Whether to hand it over."""
        return self.alone >= UNDECIDED_TRIES or self.total >= UNDECIDED_TRIES_AMONG


def failed_alone(
    rt: Runtime,
    message_id: int,
    exc: Exception,
    now: datetime,
    *,
    hand_over: Callable[[str], list[Decision]],
) -> None:
    """Count the try in the database (a restart, or another worker, forgot the set-aside
    and tried it at once) and, at UNDECIDED_TRIES, hand the message to a team undecided
    with ``hand_over(reason)``: set aside and tried forever, it never became a case, and
    no person saw that customer."""
    count = functools.partial(_count_tries, rt, [(message_id, exc)], now, None)
    tries = with_retries(count)[message_id]
    if not tries.due:
        # From the counted try, not from now: a worker that did not know the set-aside
        # waits as long as the one that set it.
        rt.set_aside[message_id] = tries.counted_at + SET_ASIDE_FOR
        rt.metrics.undecided("set_aside")
        log.error(
            "message id=%d set aside until %s: it fails its batch (try %d of %d)",
            message_id,
            rt.set_aside[message_id].isoformat(),
            tries.alone,
            UNDECIDED_TRIES,
        )
        return
    rt.set_aside.pop(message_id, None)
    _give_up(rt, message_id, exc, tries, now, hand_over)


def failed_together(
    rt: Runtime,
    failed: Sequence[tuple[int, Exception]],
    now: datetime,
    *,
    hand_over: Callable[[int, str], list[Decision]],
    hold_up_others: bool,
) -> None:
    """Messages that failed one by one while none of their batch was decided: counted
    as tries among the others, and at UNDECIDED_TRIES_AMONG each is handed over with
    ``hand_over(message_id, reason)``. Set aside (as one failing alone is, but never
    handed over sooner) only when ``hold_up_others``, other messages waiting behind
    them: left in place, a wave of them longer than a batch was all every run tried, and
    a mention stored behind a wave ten batches long waited hours, one batch handed over
    every 25 minutes. When nothing waits behind them they are not set aside: the rules
    or the scorer may fail every message, and once fixed all are decided at the next run."""
    count = functools.partial(_count_tries, rt, failed, now, len(failed))
    tries = with_retries(count)
    counted = sum(1 for t in tries.values() if t.counted)
    for _ in range(counted):
        rt.metrics.undecided("failed_together")
    if counted:
        log.error(
            "%d messages failed, none of their batch decided: %s; handed to their teams at try %d",
            counted,
            "set aside, the messages behind them tried" if hold_up_others else "tried again",
            UNDECIDED_TRIES_AMONG,
        )
    for message_id, exc in failed:
        mine = functools.partial(hand_over, message_id)
        if tries[message_id].due and _give_up(
            rt, message_id, exc, tries[message_id], now, mine, may_close=False
        ):
            continue
        if hold_up_others:
            # From the counted try, as failed_alone: every worker leaves them out as long.
            # One due that could not be handed over is left out too: in place, it held up
            # every message behind it again.
            rt.set_aside[message_id] = tries[message_id].counted_at + SET_ASIDE_FOR


def _give_up(
    rt: Runtime,
    message_id: int,
    exc: Exception,
    tries: Tries,
    now: datetime,
    hand_over: Callable[[str], list[Decision]],
    *,
    may_close: bool = True,
) -> bool:
    """Hand the message over; when no case can hold it either, close it without one,
    unless not ``may_close``: nothing of its batch was decided, so the database may be
    refusing every case (a broken migration), and closing each message emptied the
    queue of customers no person would see. Left undecided, status reports them, and
    they are decided once the database is mended. Returns whether it was handed over
    or closed (not when left undecided, or another worker holds its author)."""
    # The class only: the error's text quotes the mention (or the values the database
    # refused), which may be what cannot be stored.
    reason = f"{UNDECIDED}: {type(exc).__name__}"
    owed = with_retries(functools.partial(_owes_answer, rt, message_id))
    try:
        decisions = with_retries(functools.partial(hand_over, reason))
    except OperationalError:
        raise  # the database locked or away: the next failure hands it over
    except Exception as second:
        if not owed:
            # Nobody waits for an answer to it, and no case is lost: closed even when
            # nothing of its batch was decided, or it was tried at every run forever.
            _close_without_case(rt, message_id, (reason, NEEDS_NO_ANSWER), now, owed=False)
            return True
        if not may_close:
            log.error(
                "message id=%d could not be handed over either (%s): left undecided",
                message_id,
                type(second).__name__,
            )
            return False
        opening = f"no case could be opened: {type(second).__name__}"
        _close_without_case(rt, message_id, (reason, opening), now)
        return True
    if not owed:
        # Processing links it to its thread's case, if any, and decides nothing: no
        # decision came back, and it went uncounted and unlogged.
        return _linked(rt, message_id, tries)
    for decision in decisions:
        rt.metrics.decided(decision)
        rt.metrics.undecided("handed_over")
    if decisions:
        log.error(
            "message id=%d handed to its team after %d tries: %s", message_id, tries.total, reason
        )
    return bool(decisions)


def _owes_answer(rt: Runtime, message_id: int) -> bool:
    """Whether the message is a customer's: processing acts on neither the brand's own
    post nor one with no customer (processing._prepare), so neither is owed an answer,
    and given up on, neither is a customer no person sees."""
    with rt.sessions() as session:
        query = select(Message.kind, Message.customer_id).where(Message.id == message_id)
        row = session.execute(query).one_or_none()
    return row is None or (row.kind != MessageKind.OWN.value and row.customer_id is not None)


def _linked(rt: Runtime, message_id: int, tries: Tries) -> bool:
    """After the hand-over of a post needing no answer: whether it is done (another
    worker holding its author's row left it for the next failure)."""

    def done() -> bool:
        with rt.sessions() as session:
            query = select(Message.processed).where(Message.id == message_id)
            return bool(session.scalar(query))

    if not with_retries(done):
        return False
    rt.metrics.undecided("brand_post")
    log.error(
        "message id=%d (the brand's own post) linked to its thread undecided after %d tries",
        message_id,
        tries.total,
    )
    return True


def _count_tries(
    rt: Runtime,
    failed: Sequence[tuple[int, Exception]],
    now: datetime,
    among: int | None,
) -> dict[int, Tries]:
    """Record that each message of ``failed`` failed once more (``among``: with how many,
    none of their batch decided; None: alone); their tries so far. A failure within
    SET_ASIDE_FOR of the message's last counted try is that try again: the set-aside is
    each worker's own, so the other workers tried it at once, and each counting a try
    handed it over seconds after its first failure; messages failing together are tried
    at every run. One transaction: a batch of them is counted at every run."""
    tries: dict[int, Tries] = {}
    with transaction(rt.sessions) as session:
        earlier = _earlier_tries(session, [message_id for message_id, _ in failed])
        for message_id, exc in failed:
            seen = earlier.get(message_id, [])
            alone = sum(1 for by_itself, _ in seen if by_itself)
            last = max((at for _, at in seen), default=None)
            if last is not None and now < last + SET_ASIDE_FOR:
                tries[message_id] = Tries(alone, len(seen), last, counted=False)
                continue
            detail = {"message": message_id, "error": type(exc).__name__}
            row = Event(case_id=None, kind=UNDECIDED_EVENT, actor="system", at=now)
            row.detail = detail if among is None else {**detail, AMONG: among}
            session.add(row)
            alone += 1 if among is None else 0
            tries[message_id] = Tries(alone, len(seen) + 1, now, counted=True)
    return tries


def _earlier_tries(session: Session, ids: list[int]) -> dict[int, list[tuple[bool, datetime]]]:
    """By message, its counted tries: whether it failed alone, and when."""
    message = Event.detail["message"].as_integer()
    query = select(message, Event.detail, Event.at).where(
        Event.case_id.is_(None), Event.kind == UNDECIDED_EVENT, message.in_(ids)
    )
    earlier: dict[int, list[tuple[bool, datetime]]] = {}
    for message_id, detail, at in session.execute(query):
        alone = not (isinstance(detail, dict) and AMONG in detail)
        earlier.setdefault(int(message_id), []).append((alone, at))
    return earlier


def _close_without_case(
    rt: Runtime, message_id: int, notes: tuple[str, ...], now: datetime, *, owed: bool = True
) -> None:
    """The last resort, when not even a case can hold the message (the database refuses
    its thread): marked decided with the reasons, so it stops failing the job and
    holding up its author's later messages. Only the id and fixed words are written.
    Another worker may have decided it meanwhile: then nothing is closed, and nothing
    said (the metric is the one to alert on, and that customer has a case). Not
    ``owed`` an answer (the brand's own post), it is no customer nobody sees: neither
    the CLOSED_EVENT status reports, asking for an answer on the platform, nor the
    ``no_case`` metric."""

    def close() -> bool:
        with transaction(rt.sessions) as session:
            closed = session.execute(
                update(Message)
                .where(Message.id == message_id, Message.processed.is_(False))
                .values(processed=True, decision={"notes": list(notes)})
            )
            if not getattr(closed, "rowcount", 0):
                return False
            if owed:
                detail = {"message": message_id}
                row = Event(case_id=None, kind=CLOSED_EVENT, actor="system", detail=detail, at=now)
                session.add(row)
            return True

    if not with_retries(close):
        log.info("message id=%d decided by another worker before it was closed", message_id)
        return
    if not owed:
        rt.metrics.undecided("brand_post")
        log.error("message id=%d (the brand's own post) closed: %s", message_id, "; ".join(notes))
        return
    rt.metrics.undecided("no_case")
    log.error("message id=%d closed without a case: %s", message_id, "; ".join(notes))
