"""context at: when a post that arrived as a mention was first stored as thread context

A post stored first as thread context is shown on its case's page; when it later
arrives as a mention (a sweep cut short, a search listing it late) it is promoted to an
inbound message, and ``ingested_at`` says when it became one. Nothing said it had been
on the case page before: a case a person resolved with the post in front of them was
reopened by it and owed it an answer from when it was written, overdue at once.
Existing rows have NULL: promoted before this revision, they were decided already.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Older code decides a promoted post as new, as it always did: nothing it needs is lost.
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("context_at")
