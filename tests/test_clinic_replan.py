"""A clinic's new window, caps or overrides reach its patients' pending rows, in batches."""

from __future__ import annotations

import threading
import time as clock
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reminders.db import session_scope
from reminders.intake.clinics import ClinicError, update_clinic
from reminders.intake.enrollment import PatientInput, TreatmentInput, enroll, replan
from reminders.models import MESSAGES, AuditEntry, Clinic, Message, Patient, ReplanJob, Treatment
from reminders.planning import replanjobs as jobs
from reminders.planning.clinicreplan import (
    BUSY,
    JobRunner,
    LeaseLostError,
    replan_for_clinic,
)
from reminders.planning.protocol import Protocol, load_protocol
from tests.factories import make_clinic
from tests.harness import ServiceProcess, celery_beat_argv, celery_worker_argv, service_env

ENDED = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
NOW = ENDED + timedelta(minutes=5)
LATER = NOW + timedelta(minutes=30)
MADRID = ZoneInfo("Europe/Madrid")
LEASE = timedelta(seconds=60)


def enroll_patients(engine: Engine, clinic_id: str, count: int, **fields: Any) -> None:
    """`count` consenting patients in Madrid, each with a treatment that ended at ENDED."""
    values: dict[str, Any] = dict(consent_sms=True, consent_email=True, email="a@example.com")
    values.update(fields)
    with session_scope(engine) as session:
        clinic = session.get(Clinic, clinic_id)
        assert clinic is not None
        for n in range(count):
            patient = PatientInput(external_id=f"p-{n}", first_name="Ana",
                                   timezone="Europe/Madrid", phone=f"+1555555{n:04d}",
                                   **values)  # fmt: skip
            treatment = TreatmentInput(external_id=f"t-{n}", ended_at=ENDED, sessions_planned=3)
            enroll(session, clinic, patient, treatment, load_protocol(), NOW)


def rows(engine: Engine, clinic_id: str) -> dict[str, dict[str, Any]]:
    """The clinic's outbox rows by idempotency key, as plain values."""
    with Session(engine) as session:
        found = session.exec(select(Message).where(Message.clinic_id == clinic_id))
        return {m.idempotency_key: m.model_dump() for m in found}


def change(engine: Engine, clinic_id: str, **settings: Any) -> ReplanJob | None:
    """Change the clinic's settings as `reminders clinics set` does; the job it queued."""
    with session_scope(engine) as session:
        clinic = session.get(Clinic, clinic_id)
        assert clinic is not None
        update_clinic(session, clinic, settings, "cli:test")
        return jobs.queued_job(session, clinic_id)


def runner(engine: Engine, owner: str = "worker-1", at: datetime = LATER, **kw: Any) -> JobRunner:
    return JobRunner(engine, lambda: at, owner, lease=LEASE, **kw)


def job_row(engine: Engine, job_id: int | None) -> ReplanJob:
    with Session(engine) as session:
        job = session.get(ReplanJob, job_id)
        assert job is not None
        return job


def runnable(engine: Engine, at: datetime) -> list[int]:
    with Session(engine) as session:
        return jobs.runnable_job_ids(session, at)


def in_window(when: datetime, start: int, end: int) -> bool:
    return start <= when.astimezone(MADRID).hour < end


def mark_sent(engine: Engine, key: str) -> None:
    with session_scope(engine) as session:
        message = session.exec(select(Message).where(Message.idempotency_key == key)).one()
        message.status, message.sent_at, message.provider_id = "sent", NOW, "SM1"
        session.add(message)


def test_changing_clinic_a_window_moves_its_pending_rows_and_leaves_clinic_b_alone(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine, "clinic-a")
    make_clinic(any_engine, "clinic-b")
    enroll_patients(any_engine, "clinic-a", 3)
    enroll_patients(any_engine, "clinic-b", 3)
    sent_key = next(key for key in rows(any_engine, "clinic-a") if key.endswith(":day_1:email"))
    mark_sent(any_engine, sent_key)
    claimed_key = next(key for key in rows(any_engine, "clinic-a") if key.endswith(":day_3:sms"))
    with session_scope(any_engine) as session:  # a worker is about to send this one
        claimed = session.exec(select(Message).where(Message.idempotency_key == claimed_key))
        row = claimed.one()
        row.status, row.lease_owner, row.lease_expires_at = "claimed", "w", LATER
        session.add(row)
    before_a, before_b = rows(any_engine, "clinic-a"), rows(any_engine, "clinic-b")
    assert any(not in_window(r["due_at"], 13, 17) for r in before_a.values())

    job = change(any_engine, "clinic-a", window="13:00-17:00")
    assert job is not None and change(any_engine, "clinic-b", name="Other name") is None
    assert runner(any_engine, batch_size=2).run(job.id or 0) == jobs.DONE

    after_a = rows(any_engine, "clinic-a")
    assert after_a[sent_key] == before_a[sent_key]  # sent: never touched
    assert after_a[claimed_key] == before_a[claimed_key]  # in flight: left alone
    pending = [r for r in after_a.values() if r["status"] == "pending"]
    assert pending and all(in_window(r["due_at"], 13, 17) for r in pending)
    assert set(after_a) == set(before_a)  # moved or skipped, never duplicated
    assert rows(any_engine, "clinic-b") == before_b
    finished = job_row(any_engine, job.id)
    assert (finished.status, finished.done, finished.total) == ("done", 3, 3)
    with Session(any_engine) as session:
        audited = session.exec(select(AuditEntry).where(AuditEntry.action == "clinic replan"))
        details = [(entry.clinic_id, entry.detail.split(":")[0]) for entry in audited]
    assert details == [("clinic-a", "requested"), ("clinic-a", "finished")]


def test_a_job_stopped_after_one_batch_resumes_at_its_cursor_replanning_nobody_twice(
    any_engine: Engine,
) -> None:
    make_clinic(any_engine, "clinic-a")
    enroll_patients(any_engine, "clinic-a", 5)
    keys_before = set(rows(any_engine, "clinic-a"))
    job = change(any_engine, "clinic-a", window="13:00-17:00")
    assert job is not None and job.id is not None
    seen: list[tuple[str, int | None]] = []

    def recording(owner: str) -> Any:
        def replanner(session: Session, patient: Patient, clinic: Clinic, protocol: Protocol,
                      now: datetime) -> None:  # fmt: skip
            seen.append((owner, patient.id))
            replan_for_clinic(session, patient, clinic, protocol, now)

        return replanner

    # Worker 1 takes the job, commits one batch of two patients, then dies holding the lease.
    first = runner(any_engine, "worker-1", batch_size=2, replanner=recording("worker-1"))
    with session_scope(any_engine) as session:
        assert jobs.take_lease(session, job.id, "worker-1", LATER, LEASE) is not None
    assert first.batch(job.id) is True
    assert job_row(any_engine, job.id).done == 2

    second = runner(any_engine, "worker-2", batch_size=2, replanner=recording("worker-2"))
    assert second.run(job.id) == BUSY  # the lease is still live
    assert runnable(any_engine, LATER) == []
    resumed = runner(any_engine, "worker-2", LATER + LEASE + timedelta(seconds=1), batch_size=2,
                     replanner=recording("worker-2"))  # fmt: skip
    assert resumed.run(job.id) == jobs.DONE

    with Session(any_engine) as session:
        everyone = list(session.exec(select(Patient.id).order_by(col(Patient.id))))
    assert sorted(patient for _, patient in seen) == everyone  # each once
    assert [owner for owner, _ in seen] == ["worker-1"] * 2 + ["worker-2"] * 3
    assert set(rows(any_engine, "clinic-a")) == keys_before
    pending = [r for r in rows(any_engine, "clinic-a").values() if r["status"] == "pending"]
    assert pending and all(in_window(r["due_at"], 13, 17) for r in pending)
    assert job_row(any_engine, job.id).done == 5
    with pytest.raises(LeaseLostError):  # the dead worker, back, writes nothing more
        first.batch(job.id)


def test_a_change_joins_a_queued_job_but_queues_another_while_one_runs(engine: Engine) -> None:
    make_clinic(engine, "clinic-a")
    make_clinic(engine, "clinic-b")
    first = change(engine, "clinic-a", window="09:00-18:00")
    assert first is not None and first.id is not None
    joined = change(engine, "clinic-a", sms_per_day=2, sms_per_week=5)
    assert joined is not None and joined.id == first.id
    other = change(engine, "clinic-b", window="09:00-18:00")
    assert other is not None and other.id != first.id
    assert runnable(engine, NOW) == [first.id, other.id]

    with session_scope(engine) as session:
        assert jobs.take_lease(session, first.id, "worker-1", NOW, LEASE) is not None
    second = change(engine, "clinic-a", protocol_overrides={"steps": {"day_7": {"enabled": False}}})
    assert second is not None and second.id not in (first.id, None)
    # One job per clinic at a time: the new one waits for the running one.
    assert runnable(engine, NOW) == [other.id]
    assert runner(engine, "worker-1", NOW).run(first.id) == BUSY  # it holds it; run resumes
    with session_scope(engine) as session:
        assert jobs.finish(session, first.id, "worker-1", NOW)
    assert runnable(engine, NOW) == [other.id, second.id]
    with Session(engine) as session:
        queued = session.exec(select(ReplanJob).where(ReplanJob.status == "queued")).all()
    assert sorted(job.clinic_id for job in queued) == ["clinic-a", "clinic-b"]


def test_settings_that_change_no_plan_queue_no_replan(engine: Engine) -> None:
    make_clinic(engine, "clinic-a")
    assert change(engine, "clinic-a", name="New name", locale="es", phone="+1 212 555 0100") is None
    assert change(engine, "clinic-a", window="08:00-20:00") is None  # the same window


@pytest.mark.parametrize(
    ("settings", "field"),
    [({"sms_per_day": -1}, "sms_per_day"), ({"sms_per_day": 25}, "sms_per_day"),
     ({"sms_per_week": 169}, "sms_per_week"), ({"sms_per_week": "many"}, "sms_per_week")],
)  # fmt: skip
def test_caps_outside_their_range_are_refused_naming_the_cap(
    engine: Engine, settings: dict[str, Any], field: str
) -> None:
    make_clinic(engine, "clinic-a")
    with pytest.raises(ClinicError, match=field):
        change(engine, "clinic-a", **settings)
    with Session(engine) as session:
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None and (clinic.sms_per_day, clinic.sms_per_week) == (1, 3)
        assert session.exec(select(ReplanJob)).all() == []


def test_raising_the_caps_brings_back_texts_the_old_caps_skipped(engine: Engine) -> None:
    make_clinic(engine, "clinic-a", sms_per_day=0, sms_per_week=0)
    enroll_patients(engine, "clinic-a", 2, consent_email=False)
    assert {r["status"] for r in rows(engine, "clinic-a").values()} == {"skipped"}
    job = change(engine, "clinic-a", sms_per_day=1, sms_per_week=3)
    assert job is not None and runner(engine).run(job.id or 0) == jobs.DONE
    pending = [r for r in rows(engine, "clinic-a").values() if r["status"] == "pending"]
    assert {r["patient_id"] for r in pending} and len(pending) >= 2 * 3


def test_a_job_for_overrides_that_no_longer_fit_fails_naming_the_step(engine: Engine) -> None:
    make_clinic(engine, "clinic-a")
    enroll_patients(engine, "clinic-a", 1)
    job = change(engine, "clinic-a", window="09:00-18:00")
    assert job is not None
    with session_scope(engine) as session:  # as an older version could have stored it
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        clinic.protocol_overrides = {"steps": {"day_99": {"enabled": False}}}
        session.add(clinic)
    assert runner(engine).run(job.id or 0) == jobs.FAILED
    failed = job_row(engine, job.id)
    assert failed.error is not None and "day_99" in failed.error and failed.finished_at


def test_a_clinic_window_change_reaches_rows_through_a_real_worker_and_beat(
    engine: Engine, database_url: str, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    # Wall clock here, as the worker's: a treatment that ended an hour ago, patients in UTC.
    make_clinic(engine, "clinic-a", window_start=time(0), window_end=time(0))
    make_clinic(engine, "clinic-b", window_start=time(0), window_end=time(0))
    ended = datetime.now(UTC) - timedelta(hours=1)
    for clinic_id in ("clinic-a", "clinic-b"):
        with session_scope(engine) as session:
            clinic = session.get(Clinic, clinic_id)
            assert clinic is not None
            for n in range(3):
                patient = PatientInput(external_id=f"p-{n}", first_name="Ana", timezone="UTC",
                                       phone=f"+1555555{n:04d}", consent_sms=True)  # fmt: skip
                treatment = TreatmentInput(external_id=f"t-{n}", ended_at=ended)
                enroll(session, clinic, patient, treatment, load_protocol(), datetime.now(UTC))
    before_b = rows(engine, "clinic-b")
    # Queued with no Celery message at all: beat must find it.
    job = change(engine, "clinic-a", window="03:00-04:00")
    assert job is not None
    env = service_env(database_url, redis_url, key_prefix, tmp_path / "var",
                      REMINDERS_SWEEP_INTERVAL_SECONDS="0.5", REMINDERS_REPLAN_BATCH_SIZE="2",
                      REMINDERS_DISPATCH_INTERVAL_SECONDS="3600")  # fmt: skip
    worker = ServiceProcess(celery_worker_argv(), env, tmp_path / "worker.log")
    beat = ServiceProcess(celery_beat_argv(), env, tmp_path / "beat.log")
    try:
        worker.start(ready_text="ready.")
        beat.start()
        deadline = clock.monotonic() + 60
        while clock.monotonic() < deadline and job_row(engine, job.id).status != "done":
            clock.sleep(0.25)
    finally:
        beat.stop()
        worker.stop()
    finished = job_row(engine, job.id)
    assert (finished.status, finished.done) == ("done", 3), worker.output()[-3000:]
    pending = [r for r in rows(engine, "clinic-a").values() if r["status"] == "pending"]
    assert pending and all(r["due_at"].hour == 3 for r in pending)
    assert rows(engine, "clinic-b") == before_b


def test_a_job_left_running_by_a_dead_worker_is_found_before_the_next_one_starts(
    engine: Engine,
) -> None:
    make_clinic(engine, "clinic-a")
    make_clinic(engine, "clinic-b")
    dead = change(engine, "clinic-a", window="09:00-18:00")
    assert dead is not None and dead.id is not None
    with session_scope(engine) as session:
        assert jobs.take_lease(session, dead.id, "worker-1", NOW, LEASE) is not None
    after = change(engine, "clinic-a", window="10:00-18:00")
    elsewhere = change(engine, "clinic-b", window="10:00-18:00")
    assert after is not None and after.id is not None and elsewhere is not None
    assert jobs.lapsed_jobs(engine, after.id, NOW) == []  # its lease is live
    expired = NOW + LEASE
    assert jobs.lapsed_jobs(engine, after.id, expired) == [dead.id]
    assert jobs.lapsed_jobs(engine, elsewhere.id or 0, expired) == []
    assert runnable(engine, expired) == [dead.id, elsewhere.id]


def test_a_treatment_cancelled_while_a_batch_runs_is_not_replanned_from_before_on_postgresql(
    any_engine: Engine,
) -> None:
    if any_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: the race needs row locks")
    make_clinic(any_engine, "clinic-a")
    enroll_patients(any_engine, "clinic-a", 1)
    job = change(any_engine, "clinic-a", window="13:00-17:00")
    assert job is not None and job.id is not None
    outcome: list[str] = []
    # The clinic's event cancels the treatment; the batch starts before it commits.
    with Session(any_engine) as event:
        treatment = event.exec(select(Treatment)).one()
        patient = event.get(Patient, treatment.patient_id)
        clinic = event.get(Clinic, "clinic-a")
        assert patient is not None and clinic is not None
        treatment.cancelled_at = NOW
        event.add(treatment)
        replan(event, treatment, patient, clinic, load_protocol(), NOW)
        event.flush()
        stored = select(MESSAGES.c.idempotency_key, MESSAGES.c.status, MESSAGES.c.due_at)
        as_cancelled = {
            key: (status, due) for key, status, due in event.connection().execute(stored)
        }
        worker = threading.Thread(target=lambda: outcome.append(runner(any_engine).run(job.id)))
        worker.start()
        worker.join(timeout=2)
        assert worker.is_alive()  # waiting for the event's locks
        event.commit()
    worker.join(timeout=30)
    assert outcome == [jobs.DONE]
    # The batch planned from the cancelled treatment, so it found nothing left to change.
    after = {key: (r["status"], r["due_at"]) for key, r in rows(any_engine, "clinic-a").items()}
    assert after == as_cancelled
    assert {status for status, _ in after.values()} <= {"cancelled", "skipped"}
