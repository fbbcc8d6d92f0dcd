"""Clinic re-plan jobs: request (coalesced), lease, advance the cursor, finish; all in SQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reminders.models import MESSAGES, REPLAN_JOBS, ReplanJob
from reminders.ops import audit
from reminders.outbox import lifecycle as lc

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTION = "clinic replan"
# The clinic settings the planner reads: a change to any of them re-plans the clinic's rows.
# (The clinic's locale is only a default for new patients; it changes no stored plan.)
PLANNING_FIELDS = frozenset(
    {"window_start", "window_end", "sms_per_day", "sms_per_week", "protocol", "protocol_overrides"}
)


def planning_changed(changed: Iterable[str]) -> list[str]:
    """The changed settings that alter a plan, sorted (empty: no re-plan needed)."""
    return sorted(PLANNING_FIELDS.intersection(changed))


def request_replan(
    session: Session, clinic_id: str, actor: str, reason: str, now: datetime
) -> tuple[ReplanJob, bool]:
    """The clinic's queued job, or a new one; says whether this call created it.

    A request while a job is queued joins it (it has not started, so it will see the newest
    settings); one while a job runs queues another, since the running one has passed patients.
    """
    values = dict(clinic_id=clinic_id, requested_by=actor[:128], reason=reason[:300],
                  status=QUEUED, total=0, done=0, created_at=now)  # fmt: skip
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # The partial unique index keeps one queued job per clinic, even between two requests.
    insert = dialect.insert(REPLAN_JOBS).values(values)
    insert = insert.on_conflict_do_nothing(
        index_elements=["clinic_id"], index_where=REPLAN_JOBS.c.status == QUEUED
    )
    new_id = session.execute(insert.returning(REPLAN_JOBS.c.id)).scalar()
    job = session.get(ReplanJob, new_id) if new_id is not None else queued_job(session, clinic_id)
    assert job is not None and job.id is not None
    joined = "" if new_id is not None else "; joined the queued job"
    audit.record(session, actor, ACTION, clinic_id=clinic_id, target=f"replan:{job.id}",
                 detail=f"requested: {reason}{joined}", now=now)  # fmt: skip
    return job, new_id is not None


def queued_job(session: Session, clinic_id: str) -> ReplanJob | None:
    """The clinic's job that has not started yet, if any."""
    found = select(ReplanJob).where(ReplanJob.clinic_id == clinic_id, ReplanJob.status == QUEUED)
    return session.exec(found).first()


def latest_jobs(session: Session, clinic_id: str, limit: int = 5) -> list[ReplanJob]:
    """The clinic's most recent jobs, newest first."""
    newest = col(ReplanJob.id).desc()
    found = select(ReplanJob).where(ReplanJob.clinic_id == clinic_id).order_by(newest)
    return list(session.exec(found.limit(limit)))


def runnable_job_ids(session: Session, now: datetime) -> list[int]:
    """Jobs a worker may take now: queued, or running with a lapsed lease (a crash)."""
    found = select(REPLAN_JOBS.c.id).where(runnable(now)).order_by(REPLAN_JOBS.c.id)
    return list(session.execute(found).scalars())


def lapsed_jobs(engine: Engine, job_id: int, now: datetime) -> list[int]:
    """Other jobs of this job's clinic left running without a live lease (a dead worker)."""
    jobs, mine = REPLAN_JOBS, REPLAN_JOBS.alias("mine")
    found = (
        sa.select(jobs.c.id)
        .join(mine, mine.c.clinic_id == jobs.c.clinic_id)
        .where(mine.c.id == job_id, jobs.c.id != job_id, jobs.c.status == RUNNING, runnable(now))
    )
    with engine.connect() as connection:
        return list(connection.execute(found).scalars())


def runnable(now: datetime) -> sa.ColumnElement[bool]:
    """Queued with no other job of its clinic running, or running without a live lease."""
    jobs, other = REPLAN_JOBS, REPLAN_JOBS.alias("other")
    busy = sa.exists().where(
        other.c.clinic_id == jobs.c.clinic_id, other.c.id != jobs.c.id, other.c.status == RUNNING
    )
    lapsed = sa.or_(jobs.c.lease_expires_at.is_(None), jobs.c.lease_expires_at <= now)
    return sa.or_(
        sa.and_(jobs.c.status == QUEUED, ~busy), sa.and_(jobs.c.status == RUNNING, lapsed)
    )


def take_lease(
    session: Session, job_id: int, owner: str, now: datetime, lease: timedelta
) -> ReplanJob | None:
    """Start or resume the job under `owner`'s lease, or None if someone else holds it."""
    taken = session.execute(
        sa.update(REPLAN_JOBS)
        .where(REPLAN_JOBS.c.id == job_id, runnable(now))
        .values(
            status=RUNNING,
            lease_owner=owner,
            lease_expires_at=now + lease,
            started_at=sa.func.coalesce(REPLAN_JOBS.c.started_at, now),
        )  # fmt: skip
    ).rowcount  # type: ignore[attr-defined]
    if not taken:
        return None
    job = session.get(ReplanJob, job_id, populate_existing=True)
    assert job is not None
    job.total = job.done + count_open(session, job.clinic_id, job.last_patient_id, now)
    session.add(job)
    return job


def advance(
    session: Session, job_id: int, owner: str, last_patient_id: int, count: int, until: datetime
) -> bool:
    """Commit a batch's progress with it, if `owner` still holds the lease (else roll back)."""
    moved = session.execute(
        sa.update(REPLAN_JOBS)
        .where(
            REPLAN_JOBS.c.id == job_id,
            REPLAN_JOBS.c.lease_owner == owner,
            REPLAN_JOBS.c.status == RUNNING,
        )  # fmt: skip
        .values(
            last_patient_id=last_patient_id, done=REPLAN_JOBS.c.done + count, lease_expires_at=until
        )  # fmt: skip
    ).rowcount  # type: ignore[attr-defined]
    return bool(moved)


def release(session: Session, job_id: int, owner: str) -> None:
    """Give the lease back so any worker may resume the job at once (it stays running)."""
    session.execute(
        sa.update(REPLAN_JOBS)
        .where(REPLAN_JOBS.c.id == job_id, REPLAN_JOBS.c.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
    )


def finish(
    session: Session, job_id: int, owner: str, now: datetime, error: str | None = None
) -> bool:
    """Mark the job done (or failed with `error`) and audit it, if `owner` holds its lease."""
    job = session.get(ReplanJob, job_id, populate_existing=True)
    if job is None or job.lease_owner != owner or job.status != RUNNING:
        return False
    job.status, job.error, job.finished_at = (FAILED if error else DONE), error, now
    job.lease_owner, job.lease_expires_at = None, None
    session.add(job)
    outcome = f"failed: {error};" if error else "finished:"
    detail = f"{outcome} {job.done} patients re-planned (requested by {job.requested_by})"
    audit.record(session, f"system:{owner}", ACTION, clinic_id=job.clinic_id,
                 target=f"replan:{job.id}", detail=detail, now=now)  # fmt: skip
    return True


def open_patients(clinic_id: str, after: int | None, now: datetime) -> sa.Select[tuple[int]]:
    """Patients of the clinic with a row a re-plan may still change, by id, after the cursor.

    Rows nothing was handed to a provider for and still valid: pending ones, and skipped or
    cancelled ones a new setting may bring back (a wider window, higher caps, a step enabled).
    """
    rows = MESSAGES.c
    found = (
        sa.select(rows.patient_id)
        .where(
            rows.clinic_id == clinic_id,
            rows.status.in_([str(status) for status in lc.REPLANNABLE]),
            rows.sent_at.is_(None),
            rows.provider_id.is_(None),
            sa.or_(rows.valid_until.is_(None), rows.valid_until > now),
        )
        .distinct()
        .order_by(rows.patient_id)
    )
    return found if after is None else found.where(rows.patient_id > after)


def count_open(session: Session, clinic_id: str, after: int | None, now: datetime) -> int:
    """How many patients are still to re-plan after the cursor."""
    found = open_patients(clinic_id, after, now).order_by(None).subquery()
    return int(session.execute(sa.select(sa.func.count()).select_from(found)).scalar_one())
