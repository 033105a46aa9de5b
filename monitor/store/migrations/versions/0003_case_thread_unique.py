"""one case per platform + thread + customer, enforced by the database

Several workers process mentions at once; two of them may see the first two messages
of a new thread in the same moment. The unique index makes the second INSERT a no-op
(ON CONFLICT DO NOTHING) so both attach to one case.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_cases_thread", table_name="cases")
    op.create_index(
        "ux_cases_thread", "cases", ["platform", "conversation_id", "customer_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ux_cases_thread", table_name="cases")
    op.create_index("ix_cases_thread", "cases", ["platform", "conversation_id", "customer_id"])
