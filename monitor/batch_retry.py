"""After a processing batch failed: its messages decided one at a time, to find the one
that fails it, set it aside and, failing on, hand it to a team (monitor.undecided).

The claim and the hand-over are passed in (``try_one``, ``hand_over``), as
monitor.undecided takes its hand-over: both decide through monitor.processing, which
calls this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.exc import OperationalError

from monitor.batch_claim import Claim, waiting
from monitor.domain import Decision
from monitor.runtime import Runtime
from monitor.undecided import SET_ASIDE_FOR, failed_alone, failed_together


def isolate(
    rt: Runtime,
    limit: int,
    now: datetime,
    *,
    try_one: Callable[[list[int]], Claim],
    hand_over: Callable[[int, str], list[Decision]],
) -> None:
    """After a batch failed: decide its messages one at a time, in order. A message that
    fails alone is set aside until SET_ASIDE_FOR after its last counted try, with its
    author's later messages, so the next one can be tried, and at its
    UNDECIDED_TRIES-th failure handed to a team undecided (monitor.undecided); the first
    error is then raised (the job failed). The database's error is no message's fault:
    nothing is set aside or counted. Several failing while none is decided may not be
    theirs either (the rules or the scorer broken): counted apart, set aside only while
    other messages wait behind them, and handed over only at UNDECIDED_TRIES_AMONG, never
    closed without a case.

    ``try_one(taken)`` claims and decides a batch of one (``taken`` filled with its id
    before deciding); ``hand_over(message_id, reason)`` escalates one undecided."""
    # Messages this worker leaves out now (monitor.undecided): one failing by itself
    # while none is decided then proves nothing either, its batch cut short by theirs
    # (the last of a wave set aside a batch at a time). Taken for a failure alone, it
    # was closed without a case when the database refused every case.
    others_aside = bool(rt.set_aside)
    failed: list[tuple[int, Exception]] = []
    decided = False
    # Messages whose authors another worker holds (PostgreSQL): left out while the tries
    # go on past them, for the next run. Ending the tries there left the rest of the
    # batch untried, and one failure before it was taken for a failure alone.
    held: list[int] = []
    try:
        for _ in range(limit):
            taken: list[int] = []
            try:
                claim = try_one(taken)
            except Exception as exc:
                # The database locked or away (as in process_pending) blames no message.
                if not taken or isinstance(exc, OperationalError):
                    _forgive(rt, failed)
                    raise
                failed.append((taken[0], exc))
                rt.set_aside[taken[0]] = now + SET_ASIDE_FOR
                continue
            # Only a customer's message the rules decided proves they work: the brand's
            # own post (or one with no customer) is closed without the scorer and the
            # rules, and one in a case closed as spam without the rules, so those beside
            # rules broken for every message made each failure look like its own.
            decided = decided or claim.ruled > 0
            if not claim.processed and claim.held:
                held += claim.held
                rt.set_aside.update(dict.fromkeys(claim.held, now + SET_ASIDE_FOR))
                continue
            if not claim.more:
                break
    finally:
        for message_id in held:  # no fault of theirs: the next run tries them
            rt.set_aside.pop(message_id, None)
    if not failed:
        return
    # Two failures in a row prove no failure of everything: messages that cannot be
    # decided come together (two customers in a broken thread, one text from a spam
    # wave), and leaving them in place held up every message stored after them.
    if (len(failed) > 1 or others_aside) and not decided:
        # Asked while they are still left out: whether any message waits behind them.
        behind = waiting(rt, now)
        _forgive(rt, failed)
        # Uncounted, they were tried forever; a spam wave as long as a batch then held
        # up, for good, every message stored after it.
        failed_together(rt, failed, now, hand_over=hand_over, hold_up_others=behind)
        raise failed[0][1]
    for message_id, error in failed:
        mine = functools.partial(hand_over, message_id)
        failed_alone(rt, message_id, error, now, hand_over=mine)
    raise failed[0][1]


def _forgive(rt: Runtime, failed: list[tuple[int, Exception]]) -> None:
    for message_id, _ in failed:
        rt.set_aside.pop(message_id, None)
