"""The step functions of the data flow, and one full cycle for ``run --once``.

Each step opens its own transactions and returns whether more work is waiting. The
scheduler only calls them; tests call them directly with a FakeClock.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.dispatch import dispatch_outbox
from monitor.health_alerts import check_health
from monitor.ingest import poll_source
from monitor.processing import process_pending
from monitor.runtime import Runtime
from monitor.sla import check_sla

__all__ = [
    "CycleReport",
    "check_health",
    "check_sla",
    "dispatch_outbox",
    "poll_source",
    "process_pending",
    "run_cycle",
]

# Bounds one cycle so a source that always says "more" cannot keep --once running forever.
MAX_ROUNDS = 10_000


@dataclass(frozen=True, slots=True)
class CycleReport:
    polls: int
    process_batches: int
    dispatch_batches: int


def drain(step: object, *args: object) -> int:
    """Call ``step(*args)`` until it reports no more work; return the number of calls."""
    assert callable(step)
    rounds = 1
    while step(*args) and rounds < MAX_ROUNDS:
        rounds += 1
    return rounds


def run_cycle(rt: Runtime) -> CycleReport:
    """Poll every source until it is caught up, process everything, dispatch everything."""
    polls = sum(drain(poll_source, rt, name) for name in rt.sources)
    batches = drain(process_pending, rt)
    drain(check_sla, rt)
    sends = drain(dispatch_outbox, rt)
    # After dispatch, so the alerts see how the cycle ended; then send what they queued.
    check_health(rt)
    drain(dispatch_outbox, rt)
    return CycleReport(polls, batches, sends)
