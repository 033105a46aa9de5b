"""Where each rule's reply variants stand in their rotation, counted from the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from monitor.domain import ActionKind
from monitor.store.models import ActionRow

# Ids below the newest counted that were missing from the count (``Counted.holes``):
# looked for again while they are within HOLE_SPAN ids of it, at most MAX_HOLES of them.
# An id is missing because its transaction had not committed (another worker's batch)
# or rolled back (never filled); the first kind commits within seconds, so a bounded
# window finds it, and the second is dropped once it falls out. MAX_HOLES also keeps
# the statement's IN list well under SQLite's limit of terms in one expression.
HOLE_SPAN = 10_000
MAX_HOLES = 500


@dataclass(slots=True)
class Counted:
    """The reply actions this worker has counted, by rule: those with ids up to
    ``through``, the newest action of any kind or rule the last count read, except the
    ``holes``, ids up to it the count did not find. The runtime's, changed by each count."""

    replies: dict[str, int] = field(default_factory=dict)
    through: int = 0
    holes: set[int] = field(default_factory=set)


class StoredTurns:
    """A rule's reply variants turn with the replies it has queued: counted from the
    outbox, the rotation survives a reload of the rules and is shared by the workers. In
    the engine's memory, each reload and each worker started again at the first variant,
    and two replies in a row posted the same text, which X refuses as a duplicate.

    ``counted`` (the runtime's, kept between batches) makes each count read only the
    actions queued since the last one, and the ids it found missing before: counting the
    whole outbox once per batch grew with the outbox, and reading only the ids above the
    newest seen missed for good a reply another worker committed after a later id (its
    id taken first), leaving this worker's rotation one behind the others' from then on.

    Two workers deciding at the same moment still each take the same turn: neither sees
    the other's reply before it commits (docs/rules.md)."""

    def __init__(self, session: Session, counted: Counted) -> None:
        self.session = session
        self._counted = counted
        # Counted once per batch: its own replies are queued with its last statement.
        self._taken: dict[str, int] | None = None

    def take(self, rule: str) -> int:
        if self._taken is None:
            self._taken = self._stored()
        turn = self._taken.get(rule, 0)
        self._taken[rule] = turn + 1
        return turn

    def _stored(self) -> dict[str, int]:
        """Every rule's replies, with one statement: one per rule was a statement per
        rule and batch, and each read from its own rule's last reply, so a rule that
        rarely replies read every action queued since, every batch. It reads one row per
        action queued since the last count (a batch's worth), not one per rule, to see
        which ids are missing."""
        counted = self._counted
        newer = ActionRow.id > counted.through
        where = or_(newer, ActionRow.id.in_(sorted(counted.holes))) if counted.holes else newer
        query = select(ActionRow.id, ActionRow.kind, ActionRow.rule).where(where)
        # On the connection, not through the ORM: an ORM statement writes the batch's
        # pending audit rows first (monitor.store.pending), splitting the batch's one
        # events INSERT in two. This batch's own replies are in ``_taken``.
        found: set[int] = set()
        for action_id, kind, rule in self.session.connection().execute(query):
            found.add(int(action_id))
            if kind == ActionKind.REPLY.value and rule is not None:
                counted.replies[rule] = counted.replies.get(rule, 0) + 1
        _advance(counted, found)
        return dict(counted.replies)


def _advance(counted: Counted, found: set[int]) -> None:
    """Move ``through`` to the newest id found, and keep the ids up to it not found."""
    newest = max(found, default=counted.through)
    fresh = range(counted.through + 1, newest + 1) if newest > counted.through else range(0)
    # Only the fresh range's last HOLE_SPAN ids can be kept: a first count over a long
    # outbox is not walked id by id.
    fresh = fresh[-HOLE_SPAN:]
    missing = {*(counted.holes - found), *(i for i in fresh if i not in found)}
    kept = sorted(i for i in missing if i > newest - HOLE_SPAN)[-MAX_HOLES:]
    counted.holes, counted.through = set(kept), newest
