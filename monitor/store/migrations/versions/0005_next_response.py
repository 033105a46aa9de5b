"""next response: an SLA clock for a customer's follow-up after the brand answered

``sla_due_at`` (with its warned and breached marks) now holds the deadline of the
answer the brand owes now: the first response, or the next one after a follow-up,
counted from ``follow_up_at``. The first response's deadline is kept for reports in
``first_response_due_at``; for the cases answered so far it is their ``sla_due_at``,
which nothing moved after the first response.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


CASES = sa.table(
    "cases",
    sa.column("first_response_at", sa.DateTime(timezone=True)),
    sa.column("sla_due_at", sa.DateTime(timezone=True)),
    sa.column("sla_warned_at", sa.DateTime(timezone=True)),
    sa.column("sla_breached_at", sa.DateTime(timezone=True)),
    sa.column("first_response_due_at", sa.DateTime(timezone=True)),
)
ANSWERED = CASES.c.first_response_at.is_not(None)
LATE = CASES.c.first_response_at > CASES.c.first_response_due_at


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("follow_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("first_response_due_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute(CASES.update().where(ANSWERED).values(first_response_due_at=CASES.c.sla_due_at))


def downgrade() -> None:
    # The older code reads an answered case's sla_due_at as its first response's deadline
    # (reports): a follow-up's deadline there would turn a breach into "met".
    # Its marks too: older code set them only before the first response, and `status`
    # counts an open case with a breach mark as breached. A follow-up's marks (set after
    # the first response) go; a late first response is a breach at its deadline, as the
    # older code would have marked it (the follow-up clock had cleared that mark).
    op.execute(
        CASES.update()
        .where(ANSWERED)
        .values(
            sla_due_at=CASES.c.first_response_due_at,
            sla_warned_at=sa.case(
                (CASES.c.sla_warned_at < CASES.c.first_response_at, CASES.c.sla_warned_at),
                else_=None,
            ),
            sla_breached_at=sa.case((LATE, CASES.c.first_response_due_at), else_=None),
        )
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("first_response_due_at")
        batch_op.drop_column("follow_up_at")
