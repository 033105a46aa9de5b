"""A worker freezes its start-up heap while it works (monitor.runtime.settled)."""

from __future__ import annotations

import gc

import pytest

from monitor.runtime import settled
from tests.conftest import RuntimeFactory


def test_a_worker_freezes_its_start_up_heap_while_it_works_and_gives_it_back(
    make_runtime: RuntimeFactory,
) -> None:
    rt = make_runtime()
    assert gc.get_freeze_count() == 0
    with settled(rt):
        # The rules, the scorer's lexicons and models: never walked by a collection.
        assert gc.get_freeze_count() > 0
    # Given back, so a caller in the same process (a test, an embedding) leaks nothing.
    assert gc.get_freeze_count() == 0


def test_the_heap_is_given_back_when_the_work_fails(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    with pytest.raises(SystemExit), settled(rt):
        raise SystemExit(1)  # as a run whose jobs were left behind exits
    assert gc.get_freeze_count() == 0
