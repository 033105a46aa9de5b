"""Where the next page of the queue starts: after the last row shown, by its sort values.

Counted by OFFSET, a case arriving above (or leaving) between two page views shifted
every row: page 2 repeated page 1's last row, or left a row on neither page. The token
names the position in the queue's two-part order instead (the answers owed by deadline,
priority and id; then the rest by priority and id), so it stays right whatever changes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlalchemy.orm import QueryableAttribute

from monitor.cases import PRIORITY_ORDER, PRIORITY_RANK, UNKNOWN_PRIORITY_RANK, deadline_owed
from monitor.casework import CaseworkError
from monitor.domain import utc
from monitor.store.models import MAX_ID, Case

MAX_ID_DIGITS = 19
Key = ColumnElement[Any] | QueryableAttribute[Any]
REFUSED = 'after must be the "next" of a queue page, as given'


@dataclass(frozen=True, slots=True)
class After:
    """The last row shown: its deadline (None when it owed no answer), rank and id."""

    due: datetime | None
    rank: int
    case_id: int

    @classmethod
    def of(cls, case: Case) -> After:
        rank = PRIORITY_ORDER.get(case.priority, UNKNOWN_PRIORITY_RANK)
        return cls(deadline_owed(case), rank, case.id)

    def token(self) -> str:
        where = ["r"] if self.due is None else ["o", self.due.isoformat()]
        text = "|".join([*where, str(self.rank), str(self.case_id)])
        return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")

    @classmethod
    def parse(cls, token: str) -> After:
        try:
            text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("ascii")
            return cls._from_fields(text.split("|"))
        # OverflowError: a deadline at the calendar's edge with no UTC form (year 9999
        # at -01:00), which the database driver would otherwise meet as a 500.
        except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
            raise CaseworkError(REFUSED) from None

    @classmethod
    def _from_fields(cls, parts: list[str]) -> After:
        if parts[0] == "o" and len(parts) == 4:
            due: datetime | None = datetime.fromisoformat(parts[1])
            if due is None or due.tzinfo is None:
                raise ValueError("a deadline without its time zone")
            due = utc(due)
        elif parts[0] == "r" and len(parts) == 3:
            due = None
        else:
            raise ValueError("not a queue position")
        rank, case_id = parts[-2:]
        if not (rank.isascii() and rank.isdigit() and int(rank) <= UNKNOWN_PRIORITY_RANK):
            raise ValueError("no priority rank")
        # 19 digits still reach past BIGINT: such an id, sent to the database, was a 500.
        digits = case_id.isascii() and case_id.isdigit() and len(case_id) <= MAX_ID_DIGITS
        if not (digits and int(case_id) <= MAX_ID):
            raise ValueError("no case id")
        return cls(due, int(rank), int(case_id))

    def owed_after(self) -> ColumnElement[bool]:
        """The owed cases sorted after this one (meant for a position among them)."""
        assert self.due is not None
        # The first condition alone lets the deadline index find where to start.
        keys = (Case.sla_due_at, PRIORITY_RANK, Case.id)
        return and_(Case.sla_due_at >= self.due, _after(keys, (self.due, self.rank, self.case_id)))

    def rest_after(self) -> ColumnElement[bool]:
        """The cases owing no answer sorted after this one (itself one of them)."""
        return _after((PRIORITY_RANK, Case.id), (self.rank, self.case_id))


def _after(keys: tuple[Key, ...], values: tuple[Any, ...]) -> ColumnElement[bool]:
    """Rows sorted after ``values`` by ``keys`` ascending, spelled out (no row values)."""
    later: ColumnElement[bool] = keys[0] > values[0]
    if len(keys) == 1:
        return later
    return or_(later, and_(keys[0] == values[0], _after(keys[1:], values[1:])))
