"""Write back what changed on detached ORM objects: one UPDATE per set of columns.

The unit of work sends one UPDATE per object whenever objects changed different sets of
columns, and a processing batch's cases almost all do (one escalated, one replied to,
one only re-scored): ~2,000 statements per 4,200 mentions, more time than scoring them.
Processing works on detached copies instead and writes each group of objects that
changed the same columns with one executemany.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Table, bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.base import NO_VALUE
from sqlalchemy.orm.state import InstanceState

from monitor.store.models import Base


def detach(session: Session, objects: Iterable[Base]) -> None:
    """Take ``objects`` out of the session: their changes wait for ``write_changes``.

    All at once, as ``Session.expunge`` does each after walking its expunge cascade: the
    models have no relationships, so that walk finds nothing, and over a batch's
    messages and cases it cost more than the expunging."""
    states: list[InstanceState[Base]] = []
    for obj in objects:
        state: InstanceState[Base] = instance_state(obj)
        if state.session_id != session.hash_key:
            continue  # not in this session (detached already, or another's)
        if state.mapper.relationships:
            session.expunge(obj)  # it may cascade to related objects
        else:
            states.append(state)
    if states:
        session._expunge_states(states)  # SQLAlchemy's expunge, without the cascade walk


def write_changes(session: Session, objects: Iterable[Base]) -> int:
    """UPDATE the changed columns of detached ``objects`` (by ``id``); returns the
    number of statements sent."""
    groups: dict[tuple[type[Base], tuple[str, ...]], list[dict[str, Any]]] = {}
    for obj in objects:
        changed = _changed(obj)
        if changed:
            row = {f"new_{name}": value for name, value in changed.items()}
            row["old_id"] = obj.id  # type: ignore[attr-defined]
            groups.setdefault((type(obj), tuple(sorted(changed))), []).append(row)
    connection = session.connection()
    for (model, columns), rows in groups.items():
        table = cast(Table, model.__table__)
        values = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in columns}
        statement = update(table).where(table.c.id == bindparam("old_id")).values(values)
        connection.execute(statement, rows)
    return len(groups)


def _changed(obj: Base) -> dict[str, Any]:
    """Column name -> new value, for the attributes set to something new since load."""
    state = inspect(obj)
    out: dict[str, Any] = {}
    for key, old in state.committed_state.items():
        new = getattr(obj, key)
        if old is NO_VALUE or new != old:
            column = state.mapper.columns[key]
            out[column.name] = new
    return out
