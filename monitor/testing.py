"""Helpers for tests and benchmarks of code built on inchannel (shipped, like FakeClock)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from monitor.store.models import ActionRow, Case, Customer


def seed_pending_replies(sessions: sessionmaker[Session], n: int, *, at: datetime) -> int:
    """One X customer, one case and ``n`` pending reply actions due at ``at``.

    For outbox tests and benchmarks that need work to dispatch without running the
    pipeline. Returns the case id.
    """
    with sessions.begin() as session:
        customer = Customer(
            platform="x",
            platform_user_id="1",
            handle="jane",
            display_name="",
            verified=False,
            first_seen_at=at,
            last_seen_at=at,
        )
        session.add(customer)
        session.flush()
        case = Case(
            platform="x",
            conversation_id="c1",
            customer_id=customer.id,
            state="new",
            priority="normal",
            tags=[],
            bot_replies=0,
            opened_at=at,
            updated_at=at,
        )
        session.add(case)
        session.flush()
        session.add_all(_reply(case.id, i, at) for i in range(n))
        return case.id


def _reply(case_id: int, i: int, at: datetime) -> ActionRow:
    return ActionRow(
        case_id=case_id,
        kind="reply",
        platform="x",
        target_external_id=f"m{i}",
        conversation_id="c1",
        text=f"reply {i}",
        status="pending",
        attempts=0,
        next_attempt_at=at,
        idempotency_key=f"k{i}",
        created_at=at,
        updated_at=at,
    )
