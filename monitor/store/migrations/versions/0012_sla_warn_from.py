"""sla warn from: a rule's short deadline is warned of before it

A rule's ``escalate: {sla_minutes: N}`` may be shorter than the team's SLA warning;
check_sla warned with the team's warning, as the case was escalated. ``cases.sla_warn_from``
holds the case's own warning instant for such a deadline (half of it). Existing rows
have NULL: the team's warning, as before this revision.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_warn_from", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Older code warns of every deadline with the team's warning, as it always did.
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("sla_warn_from")
