"""SQLite: the threads of one process take the database's write lock in turn.

Every unit of work on SQLite holds the write lock from its start (``db.begin_write``).
SQLite's own wait for it (busy_timeout) is no queue: a waiting connection sleeps and
looks again, every 100 ms once it has waited a while, and a job that runs batch after
batch (processing a backlog: 50 batches a run) commits and takes the lock again within
microseconds, almost never while the other looks. The dashboard's actions, dispatch,
the SLA check and the polls failed with "database is locked" after 5 s although no
batch held the lock for more than a fraction of a second. Here the threads of the
process queue in arrival order: one that asked first is next. Other processes (the CLI)
still wait as SQLite lets them.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError


class WriteQueue:
    """One engine's writers, served first come, first served. ``timeout``: how long one
    waits for its turn (the engine's busy timeout) before it fails as SQLite would."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._changed = threading.Condition()
        self._waiting: deque[object] = deque()
        self._owner: int | None = None  # the thread whose turn it is

    @contextmanager
    def turn(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._owner == me:
            # A second unit of work inside the first, on this thread: the turn is ours
            # already (its BEGIN IMMEDIATE then waits for the outer one, as before).
            yield
            return
        ticket = object()
        with self._changed:
            self._waiting.append(ticket)
            if not self._changed.wait_for(lambda: self._next(ticket), self.timeout):
                self._waiting.remove(ticket)
                self._changed.notify_all()  # the one behind may be next now
                raise OperationalError(
                    "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
                )
            self._waiting.popleft()
            self._owner = me
        try:
            yield
        finally:
            with self._changed:
                self._owner = None
                self._changed.notify_all()

    def _next(self, ticket: object) -> bool:
        return self._owner is None and self._waiting[0] is ticket


_QUEUES: weakref.WeakKeyDictionary[Engine, WriteQueue] = weakref.WeakKeyDictionary()


def add_queue(engine: Engine, timeout: float) -> None:
    """Give a SQLite engine its queue (make_engine does)."""
    _QUEUES[engine] = WriteQueue(timeout)


def queue_of(engine: object) -> WriteQueue | None:
    """The engine's queue; None for PostgreSQL (its row locks queue) or an engine built
    elsewhere."""
    return _QUEUES.get(engine) if isinstance(engine, Engine) else None
