"""A PostgreSQL server that takes the connection and never answers (a network
partition, a stuck server) is given up on, not waited for for ever."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy.exc import OperationalError

from monitor.store import db


def test_a_server_that_never_answers_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # libpq waited for ever: every poll, page and metrics scrape needing a connection hung,
    # and inchannel_database_up never turned 0. 2 s is libpq's shortest timeout.
    monkeypatch.setitem(db.PG_TIMEOUTS, "connect_timeout", 2)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        engine = db.make_engine(f"postgresql://inchannel@127.0.0.1:{port}/inchannel")
        failures: list[BaseException] = []

        def connect() -> None:
            try:
                with engine.connect():
                    pass
            except BaseException as exc:
                failures.append(exc)

        trying = threading.Thread(target=connect, daemon=True)
        trying.start()
        trying.join(timeout=30)  # a bound for the test itself, far past the 2 s
        alive = trying.is_alive()
        engine.dispose()
    assert not alive
    assert len(failures) == 1
    assert isinstance(failures[0], OperationalError)
    assert "timeout" in str(failures[0]).lower()


def test_pgconnect_timeout_in_the_environment_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # libpq's own setting for every client on the host: the 10 s given to psycopg
    # outright overrode it, as only a value in the URL was looked for.
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "2")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        engine = db.make_engine(f"postgresql://inchannel@127.0.0.1:{port}/inchannel")
        failures: list[BaseException] = []

        def connect() -> None:
            try:
                with engine.connect():
                    pass
            except BaseException as exc:
                failures.append(exc)

        trying = threading.Thread(target=connect, daemon=True)
        trying.start()
        trying.join(timeout=7)  # past the 2 s asked for, short of the default 10 s
        alive = trying.is_alive()
        trying.join(timeout=30)
        engine.dispose()
    assert not alive, "PGCONNECT_TIMEOUT was overridden"
    assert len(failures) == 1
    assert isinstance(failures[0], OperationalError)
