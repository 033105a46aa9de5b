"""A person's reply is checked while its case is locked: the cheap check first, and the
deflection guard's scan once."""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType

import pytest
from sqlalchemy import select

from monitor import casework, casework_replies
from monitor.domain import ActionKind
from monitor.pipeline import run_cycle
from monitor.rules.deflection import find_redirect
from monitor.runtime import Runtime
from monitor.store.models import ActionRow, Event
from tests.conftest import RuntimeFactory, mention


def _replies(rt: Runtime) -> list[int]:
    with rt.sessions() as session:
        return list(session.scalars(select(ActionRow.id).where(ActionRow.kind == ActionKind.REPLY)))


def _calls_of(function: Callable[..., object], run: Callable[[], object]) -> int:
    """How many times ``run`` calls ``function``, counted by a profiler hook: the function
    itself is left as it is."""
    code = function.__code__
    calls = 0

    def hook(frame: FrameType, event: str, arg: object) -> None:
        nonlocal calls
        if event == "call" and frame.f_code is code:
            calls += 1

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        run()
    finally:
        sys.setprofile(previous)
    return calls


def test_an_over_long_reply_is_refused_for_its_length_without_the_guard_reading_it(
    make_runtime: RuntimeFactory,
) -> None:
    # Counted first, as it is cheap: a long paste was scanned in full, twice, with the
    # case locked, only to be refused for its length.
    rt = make_runtime([mention(1, "@acme my order is late")])
    run_cycle(rt)
    before = _replies(rt)
    text = "DM us. " + "x" * 300

    def refused() -> None:
        with pytest.raises(casework.CaseworkError) as caught:
            casework_replies.reply(rt, "C-1001", text, user="lena")
        assert str(caught.value) == "307 characters: x allows 280"

    assert _calls_of(find_redirect, refused) == 0
    assert _replies(rt) == before


def test_a_persons_reply_is_read_by_the_deflection_guard_once(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([mention(1, "@acme my order is late")])
    run_cycle(rt)
    text = "We'll DM you the new tracking link."

    def queued() -> None:
        casework_replies.reply(rt, "C-1001", text, user="lena", allow_redirect=True)

    assert _calls_of(find_redirect, queued) == 1
    # The redirect it found is still the one recorded as allowed.
    with rt.sessions() as session:
        (allowed,) = session.scalars(select(Event).where(Event.kind == "redirect_allowed"))
    assert (allowed.detail["redirect"], allowed.detail["phrase"]) == ("private message", "DM")
