"""The X budget-stop notification reads as words (which budget, how much of it was used,
when it resets, what to do), not as the raw JSON of the audit event's detail."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from monitor.sources.x_usage import XLedger
from monitor.store.models import ActionRow
from tests.conftest import RuntimeFactory

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _notice(make_runtime: RuntimeFactory, which: str, detail: dict[str, object]) -> str:
    ledger = XLedger(make_runtime().sessions, ["ops"])
    assert ledger.budget_event_once(which, "mentions", NOW, detail) is True
    with ledger.sessions() as session:
        (row,) = session.scalars(select(ActionRow).where(ActionRow.kind == "notify"))
    return row.text


def test_the_read_budget_stop_says_what_was_used_and_what_to_do(
    make_runtime: RuntimeFactory,
) -> None:
    text = _notice(make_runtime, "reads", {"spent": 1900, "limit": 2000, "source": "mentions"})
    assert text == (
        "X reads budget reached for 2026-11-20 (UTC)\n"
        "Polling stops until midnight UTC: 1900 of the 2000 posts a day "
        "(x.budget.reads_per_day) were read today; source mentions found no room for "
        "another page.\n"
        "It resumes by itself at 2026-11-21 00:00 UTC. Nothing is lost: mentions written "
        "meanwhile are read then. To go on sooner, raise x.budget.reads_per_day and "
        "restart the daemon."
    )
    assert "{" not in text


def test_the_write_budget_stop_says_replies_wait(make_runtime: RuntimeFactory) -> None:
    text = _notice(make_runtime, "writes", {"spent": 100, "limit": 100})
    assert text == (
        "X writes budget reached for 2026-11-20 (UTC)\n"
        "Posting stops until midnight UTC: 100 of the 100 posts a day "
        "(x.budget.writes_per_day) were made today.\n"
        "It resumes by itself at 2026-11-21 00:00 UTC. Nothing is lost: replies wait in "
        "the outbox and are posted then. To go on sooner, raise x.budget.writes_per_day "
        "and restart the daemon."
    )


def test_a_stop_without_counts_still_reads_as_words(make_runtime: RuntimeFactory) -> None:
    text = _notice(make_runtime, "reads", {})
    assert "{" not in text
    assert "Polling stops until midnight UTC: the day's x.budget.reads_per_day is used up." in text
    assert "It resumes by itself at 2026-11-21 00:00 UTC." in text
