"""missed due at: a first-response breach outlives the case's reopening

A case closed unanswered after its first-response deadline is a breach in the reports.
When the customer reopened it, its opening moved and its deadline was cleared for a new
clock, and the breach left the SLA attainment. ``cases.missed_due_at`` keeps the
deadline that was missed. Existing rows have NULL: the deadlines cleared before this
revision are gone.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("missed_due_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Older code counts a reopened case on its new clock alone, as it always did.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("missed_due_at")
