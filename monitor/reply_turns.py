"""Where each rule's reply variants stand in their rotation, counted from the outbox."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.domain import ActionKind
from monitor.store.models import ActionRow


@dataclass(frozen=True, slots=True)
class Counted:
    """A rule's reply actions this worker has counted: those with ids up to ``through``."""

    replies: int
    through: int


NONE_COUNTED = Counted(0, 0)


class StoredTurns:
    """A rule's reply variants turn with the replies it has queued: counted from the
    outbox, the rotation survives a reload of the rules and is shared by the workers. In
    the engine's memory, each reload and each worker started again at the first variant,
    and two replies in a row posted the same text, which X refuses as a duplicate.

    ``counted`` (the runtime's, kept between batches) makes each count read only the
    actions queued since the last one: counting the whole outbox once per batch and rule
    grew with the outbox. A reply another worker commits after a later id was counted is
    missed; that only shifts the rotation, as two workers' batches at once do."""

    def __init__(self, session: Session, counted: dict[str, Counted]) -> None:
        self.session = session
        self._counted = counted
        # Counted once per batch: its own replies are queued with its last statement.
        self._taken: dict[str, int] = {}

    def take(self, rule: str) -> int:
        turn = self._taken.get(rule)
        if turn is None:
            turn = self._stored(rule)
        self._taken[rule] = turn + 1
        return turn

    def _stored(self, rule: str) -> int:
        before = self._counted.get(rule, NONE_COUNTED)
        query = select(func.count(), func.max(ActionRow.id)).where(
            ActionRow.id > before.through,
            ActionRow.kind == ActionKind.REPLY.value,
            ActionRow.rule == rule,
        )
        # On the connection, not through the ORM: an ORM statement writes the batch's
        # pending audit rows first (monitor.store.pending), one INSERT per rule counted
        # instead of one per batch. This batch's own replies are in ``_taken``.
        replies, through = self.session.connection().execute(query).one()
        after = Counted(before.replies + int(replies), max(before.through, int(through or 0)))
        self._counted[rule] = after
        return after.replies
