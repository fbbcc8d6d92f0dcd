"""Run a clinic re-plan job: batches of patients, each its own transaction, resumable."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from reminders.db import session_scope
from reminders.models import PATIENTS, TREATMENTS, Clinic, Patient, ReplanJob, Treatment
from reminders.planning import replanjobs as jobs
from reminders.planning.facts import policy_of
from reminders.planning.overrides import apply_overrides
from reminders.planning.plandiff import CLINIC_CHANGE_REASON
from reminders.planning.planner import PolicyError
from reminders.planning.protocol import Protocol, ProtocolError, load_protocol
from reminders.planning.replan import replan_patient

log = logging.getLogger(__name__)
# What a run of a job ended with, besides jobs.DONE and jobs.FAILED.
PAUSED, LOST, BUSY = "paused", "lost", "busy"
BATCH_ATTEMPTS = 3

Replanner = Callable[[Session, Patient, Clinic, Protocol, datetime], None]


def replan_for_clinic(
    session: Session, patient: Patient, clinic: Clinic, protocol: Protocol, now: datetime
) -> None:
    """The diff re-plan a patient event runs, for every treatment of the patient."""
    treatments = session.exec(select(Treatment.id).where(Treatment.patient_id == patient.id))
    reasons: dict[int | None, str] = dict.fromkeys(treatments, CLINIC_CHANGE_REASON)
    replan_patient(session, patient, clinic, protocol, now, reasons)


class LeaseLostError(Exception):
    """Another runner took the job over: this batch is rolled back."""


@dataclass(frozen=True)
class Progress:
    """Where a job stands, as the CLI shows it."""

    job_id: int
    status: str
    done: int
    total: int
    error: str | None = None


def progress_of(job: ReplanJob) -> Progress:
    """A job row as a progress snapshot."""
    assert job.id is not None
    return Progress(job.id, job.status, job.done, job.total, job.error)


@dataclass(frozen=True)
class JobRunner:
    """Runs re-plan jobs under a lease in `owner`'s name; every I/O it needs is passed in."""

    engine: Engine
    clock: Callable[[], datetime]
    owner: str
    batch_size: int = 200
    lease: timedelta = timedelta(seconds=120)
    replanner: Replanner = replan_for_clinic
    on_batch: Callable[[Progress], None] | None = None

    def run(self, job_id: int, budget_seconds: float | None = None) -> str:
        """Take the job's lease and run batches until done, failed or out of budget (paused)."""
        with session_scope(self.engine) as session:
            job = jobs.take_lease(session, job_id, self.owner, self.clock(), self.lease)
            taken = None if job is None else progress_of(job)
        if taken is None:
            return BUSY
        self.report(taken)
        started = time.monotonic()
        while True:
            try:
                more = self.batch(job_id)
            except (ProtocolError, PolicyError) as exc:
                return self.end(job_id, str(exc))
            except LeaseLostError:
                return LOST
            if not more:
                return self.end(job_id)
            if budget_seconds is not None and time.monotonic() - started > budget_seconds:
                with session_scope(self.engine) as session:
                    jobs.release(session, job_id, self.owner)
                return PAUSED

    def batch(self, job_id: int) -> bool:
        """Re-plan the next batch in one transaction; False when no patient is left.

        A conflict with a concurrent change to the same patient rolls the batch back, and it
        runs again on the rows as they now are.
        """
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                with session_scope(self.engine) as session:
                    found = self.next_batch(session, job_id)
            except DBAPIError as exc:
                if attempt == BATCH_ATTEMPTS:
                    raise
                log.warning("re-plan job %d: batch retried after %s", job_id, type(exc).__name__)
                continue
            if found is not None:
                self.report(found)
            return found is not None
        raise AssertionError("unreachable")

    def next_batch(self, session: Session, job_id: int) -> Progress | None:
        """Re-plan the patients after the cursor and move it past them, with the lease."""
        now = self.clock()
        job = session.get(ReplanJob, job_id, populate_existing=True)
        assert job is not None
        if job.lease_owner != self.owner:
            raise LeaseLostError(job_id)
        clinic = session.get(Clinic, job.clinic_id, populate_existing=True)
        assert clinic is not None
        protocol = clinic_protocol(clinic)
        after = jobs.open_patients(clinic.id, job.last_patient_id, now).limit(self.batch_size)
        ids = list(session.execute(after).scalars())
        if not ids:
            return None
        lock_patients(session, ids)
        for patient in session.exec(select(Patient).where(col(Patient.id).in_(ids))):
            self.replanner(session, patient, clinic, protocol, now)
        session.flush()
        if not jobs.advance(session, job_id, self.owner, ids[-1], len(ids), now + self.lease):
            raise LeaseLostError(job_id)
        return Progress(job_id, jobs.RUNNING, job.done + len(ids), job.total)

    def end(self, job_id: int, error: str | None = None) -> str:
        """Record the job done or failed; LOST if another runner took it meanwhile."""
        with session_scope(self.engine) as session:
            if not jobs.finish(session, job_id, self.owner, self.clock(), error):
                return LOST
            job = session.get(ReplanJob, job_id)
            assert job is not None
            final = progress_of(job)
        log.info("re-plan job %d of clinic %r: %s", job_id, job.clinic_id, final.status)
        self.report(final)
        return final.status

    def report(self, progress: Progress) -> None:
        """Tell the watcher, if any."""
        if self.on_batch is not None:
            self.on_batch(progress)


def clinic_protocol(clinic: Clinic) -> Protocol:
    """The clinic's protocol with its overrides; PolicyError or ProtocolError if unworkable."""
    policy_of(clinic)
    source = f"clinic {clinic.id!r} protocol_overrides"
    return apply_overrides(load_protocol(clinic.protocol), clinic.protocol_overrides, source)


def lock_patients(session: Session, ids: list[int]) -> None:
    """PostgreSQL: lock the batch's patients and treatments, as their events do, in id order.

    An event for one of them waits for the batch (or the batch for it), so a re-plan never
    writes a plan made from a treatment another transaction is changing. SQLite has one writer.
    """
    for table, key in ((PATIENTS, PATIENTS.c.id), (TREATMENTS, TREATMENTS.c.patient_id)):
        locked = sa.select(table.c.id).where(key.in_(ids)).order_by(table.c.id).with_for_update()
        session.execute(locked)
