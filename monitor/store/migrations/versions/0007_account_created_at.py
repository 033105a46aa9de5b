"""account created at: when a customer's platform account was created

Rules on ``author.account_age`` read the account's creation time. The sources gave it
(the replay feed's ``author_created_at``; X's ``user.fields=created_at`` now), but the
customer row did not keep it, so in the daemon such a rule never matched while
``rules test`` showed it matching. Existing customers have no creation time until
their next post brings one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account_created_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("account_created_at")
