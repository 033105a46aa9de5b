"""A message that fails processing by itself: its failures are counted in the database
and, at the UNDECIDED_TRIES-th, it is handed to a team undecided, so no customer waits
on a message tried forever."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from monitor.domain import Decision
from monitor.runtime import Runtime
from monitor.store.db import transaction, with_retries
from monitor.store.models import Event, Message

log = logging.getLogger("inchannel.process")

# How many times a message fails alone before it is handed to a team undecided: about
# 10 minutes of tries (5 minutes apart), when status starts to report it as late.
UNDECIDED_TRIES = 3
# How long a message that failed its batch alone is left out before it is tried again.
SET_ASIDE_FOR = timedelta(minutes=5)
UNDECIDED = "could not be decided"
# The audit event of each try a message failed alone; its case is not known yet.
UNDECIDED_EVENT = "undecided"
# The audit event of a message closed without a case, for status to report: only a log
# line and a metric told, and no person sees that customer otherwise.
CLOSED_EVENT = "closed_without_case"


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
    tries, counted_at = with_retries(functools.partial(_count_try, rt, message_id, exc, now))
    # From the counted try, not from now: a worker that did not know the set-aside waits
    # as long as the one that set it.
    rt.set_aside[message_id] = counted_at + SET_ASIDE_FOR
    if tries < UNDECIDED_TRIES:
        rt.metrics.undecided("set_aside")
        log.error(
            "message id=%d set aside until %s: it fails its batch (try %d of %d)",
            message_id,
            rt.set_aside[message_id].isoformat(),
            tries,
            UNDECIDED_TRIES,
        )
        return
    rt.set_aside.pop(message_id, None)
    # The class only: the error's text quotes the mention (or the values the database
    # refused), which may be what cannot be stored.
    reason = f"{UNDECIDED}: {type(exc).__name__}"
    try:
        decisions = with_retries(functools.partial(hand_over, reason))
    except OperationalError:
        raise  # the database locked or away: the next failure hands it over
    except Exception as second:
        opening = f"no case could be opened: {type(second).__name__}"
        _close_without_case(rt, message_id, (reason, opening), now)
        return
    for decision in decisions:
        rt.metrics.decided(decision)
        rt.metrics.undecided("handed_over")
    if decisions:
        log.error("message id=%d handed to its team after %d tries: %s", message_id, tries, reason)


def _count_try(rt: Runtime, message_id: int, exc: Exception, now: datetime) -> tuple[int, datetime]:
    """Record that ``message_id`` failed alone once more; the tries so far and when the
    last was counted. A failure within SET_ASIDE_FOR of the last counted try is that
    try again: the set-aside is each worker's own, so the other workers tried it at once,
    and each counting a try handed it over seconds after its first failure."""
    with transaction(rt.sessions) as session:
        earlier, last = session.execute(
            select(func.count(), func.max(Event.at)).where(
                Event.case_id.is_(None),
                Event.kind == UNDECIDED_EVENT,
                Event.detail["message"].as_integer() == message_id,
            )
        ).one()
        if last is not None and now < last + SET_ASIDE_FOR:
            return int(earlier), last
        detail = {"message": message_id, "error": type(exc).__name__}
        row = Event(case_id=None, kind=UNDECIDED_EVENT, actor="system", detail=detail, at=now)
        session.add(row)
    return int(earlier or 0) + 1, now


def _close_without_case(
    rt: Runtime, message_id: int, notes: tuple[str, ...], now: datetime
) -> None:
    """The last resort, when not even a case can hold the message (the database refuses
    its thread): marked decided with the reasons, so it stops failing the job and
    holding up its author's later messages. Only the id and fixed words are written."""

    def close() -> None:
        with transaction(rt.sessions) as session:
            closed = session.execute(
                update(Message)
                .where(Message.id == message_id, Message.processed.is_(False))
                .values(processed=True, decision={"notes": list(notes)})
            )
            if getattr(closed, "rowcount", 0):
                detail = {"message": message_id}
                row = Event(case_id=None, kind=CLOSED_EVENT, actor="system", detail=detail, at=now)
                session.add(row)

    with_retries(close)
    rt.metrics.undecided("no_case")
    log.error("message id=%d closed without a case: %s", message_id, "; ".join(notes))
