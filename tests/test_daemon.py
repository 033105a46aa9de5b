"""The scheduler wiring: jobs per source, and a clean stop after the running step."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from monitor import jobstate
from monitor.clock import FakeClock
from monitor.daemon import STOP_GRACE_SECONDS, build_scheduler, run_forever
from monitor.domain import Action, Platform
from monitor.ingest import take_lease
from monitor.jobstate import WorkerReport, record_failure
from monitor.runtime import Runtime
from monitor.sources.base import PollResult
from monitor.store.models import ActionRow, Message, SourceState
from monitor.testing import seed_pending_replies
from responders.base import SendResult
from tests.conftest import REPO, RuntimeFactory, mention, write_jsonl


def test_scheduler_has_one_job_per_source_and_the_steps(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(1)])
    scheduler = build_scheduler(rt)
    scheduler.start(paused=True)  # defaults are applied when jobs are scheduled
    try:
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert set(jobs) == {"poll:feed", "process", "dispatch", "sla", "health", "rules-reload"}
        assert jobs["poll:feed"].coalesce is True
        assert jobs["poll:feed"].max_instances == 1
    finally:
        scheduler.shutdown(wait=False)


def test_run_forever_processes_and_stops_on_request(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime([mention(i) for i in range(3)])
    done = threading.Event()

    def stop_when_ingested() -> None:
        def watch() -> None:
            for _ in range(200):
                with rt.sessions() as session:
                    if session.scalar(select(func.count()).select_from(Message)) >= 3:
                        break
                done.wait(0.05)
            rt.stopping.set()

        threading.Thread(target=watch, daemon=True).start()

    run_forever(rt, on_started=stop_when_ingested)
    assert rt.stopping.is_set()
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Message)) >= 3


def test_a_stop_while_the_database_is_away_still_stops_cleanly(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM during a database outage: releasing the leases failed, the error left
    run_forever, "daemon stopped" was never logged and a clean stop exited 1 with a
    database traceback. The leases expire on their own; the stop says so."""
    rt = make_runtime([mention(1)])
    rt.stopping.set()

    def away(*_: Any) -> None:
        raise OperationalError("UPDATE source_state", {}, Exception("server closed the connection"))

    event.listen(rt.engine, "before_cursor_execute", away)
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            run_forever(rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", away)
    lines = [r.getMessage() for r in caplog.records if r.name == "inchannel.daemon"]
    assert lines[-1] == "daemon stopped"
    assert any(line.startswith("could not release this worker's source leases") for line in lines)


def test_a_stop_that_cannot_release_the_leases_says_when_they_expire(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The feed's lease is three of its 30 s intervals, 90 s: the line said `within
    30 s`, workers.lease_seconds, and the operator who waited that long for the other
    workers to take the sources found them still held for another minute."""
    rt = make_runtime([mention(1)], workers={"lease_seconds": 30})
    rt.stopping.set()

    def away(*_: Any) -> None:
        raise OperationalError("UPDATE source_state", {}, Exception("server closed the connection"))

    event.listen(rt.engine, "before_cursor_execute", away)
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            run_forever(rt)
    finally:
        event.remove(rt.engine, "before_cursor_execute", away)
    lines = [r.getMessage() for r in caplog.records if r.name == "inchannel.daemon"]
    (line,) = [line for line in lines if line.startswith("could not release")]
    assert "(other workers take them once they expire, within 90 s)" in line


def test_sighup_stops_the_daemon_cleanly_as_sigterm_does(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGHUP (the terminal of a foreground `inchannel run` closed, an SSH session
    dropped) was not handled: it killed the worker at once, mid-send or not, its leases
    held for `workers.lease_seconds`. It now stops after the running step."""
    rt = make_runtime([mention(1)])
    unhandled: list[int] = []

    def ours(signum: int, _frame: object) -> None:
        # Were the daemon not to handle it, SIGHUP would end pytest itself.
        unhandled.append(signum)
        rt.stopping.set()

    previous = signal.signal(signal.SIGHUP, ours)
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            run_forever(rt, on_started=lambda: signal.raise_signal(signal.SIGHUP))
        assert signal.getsignal(signal.SIGHUP) is ours  # given back when the daemon stops
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert unhandled == []
    lines = [r.getMessage() for r in caplog.records if r.name == "inchannel.daemon"]
    assert "signal=SIGHUP stopping after the running step" in lines
    assert lines[-1] == "daemon stopped"
    with rt.sessions() as session:
        assert (
            session.scalar(select(SourceState.lease_owner).where(SourceState.name == "feed"))
            is None
        )


def test_a_sighup_the_starter_ignored_stays_ignored(make_runtime: RuntimeFactory) -> None:
    """`nohup inchannel run &` ignores SIGHUP so that the worker outlives the terminal;
    the daemon took SIGHUP over regardless and stopped when the terminal closed. A
    SIGHUP (or SIGINT) ignored by whoever started the process stays ignored."""
    rt = make_runtime([mention(1)])
    seen: list[bool] = []

    def hang_up() -> None:
        signal.raise_signal(signal.SIGHUP)  # the handler runs before the next line
        seen.append(rt.stopping.is_set())
        rt.stopping.set()

    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        run_forever(rt, on_started=hang_up)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert seen == [False]


def test_jobs_run_on_after_the_clock_went_back(make_runtime: RuntimeFactory) -> None:
    """The scheduler keeps each job's next run as a time on the wall clock. When the
    clock is stepped back (NTP correcting a host whose clock ran an hour ahead) every
    next run lies an hour ahead, and no job ran (no poll, no send) until the clock had
    caught up. Here the jobs are scheduled on a runtime clock an hour ahead of the
    system clock the scheduler reads: the state such a step leaves."""
    rt = make_runtime([mention(i) for i in range(3)])
    assert isinstance(rt.clock, FakeClock)
    rt.clock.set(datetime.now(UTC) + timedelta(hours=1))
    done = threading.Event()
    ingested: list[int] = []

    def stop_when_ingested() -> None:
        def watch() -> None:
            for _ in range(200):
                with rt.sessions() as session:
                    count = session.scalar(select(func.count()).select_from(Message)) or 0
                if count >= 3:
                    break
                done.wait(0.05)
            ingested.append(count)
            rt.stopping.set()

        threading.Thread(target=watch, daemon=True).start()

    run_forever(rt, on_started=stop_when_ingested)
    assert ingested == [3]


class _HangingSource:
    """A source whose poll waits until the test lets it go: a slow platform."""

    def __init__(self, name: str, release: threading.Event, seconds: float = 30) -> None:
        self.name, self._release, self._seconds = name, release, seconds
        self.entered = threading.Event()
        self.thread: threading.Thread | None = None

    def poll(self, cursor: str | None, *, now: datetime) -> PollResult:
        self.thread = threading.current_thread()
        self.entered.set()
        self._release.wait(self._seconds)
        return PollResult([], cursor)


def test_slow_sources_do_not_keep_the_other_jobs_from_running(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """The scheduler's default pool runs 10 jobs at once. With ten sources slow to
    answer (timeouts), processing, dispatch, sla, health and the rule reload waited in
    the pool behind them, and one that waited more than 30 s was dropped as missed: no
    reply was decided or sent while the platforms were slow."""
    feed = write_jsonl(tmp_path / "empty.jsonl", [])
    names = [f"s{i}" for i in range(10)]
    rt = make_runtime(sources=[{"name": n, "type": "replay", "path": str(feed)} for n in names])
    assert isinstance(rt.clock, FakeClock)
    rt.clock.set(datetime.now(UTC))  # the jobs' first runs are due now, as in production
    release = threading.Event()
    for name in names:
        rt.sources[name] = _HangingSource(name, release)
    others = {"process", "dispatch", "sla", "health", "rules-reload"}
    ran: set[str] = set()
    all_ran = threading.Event()

    def on_event(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_EXECUTED and event.job_id in others:
            ran.add(event.job_id)
            if ran == others:
                all_ran.set()

    scheduler = build_scheduler(rt)
    scheduler.add_listener(on_event, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    scheduler.start()
    try:
        # At once when the jobs can run; 10 s only if they wait behind the polls.
        ran_meanwhile = all_ran.wait(10)
        seen = sorted(ran)
    finally:
        release.set()
        scheduler.shutdown(wait=True)
    assert ran_meanwhile, f"only {seen} ran while the sources were slow"
    for job in scheduler.get_jobs():
        # A run delayed for any reason (a suspended host, a busy machine) runs late
        # rather than not at all.
        assert job.misfire_grace_time is None


class _Stuck(Protocol):
    entered: threading.Event  # set once the job is stuck in it
    thread: threading.Thread | None  # the job's


class _StuckPlatform:
    """A platform that took the reply's request and never answers (no timeout fires):
    the send waits until the test lets it go."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.thread: threading.Thread | None = None

    def send(self, action: Action) -> SendResult:
        self.thread = threading.current_thread()
        self.entered.set()
        self.release.wait(60)
        return SendResult(f"p{action.id}")

    def find_own_reply(self, action: Action) -> str | None:
        return None


class _Logged(logging.Handler):
    """Set once a line starting with ``prefix`` is logged."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix, self.seen = prefix, threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(self.prefix):
            self.seen.set()


def _stop_once_stuck(rt: Runtime, stuck: _Stuck, waiting: _Logged) -> Callable[[], None]:
    """SIGTERM once the job is stuck; once the stop waits for it alone, the clock runs
    past the stop's grace."""
    clock = rt.clock
    assert isinstance(clock, FakeClock)

    def stop() -> None:
        stuck.entered.wait(10)
        rt.stopping.set()
        if waiting.seen.wait(10):
            # The other jobs' first runs, under way as the stop began, end in time.
            for thread in threading.enumerate():
                if thread.name.startswith("job ") and thread is not stuck.thread:
                    thread.join(10)
            clock.advance(seconds=STOP_GRACE_SECONDS + 1)

    return lambda: threading.Thread(target=stop, daemon=True).start()


def test_a_stop_waits_for_a_stuck_send_only_so_long(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """SIGTERM while a reply's request hangs: the stop waited for it for ever, so
    systemd SIGKILLed the worker at TimeoutStopSec, its source leases held until they
    expired and its job failures reported as if it still ran. It now waits
    STOP_GRACE_SECONDS, names the job left running, releases the leases and withdraws
    the reports; the claims stay `sending`, looked for in the thread before any resend."""
    rt = make_runtime([])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.now(UTC))  # the jobs' first runs are due now, as in production
    seed_pending_replies(rt.sessions, 2, at=clock.now())
    platform = _StuckPlatform()
    rt.responders[Platform.X] = platform
    assert take_lease(rt, "feed", clock.now())
    failed = WorkerReport(1, clock.now(), "OperationalError: locked", clock.now())
    record_failure(rt.sessions, "sla", rt.worker_id, failed)
    waiting = _Logged("stopping: waiting up to")
    logging.getLogger("inchannel.daemon").addHandler(waiting)
    returned: list[list[str]] = []
    on_started = _stop_once_stuck(rt, platform, waiting)
    daemon = threading.Thread(
        target=lambda: returned.append(run_forever(rt, on_started=on_started)), daemon=True
    )
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            daemon.start()
            daemon.join(20)
        assert not daemon.is_alive(), "the stop still waits for the stuck send"
    finally:
        logging.getLogger("inchannel.daemon").removeHandler(waiting)
        platform.release.set()
        daemon.join(20)
        if platform.thread is not None:
            platform.thread.join(20)
        _join_job_threads()
    assert returned == [["dispatch"]]
    lines = [r.getMessage() for r in caplog.records if r.name == "inchannel.daemon"]
    assert lines[-1] == "daemon stopped"
    (left,) = [line for line in lines if line.startswith("stopping without")]
    assert "after 60 s: dispatch (running for 61 s)" in left
    with rt.sessions() as session:
        lease = session.scalar(select(SourceState.lease_owner).where(SourceState.name == "feed"))
        job_row = session.get(SourceState, jobstate.state_name("sla"))
        assert job_row is not None
        assert jobstate.reports_of(job_row.details, 0, None, None) == {}
    assert lease is None


def test_a_stop_leaves_a_stuck_sends_claims_to_the_stale_claim_lookup(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The process exits with the reply's request under way: its outcome is unknown, so
    its claim (and the rest of the batch's) must stay `sending`, to be taken over after
    workers.stale_claim_seconds and looked for in the thread, never handed back as
    `pending` and sent blindly."""
    rt = make_runtime([])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.now(UTC))
    seed_pending_replies(rt.sessions, 2, at=clock.now())
    platform = _StuckPlatform()
    rt.responders[Platform.X] = platform
    waiting = _Logged("stopping: waiting up to")
    logging.getLogger("inchannel.daemon").addHandler(waiting)
    on_started = _stop_once_stuck(rt, platform, waiting)
    daemon = threading.Thread(
        target=run_forever, args=(rt,), kwargs={"on_started": on_started}, daemon=True
    )
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            daemon.start()
            daemon.join(20)
        assert not daemon.is_alive(), "the stop still waits for the stuck send"
        with rt.sessions() as session:
            states = session.scalars(select(ActionRow.status)).all()
        assert states == ["sending", "sending"]
    finally:
        logging.getLogger("inchannel.daemon").removeHandler(waiting)
        platform.release.set()
        daemon.join(20)
        if platform.thread is not None:
            platform.thread.join(20)
        _join_job_threads()


class _AdvanceOnWaiting(logging.Handler):
    """Moves the clock past the grace as the stop announces its wait, in that call."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("stopping: waiting up to"):
            self.clock.advance(seconds=STOP_GRACE_SECONDS + 1)


def test_time_gone_by_as_the_stop_announces_its_wait_counts(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The wait read its starting time after logging that it waits: time gone by in
    between (a slow log handler, or a test moving the clock once it read the line) was
    not counted, and a test that moved the fake clock then hung for good (make test
    failed on it once in ten)."""
    rt = make_runtime([])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.now(UTC))
    seed_pending_replies(rt.sessions, 1, at=clock.now())
    platform = _StuckPlatform()
    rt.responders[Platform.X] = platform
    advance = _AdvanceOnWaiting(clock)
    logging.getLogger("inchannel.daemon").addHandler(advance)

    def stop() -> None:
        platform.entered.wait(10)
        rt.stopping.set()

    daemon = threading.Thread(
        target=run_forever,
        args=(rt,),
        kwargs={"on_started": lambda: threading.Thread(target=stop, daemon=True).start()},
        daemon=True,
    )
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            daemon.start()
            daemon.join(20)
        assert not daemon.is_alive(), "the stop still waits for the stuck send"
    finally:
        logging.getLogger("inchannel.daemon").removeHandler(advance)
        platform.release.set()
        daemon.join(20)
        if platform.thread is not None:
            platform.thread.join(20)
        _join_job_threads()


def test_a_stop_waits_only_so_long_when_the_clock_is_stepped_back_meanwhile(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """NTP stepping the clock back an hour while a stop waited for a stuck send made it
    wait an hour more, far past systemd's TimeoutStopSec: the grace is time gone by,
    not a moment on the wall clock."""
    rt = make_runtime([])
    clock = rt.clock
    assert isinstance(clock, FakeClock)
    clock.set(datetime.now(UTC))
    seed_pending_replies(rt.sessions, 1, at=clock.now())
    platform = _StuckPlatform()
    rt.responders[Platform.X] = platform
    waiting, gave_up = _Logged("stopping: waiting up to"), _Logged("stopping without")
    for handler in (waiting, gave_up):
        logging.getLogger("inchannel.daemon").addHandler(handler)

    def stop() -> None:
        platform.entered.wait(10)
        rt.stopping.set()
        if waiting.seen.wait(10):
            clock.set(clock.now() - timedelta(hours=1))
            # Time goes on after the step: 5 s a tick, 1000 s in all, short of the hour.
            for _ in range(200):
                if gave_up.seen.wait(0.05):
                    break
                clock.advance(seconds=5)

    returned: list[list[str]] = []
    daemon = threading.Thread(
        target=lambda: returned.append(
            run_forever(rt, on_started=lambda: threading.Thread(target=stop).start())
        ),
        daemon=True,
    )
    try:
        with caplog.at_level(logging.INFO, logger="inchannel"):
            daemon.start()
            daemon.join(30)
        assert not daemon.is_alive(), "the stop waits for the clock to catch up"
    finally:
        for handler in (waiting, gave_up):
            logging.getLogger("inchannel.daemon").removeHandler(handler)
        platform.release.set()
        daemon.join(20)
        if platform.thread is not None:
            platform.thread.join(20)
        _join_job_threads()
    assert returned == [["dispatch"]]


STUCK_POLL = """
import sys, threading
from datetime import UTC, datetime
from pathlib import Path
from monitor.clock import FakeClock
from monitor.daemon import run_forever
from monitor.runtime import build_runtime
from monitor.store.db import upgrade
from tests.conftest import settings_for, write_jsonl
from tests.test_daemon import _HangingSource, _Logged, _stop_once_stuck
import logging

folder = Path(sys.argv[1])
feed = write_jsonl(folder / "feed.jsonl", [])
settings = settings_for(folder, f"sqlite:///{folder}/stuck.db", feed)
rt = build_runtime(settings, clock=FakeClock(datetime.now(UTC)))
upgrade(rt.engine)
never = threading.Event()  # the platform never answers
source = _HangingSource("feed", never, seconds=600)
rt.sources["feed"] = source
waiting = _Logged("stopping: waiting up to")
logging.getLogger("inchannel.daemon").addHandler(waiting)
logging.getLogger("inchannel").setLevel(logging.INFO)
print(run_forever(rt, on_started=_stop_once_stuck(rt, source, waiting)), flush=True)
"""


def test_a_worker_stopped_with_a_stuck_job_exits(tmp_path: Path) -> None:
    """The process must end too: APScheduler's thread pool (concurrent.futures) joins
    its threads as the interpreter exits, the stuck one included, so a worker that had
    given up on its stuck poll still never exited until systemd killed it."""
    done = subprocess.run(
        [sys.executable, "-c", STUCK_POLL, str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['poll:feed']"


def _join_job_threads() -> None:
    """The jobs a stop gave up on run on in their threads ("job poll:feed", ...): a test
    ending first left their database connections open, and on PostgreSQL the
    connection's ResourceWarning failed a later test once a thread let go of it."""
    for thread in threading.enumerate():
        if thread.name.startswith("job "):
            thread.join(20)
