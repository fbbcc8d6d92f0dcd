"""Retention: a finished treatment's messages leave `message` for `messagehistory` after the
clinic's `retention_days`, without personal data, in batches a run can resume.

A treatment moves only when every one of its rows is finished (sent, delivered, cancelled,
skipped) and already counted by the tally (ops/tally.py), and its last change is older than
the clinic's retention: pending, in-flight and problem rows are never touched. History keeps
each message's id, so audit entries naming a message stay valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlmodel import Session

from reminders.models import (
    CLINICS,
    HISTORY,
    MESSAGES,
    RETENTION_RUNS,
    TALLIED,
    TREATMENTS,
    RetentionRun,
)
from reminders.ops import audit, tally

M = MESSAGES.c
BATCH = 200  # treatments per batch: one short transaction each
# What history keeps: facts operators and audits need, nothing that names or reaches anyone.
KEPT = (
    "id",
    "clinic_id",
    "patient_id",
    "treatment_id",
    "step_key",
    "channel",
    "status",
    "due_at",
    "sent_at",
    "delivered_at",
    "created_at",
    "updated_at",
    "attempts",
    "provider_id",
    "provider_code",
    "tally_day",
)


@dataclass(frozen=True)
class RowFacts:
    """What deciding a treatment's fate needs of one of its rows."""

    treatment_id: int
    clinic_id: str
    status: str
    tally_status: str | None
    updated_at: datetime


def movable(
    rows: Sequence[RowFacts], retention: Mapping[str, int], now: datetime, counted: bool = True
) -> list[int]:
    """PURE: the treatments whose rows are all finished, counted and older than retention.

    `counted=False` (a dry run, which does not fold the tally first) skips the tally check.
    """
    by_treatment: dict[int, list[RowFacts]] = {}
    for row in rows:
        by_treatment.setdefault(row.treatment_id, []).append(row)
    chosen = []
    for treatment_id, own in sorted(by_treatment.items()):
        days = retention.get(own[0].clinic_id)
        if days is None:
            continue
        settled = all(
            r.status in TALLIED and (r.tally_status == r.status or not counted) for r in own
        )
        last = max(r.updated_at for r in own)
        if settled and last < now - timedelta(days=days):
            chosen.append(treatment_id)
    return chosen


@dataclass(frozen=True)
class Batch:
    """One batch's outcome: treatments looked at, treatments and rows moved, the cursor."""

    looked_at: int
    treatments: int
    moved: int
    last_treatment_id: int


def retention_days(session: Session, clinic_id: str | None) -> dict[str, int]:
    """Each clinic's retention in days (one clinic's when named)."""
    stmt = select(CLINICS.c.id, CLINICS.c.retention_days)
    if clinic_id is not None:
        stmt = stmt.where(CLINICS.c.id == clinic_id)
    return {cid: int(days) for cid, days in session.execute(stmt).all()}


def step(
    session: Session,
    now: datetime,
    after: int,
    clinic_id: str | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
) -> Batch:
    """Look at the next `batch` treatments after id `after`; move (or count) what may go.

    The caller commits. Rows are locked while they are checked and moved, so a re-plan or a
    status report cannot change one in between.
    """
    t = TREATMENTS.c
    pick = select(t.id).where(t.id > after).order_by(t.id).limit(batch)
    if clinic_id is not None:
        pick = pick.where(t.clinic_id == clinic_id)
    ids = list(session.execute(pick).scalars())
    if not ids:
        return Batch(0, 0, 0, after)
    facts = select(M.id, M.treatment_id, M.clinic_id, M.status, M.tally_status, M.updated_at)
    facts = facts.where(M.treatment_id.in_(ids))
    if not dry_run:
        facts = facts.with_for_update()
    found = session.execute(facts).all()
    chosen = movable(
        [
            RowFacts(r.treatment_id, r.clinic_id, r.status, r.tally_status, r.updated_at)
            for r in found
        ],
        retention_days(session, clinic_id),
        now,
        counted=not dry_run,
    )
    rows = [r.id for r in found if r.treatment_id in set(chosen)]
    if rows and not dry_run:
        move(session, rows, now)
    return Batch(len(ids), len(chosen), len(rows), ids[-1])


def move(session: Session, message_ids: list[int], now: datetime) -> None:
    """Copy the kept columns into history and delete the rows from `message`, set-based."""
    where = M.id.in_(message_ids)
    source = select(*(M[name] for name in KEPT), sa.literal(now, HISTORY.c.moved_at.type))
    session.execute(HISTORY.insert().from_select([*KEPT, "moved_at"], source.where(where)))
    session.execute(MESSAGES.delete().where(where))


def open_run(session: Session, clinic_id: str | None, now: datetime) -> RetentionRun:
    """The unfinished run for this scope (resumed where its last batch ended), or a new one."""
    r = RETENTION_RUNS.c
    scope = r.clinic_id.is_(None) if clinic_id is None else r.clinic_id == clinic_id
    stmt = select(RetentionRun).where(scope, r.finished_at.is_(None)).order_by(r.id.desc())
    run = session.execute(stmt).scalars().first()
    if run is None:
        run = RetentionRun(clinic_id=clinic_id, started_at=now)
        session.add(run)
        session.flush()
    return run


Sessions = Callable[[], Session]


def run(
    sessions: Sessions,
    clock: Callable[[], datetime],
    actor: str,
    clinic_id: str | None = None,
    dry_run: bool = False,
    batch: int = BATCH,
    budget: float | None = None,
) -> Iterator[tuple[RetentionRun | None, Batch]]:
    """Run (or resume) retention batch by batch, yielding progress; each batch commits.

    Folds the tally first, since only counted rows move. `budget` seconds stops it early (beat):
    the run stays open and the next call resumes it. A dry run writes nothing.
    """
    started = clock()
    if not dry_run:
        tally.fold_all(sessions, started, budget=budget)
    cursor = 0
    run_id: int | None = None
    if not dry_run:
        with sessions() as session:
            opened = open_run(session, clinic_id, started)
            cursor, run_id = opened.last_treatment_id, opened.id
            session.commit()
    while True:
        with sessions() as session:
            now = clock()
            done = step(session, now, cursor, clinic_id, dry_run, batch)
            record = None
            if run_id is not None:
                record = _advance(session, run_id, done, now, done.looked_at < batch, actor)
            session.commit()
        cursor = done.last_treatment_id
        yield record, done
        if done.looked_at < batch:
            return
        if budget is not None and (clock() - started).total_seconds() > budget:
            return


def _advance(
    session: Session, run_id: int, done: Batch, now: datetime, last: bool, actor: str
) -> RetentionRun:
    run_row = session.get(RetentionRun, run_id)
    assert run_row is not None
    run_row.last_treatment_id = done.last_treatment_id
    run_row.treatments += done.treatments
    run_row.moved += done.moved
    if last:
        run_row.finished_at = now
        audit.record(
            session,
            actor,
            "retention",
            clinic_id=run_row.clinic_id,
            target=f"retention:{run_row.id}",
            detail=f"moved {run_row.moved} messages of {run_row.treatments} finished treatments "
            "to history",
            now=now,
        )
    session.add(run_row)
    return run_row
