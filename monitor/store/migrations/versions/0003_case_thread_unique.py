"""one case per platform + thread + customer, enforced by the database

Several workers process mentions at once; two of them may see the first two messages
of a new thread in the same moment. The unique index makes the second INSERT a no-op
(ON CONFLICT DO NOTHING) so both attach to one case.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Everything that points at a case.
CASE_REFERENCES = ("messages", "actions", "events", "sentiment_feedback")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    merge_duplicate_cases()
    op.drop_index("ix_cases_thread", table_name="cases")
    op.create_index(
        "ux_cases_thread", "cases", ["platform", "conversation_id", "customer_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_cases_thread", table_name="cases")
    op.create_index("ix_cases_thread", "cases", ["platform", "conversation_id", "customer_id"])


def merge_duplicate_cases() -> None:
    """Before the index existed, two workers could open two cases for one thread and
    customer. Keep the oldest; its duplicates' messages, actions, events and feedback
    move to it, and the duplicates go (their audit trail moves with the events)."""
    conn = op.get_bind()
    groups = conn.execute(
        sa.text(
            "SELECT platform, conversation_id, customer_id, MIN(id) FROM cases "
            "GROUP BY platform, conversation_id, customer_id HAVING COUNT(*) > 1"
        )
    ).all()
    for platform, conversation_id, customer_id, keep in groups:
        extra = conn.execute(
            sa.text(
                "SELECT id FROM cases WHERE platform = :p AND conversation_id = :c "
                "AND customer_id = :u AND id <> :keep"
            ),
            {"p": platform, "c": conversation_id, "u": customer_id, "keep": keep},
        ).scalars()
        ids = list(extra)
        for name in CASE_REFERENCES:
            table = sa.table(name, sa.column("case_id"))
            conn.execute(sa.update(table).where(table.c.case_id.in_(ids)).values(case_id=keep))
        cases = sa.table("cases", sa.column("id"))
        conn.execute(sa.delete(cases).where(cases.c.id.in_(ids)))
