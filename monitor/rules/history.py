"""The author's history that rules match on, read in one query per mention."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Case


def author_history(session: Session, customer_id: int, case_id: int) -> tuple[int, bool]:
    """(number of the author's other cases, whether any of their cases was escalated)."""
    query = select(
        func.count(Case.id).filter(Case.id != case_id),
        func.count(Case.id).filter(Case.team.is_not(None)),
    ).where(Case.customer_id == customer_id)
    earlier, escalated = session.execute(query).one()
    return int(earlier), int(escalated) > 0
