"""Counts of messages by status without reading history: live rows plus the folded tally.

Finished rows (sent, delivered, cancelled, skipped) are counted in `messagetally` per clinic,
channel, status and day, and summed over days in `messagetotal` (what `counts` reads: a few
rows however many years); beat folds new and changed ones in (`fold`). A row records the
status and day it is counted under, so a row that changes after folding (delivered, re-planned,
retried) is one the partial index `ix_message_untallied` finds: `counts` corrects for those,
so its figures equal a full count at every moment, folded or not, and retention's moves
(ops/retention.py) keep them since they take only folded rows.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from reminders.models import MESSAGES, TALLIED, TALLY, TOTALS, UNTALLIED
from reminders.ops.scope import ClinicIds, within

M, T, S = MESSAGES.c, TALLY.c, TOTALS.c
Key = tuple[str, str, str, date]  # clinic, channel, status, day
LIVE = tuple(s for s in ("pending", "claimed", "sending", "failed", "dead", "unknown"))
FOLD_BATCH = 5000


def untallied() -> Any:
    """The partial index's predicate, verbatim, so the planner uses the index."""
    return sa.text(UNTALLIED)


def counts(session: Session, clinic_ids: ClinicIds = None) -> dict[tuple[str, str], int]:
    """Rows by (status, channel), equal to a full count of `message` and `messagehistory`."""
    found: Counter[tuple[str, str]] = Counter()
    live = (
        select(M.status, M.channel, func.count())
        .where(M.status.in_(LIVE), within(M.clinic_id, clinic_ids))
        .group_by(M.status, M.channel)
    )
    folded = (
        select(S.status, S.channel, func.sum(S.count))
        .where(within(S.clinic_id, clinic_ids))
        .group_by(S.status, S.channel)
    )
    for stmt in (live, folded):
        for status, channel, n in session.execute(stmt).all():
            found[(status, channel)] += int(n)
    changed = select(M.status, M.channel, M.tally_status).where(
        untallied(), within(M.clinic_id, clinic_ids)
    )
    for status, channel, tallied in session.execute(changed).all():
        if status in TALLIED:
            found[(status, channel)] += 1
        if tallied is not None:
            found[(tallied, channel)] -= 1
    return {key: n for key, n in found.items() if n}


def fold(session: Session, now: datetime, batch: int = FOLD_BATCH) -> int:
    """Count up to `batch` new or changed finished rows in the tally; how many were folded.

    The caller commits; rows are locked while folded, so two folds never count one row twice.
    """
    stmt = (
        select(M.id, M.clinic_id, M.channel, M.status, M.tally_status, M.tally_day)
        .where(untallied())
        .order_by(M.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    rows = session.execute(stmt).all()
    if not rows:
        return 0
    today = now.date()
    deltas: Counter[Key] = Counter()
    marks: list[dict[str, Any]] = []
    for row in rows:
        if row.tally_status is not None:
            deltas[(row.clinic_id, row.channel, row.tally_status, row.tally_day)] -= 1
        counted = row.status in TALLIED
        if counted:
            deltas[(row.clinic_id, row.channel, row.status, today)] += 1
        marks.append(
            {
                "mid": row.id,
                "ts": row.status if counted else None,
                "td": today if counted else None,
            }
        )
    update = (
        MESSAGES.update()
        .where(M.id == sa.bindparam("mid"))
        .values(tally_status=sa.bindparam("ts"), tally_day=sa.bindparam("td"))
    )
    session.execute(update, marks)
    add(session, deltas)
    return len(rows)


def add(session: Session, deltas: Counter[Key]) -> None:
    """Add each delta to its day's row and to the total (upserts; a 0 row stays, harmlessly)."""
    days = [
        {"clinic_id": c, "channel": ch, "status": s, "day": d, "count": n}
        for (c, ch, s, d), n in sorted(deltas.items())
        if n
    ]
    summed: Counter[tuple[str, str, str]] = Counter()
    for (c, ch, s, _), n in deltas.items():
        summed[(c, ch, s)] += n
    totals = [
        {"clinic_id": c, "channel": ch, "status": s, "count": n}
        for (c, ch, s), n in sorted(summed.items())
        if n
    ]
    _upsert(session, TALLY, days)
    _upsert(session, TOTALS, totals)


def _upsert(session: Session, table: sa.Table, values: list[dict[str, Any]]) -> None:
    if not values:
        return
    dialect = session.get_bind().dialect.name
    insert: Any = (postgresql if dialect == "postgresql" else sqlite).insert(table)
    stmt = insert.on_conflict_do_update(
        index_elements=list(table.primary_key.columns),
        set_={"count": table.c.count + insert.excluded["count"]},
    )
    session.execute(stmt, values)


def fold_all(
    session_factory: Any, now: datetime, batch: int = FOLD_BATCH, budget: float | None = None
) -> int:
    """Fold until nothing is left (or `budget` seconds passed), committing each batch.

    Returns how many rows were folded; the next call goes on where this one stopped.
    """
    total = 0
    started = time.monotonic()
    while True:
        with session_factory() as session:
            n = fold(session, now, batch)
            session.commit()
        total += n
        if n < batch or (budget is not None and time.monotonic() - started > budget):
            return total
