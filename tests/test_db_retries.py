"""A transaction PostgreSQL rolled back for a deadlock runs again; other errors do not."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, OperationalError

from monitor.store.db import is_retryable, with_retries
from monitor.store.models import SourceState
from tests.conftest import RuntimeFactory


class DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def failure(sqlstate: str) -> OperationalError:
    return OperationalError("UPDATE customers ...", {}, DriverError(sqlstate))


def test_deadlocks_and_serialisation_failures_are_retried() -> None:
    errors = [failure("40P01"), failure("40001")]

    def work() -> str:
        if errors:
            raise errors.pop(0)
        return "done"

    assert with_retries(work) == "done"
    assert errors == []


def test_other_errors_and_the_last_attempt_are_raised() -> None:
    assert not is_retryable(failure("08006"))  # connection failure: not ours to retry
    lost: list[int] = []

    def connection_lost() -> None:
        lost.append(1)
        raise failure("08006")

    with pytest.raises(OperationalError):
        with_retries(connection_lost, attempts=3)
    assert len(lost) == 1  # raised at once, not tried again
    calls = []

    def always_deadlocked() -> None:
        calls.append(1)
        raise failure("40P01")

    with pytest.raises(OperationalError):
        with_retries(always_deadlocked, attempts=3)
    assert len(calls) == 3


def test_a_failed_statement_does_not_carry_mention_text_into_the_logs(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime([])
    row = {"name": "feed", "cursor": "my card is 4111 1111 1111 1111"}
    with pytest.raises(IntegrityError) as failed, rt.engine.begin() as connection:
        connection.execute(insert(SourceState), [row, row])  # the same key twice
    assert "4111" not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)
