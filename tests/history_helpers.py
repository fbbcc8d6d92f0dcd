"""Full counts and session factories for the tally and retention tests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.models import HISTORY, MESSAGES


def full_count(engine: Engine, clinic_id: str | None = None) -> dict[tuple[str, str], int]:
    """Every message by (status, channel), hot and history, counted row by row."""
    found: Counter[tuple[str, str]] = Counter()
    with engine.connect() as connection:
        for table in (MESSAGES, HISTORY):
            stmt = sa.select(table.c.status, table.c.channel, sa.func.count()).group_by(
                table.c.status, table.c.channel
            )
            if clinic_id is not None:
                stmt = stmt.where(table.c.clinic_id == clinic_id)
            for status, channel, n in connection.execute(stmt).all():
                found[(status, channel)] += int(n)
    return dict(found)


def sessions(engine: Engine) -> Callable[[], Session]:
    """A factory of sessions on this engine."""
    return lambda: Session(engine)
