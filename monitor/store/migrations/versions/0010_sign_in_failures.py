"""sign-in failures: wrong passwords counted per account and client address

Five wrong passwords locked the account itself (web_users.failed_logins and
locked_until), so anyone who knew a name kept its owner out with 5 requests every 15
minutes. Each wrong password is now a row naming the client address, kept for the
lockout window. The old columns stay (unused) so a downgrade finds them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_sign_in_failures",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("user_id", BIG_ID, nullable=True),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["web_users.id"],
            name=op.f("fk_web_sign_in_failures_user_id_web_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sign_in_failures")),
    )
    op.create_index("ix_web_sign_in_failures_user", "web_sign_in_failures", ["user_id", "at"])
    op.create_index("ix_web_sign_in_failures_address", "web_sign_in_failures", ["address", "at"])
    op.create_index("ix_web_sign_in_failures_at", "web_sign_in_failures", ["at"])


def downgrade() -> None:
    # Older code counts in web_users again, from zero: at most 5 more guesses.
    op.drop_table("web_sign_in_failures")
