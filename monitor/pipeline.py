"""The step functions of the data flow, and one full cycle for ``run --once``.

Each step opens its own transactions and returns whether more work is waiting. The
scheduler only calls them; tests call them directly with a FakeClock.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from functools import partial

from monitor.daemon import Running
from monitor.dispatch import dispatch_outbox
from monitor.health_alerts import check_health
from monitor.ingest import poll_source
from monitor.jobs import recorded_intervals, recorder_for, run_job
from monitor.processing import process_pending
from monitor.rules.reload import RuleReloader
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
    "run_once",
]

# Bounds one cycle so a source that always says "more" cannot keep --once running forever.
MAX_ROUNDS = 10_000


@dataclass(frozen=True, slots=True)
class CycleReport:
    polls: int
    process_batches: int
    dispatch_batches: int
    # "job: error" for each job that failed (run_once only; run_cycle raises instead)
    failed: tuple[str, ...] = ()


# A job of the cycle: called as run(job name, step), returns how many steps it called.
Runner = Callable[[str, Callable[[], bool]], int]


def drain(step: object, *args: object) -> int:
    """Call ``step(*args)`` until it reports no more work; return the number of calls."""
    assert callable(step)
    rounds = 1
    while step(*args) and rounds < MAX_ROUNDS:
        rounds += 1
    return rounds


def run_cycle(rt: Runtime) -> CycleReport:
    """Poll every source until it is caught up, process everything, dispatch everything.
    A step that raises ends the cycle with its error (tests, benchmarks)."""
    return _cycle(rt, lambda _job, step: drain(step))


def run_once(rt: Runtime, running: Running | None = None) -> CycleReport:
    """`run --once`: the cycle with each job run as the daemon runs it (monitor.jobs): a
    job that fails is logged and recorded for `inchannel status`, the others still
    run, and the report names the failures. ``running`` tells a stop which job it
    waits for, as the daemon's."""
    intervals = recorded_intervals(rt.settings)
    recorders = {name: recorder_for(rt, name, seconds) for name, seconds in intervals.items()}
    failed: list[str] = []

    def run(job: str, step: Callable[[], bool]) -> int:
        # Polls are not recorded as jobs: they record their own outcome, per source.
        with running.job(job, rt.clock.now()) if running is not None else nullcontext():
            done = run_job(rt, job, step, recorders.get(job), max_batches=MAX_ROUNDS)
        if done.error is not None:
            failed.append(f"{job}: {done.error}")
        return done.batches

    # As the daemon's reload job does at its start: store the rules version this run
    # decides with, for `rules status` and `inchannel status` (a rejected version's
    # error is cleared too: this run loaded the files as they are, or exited 2).
    run("rules-reload", RuleReloader(rt).check)
    report = _cycle(rt, run)
    return replace(report, failed=tuple(failed))


def _cycle(rt: Runtime, run: Runner) -> CycleReport:
    polls = sum(run(f"poll:{name}", partial(poll_source, rt, name)) for name in rt.sources)
    batches = run("process", lambda: process_pending(rt))
    run("sla", lambda: check_sla(rt))
    sends = run("dispatch", lambda: dispatch_outbox(rt))
    # After dispatch, so the alerts see how the cycle ended; then send what they queued.
    run("health", lambda: check_health(rt))
    run("dispatch", lambda: dispatch_outbox(rt))
    return CycleReport(polls, batches, sends)
