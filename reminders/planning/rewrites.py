"""Rewrite a re-plan's existing outbox rows, each only while the state machine allows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from reminders.models import MESSAGES, Message, movable
from reminders.outbox import lifecycle as lc

Rewrite = tuple[Message, Mapping[str, Any]]


def rewrite_rows(session: Session, rewrites: Sequence[Rewrite]) -> None:
    """Update rows as the diff says, each only while its status still allows the re-plan.

    Rows with the same move and columns share one executemany, as the ORM's flush did.
    """
    groups: dict[tuple[lc.Move, tuple[str, ...]], list[Rewrite]] = {}
    for row, values in rewrites:
        move = lc.replan_move(values.get("status", row.status))
        groups.setdefault((move, tuple(sorted(values))), []).append((row, values))
    for (move, names), group in groups.items():
        stmt = (
            update(MESSAGES)
            .where(MESSAGES.c.id == bindparam("b_id"), movable(move))
            .values({name: bindparam(f"b_{name}", type_=MESSAGES.c[name].type) for name in names})
        )
        params = [
            {"b_id": row.id, **{f"b_{n}": v for n, v in values.items()}} for row, values in group
        ]
        changed = session.execute(stmt, params).rowcount  # type: ignore[attr-defined]
        for row, values in group:
            if changed == len(group):
                for name, value in values.items():
                    set_committed_value(row, name, value)
            else:  # a worker took a row meanwhile: read what the rows really are when asked
                session.expire(row)
