"""may have posted: whether an earlier attempt of an outbox action may be in the thread

A reply refused by a rate limit (an X 429, Reddit's RATELIMIT) posted nothing, but the
row could not say so: every retry searched the thread for an earlier reply first, a
billed read on X. The dispatcher now records whether a failed attempt may have posted
(a timeout, a 5xx, a dead worker's claim) or was refused for sure. Existing rows have
NULL, which the dispatcher reads as before: any earlier attempt may have posted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("may_have_posted", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # Older code looks before every retry: nothing it needs is lost.
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("may_have_posted")
