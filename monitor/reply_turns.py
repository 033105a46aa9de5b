"""Where each rule's reply variants stand in their rotation, counted from the outbox."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.domain import ActionKind
from monitor.store.models import ActionRow


@dataclass(slots=True)
class Counted:
    """The reply actions this worker has counted, by rule: those with ids up to
    ``through``, the newest action of any kind or rule the last count read. The runtime's,
    changed by each count."""

    replies: dict[str, int] = field(default_factory=dict)
    through: int = 0


class StoredTurns:
    """A rule's reply variants turn with the replies it has queued: counted from the
    outbox, the rotation survives a reload of the rules and is shared by the workers. In
    the engine's memory, each reload and each worker started again at the first variant,
    and two replies in a row posted the same text, which X refuses as a duplicate.

    ``counted`` (the runtime's, kept between batches) makes each count read only the
    actions queued since the last one: counting the whole outbox once per batch and rule
    grew with the outbox. A reply another worker commits after a later id was counted is
    missed; that only shifts the rotation, as two workers' batches at once do."""

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
        rarely replies read every action queued since, every batch."""
        counted = self._counted
        replies = func.count(case((ActionRow.kind == ActionKind.REPLY.value, 1)))
        query = (
            select(ActionRow.rule, replies, func.max(ActionRow.id))
            .where(ActionRow.id > counted.through)
            .group_by(ActionRow.rule)
        )
        # On the connection, not through the ORM: an ORM statement writes the batch's
        # pending audit rows first (monitor.store.pending), splitting the batch's one
        # events INSERT in two. This batch's own replies are in ``_taken``.
        for rule, count, newest in self.session.connection().execute(query):
            if rule is not None and count:
                counted.replies[rule] = counted.replies.get(rule, 0) + int(count)
            counted.through = max(counted.through, int(newest))
        return dict(counted.replies)
