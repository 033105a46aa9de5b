"""tidy tags: stored case tags follow the tag rule

Tags a person adds have always been checked and lower-cased; rule tags were stored as
the rule file spelled them until rules got the same check. A case tagged "VIP" by an
old rule was missed by the queue's tag filter ("vip"), and a tag with a space or a
comma could not be typed back to remove it. Each stored tag is lower-cased, every run
of other characters becomes "-", it is cut to 32 characters, and duplicates are
dropped (first kept). The old spellings are not kept: the downgrade leaves the tidy
ones, which older versions read as they are.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CASES = sa.table("cases", sa.column("id", sa.Integer), sa.column("tags", sa.JSON))
OTHER = re.compile(r"[^a-z0-9_-]+")
BATCH = 1000


def tidy(tags: list[Any]) -> list[str]:
    """The tags as monitor.domain.TAG accepts them; a tag with nothing left is dropped.
    The rule is written out here, not imported: a migration must keep doing what it did
    when the application's rule changes."""
    out: list[str] = []
    for tag in tags:
        clean = OTHER.sub("-", str(tag).strip().lower()).strip("-_")[:32].rstrip("-_")
        if clean and clean not in out:
            out.append(clean)
    return out


def upgrade() -> None:
    bind = op.get_bind()
    last = 0
    while True:
        # Keyset batches: a big cases table is never loaded whole.
        rows = bind.execute(
            sa.select(CASES.c.id, CASES.c.tags)
            .where(CASES.c.id > last)
            .order_by(CASES.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for case_id, tags in rows:
            old = tags or []
            if (new := tidy(old)) != old:
                bind.execute(CASES.update().where(CASES.c.id == case_id).values(tags=new))
        last = rows[-1][0]


def downgrade() -> None:
    pass
