"""Small builders for test data."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reminders.db import session_scope
from reminders.intake.enrollment import PatientInput, TreatmentInput, enroll
from reminders.models import MESSAGES, Clinic, Patient, Treatment
from reminders.planning.protocol import load_protocol


def make_clinic(engine: Engine, clinic_id: str = "clinic-a", **fields: Any) -> Clinic:
    """A clinic with sensible defaults."""
    values: dict[str, Any] = dict(
        id=clinic_id,
        name="Glow Clinic",
        phone="+1 555 010 0000",
        booking_url="https://glow.example/book",
        window_start=time(8),
        window_end=time(20),
    )
    values.update(fields)
    with session_scope(engine) as session:
        clinic = Clinic(**values)
        session.add(clinic)
    return clinic


def make_patient_with_treatment(
    engine: Engine, clinic_id: str = "clinic-a", external_id: str = "p-1", **fields: Any
) -> tuple[Patient, Treatment]:
    """A consenting patient with one treatment that ended a day ago."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        patient = Patient(
            clinic_id=clinic_id,
            external_id=external_id,
            first_name="Ana",
            phone="+15555550123",
            email="ana@example.com",
            timezone="UTC",
            consent_sms=True,
            consent_email=True,
            **fields,
        )
        session.add(patient)
        session.flush()
        assert patient.id is not None
        treatment = Treatment(
            clinic_id=clinic_id,
            patient_id=patient.id,
            external_id=f"t-{external_id}",
            ended_at=now - timedelta(days=1),
        )
        session.add(treatment)
    return patient, treatment


def insert_due_messages(
    engine: Engine,
    count: int,
    clinic_id: str,
    patient_id: int,
    treatment_id: int,
    due_at: datetime,
    step_key: str = "day_1",
    channel: str = "sms",
) -> None:
    """Bulk-insert `count` pending outbox rows due at `due_at`."""
    now = datetime.now(UTC)
    rows = [
        dict(
            idempotency_key=f"{treatment_id}:{step_key}-{n}:{channel}",
            clinic_id=clinic_id,
            patient_id=patient_id,
            treatment_id=treatment_id,
            step_key=step_key,
            channel=channel,
            status="pending",
            due_at=due_at,
            next_attempt_at=due_at,
            attempts=0,
            protocol_version="test",
            created_at=now,
            updated_at=now,
        )
        for n in range(count)
    ]
    with engine.begin() as connection:
        connection.execute(sa.insert(MESSAGES), rows)


def record_sent(
    engine: Engine, patient: Patient, treatment: Treatment, sender: str, sent_at: datetime
) -> None:
    """An SMS the patient was sent from sender `sender` (its key) at `sent_at`."""
    values = dict(
        idempotency_key=f"{treatment.id}:sent-{sender}-{sent_at.isoformat()}:sms",
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        treatment_id=treatment.id,
        step_key="day_1",
        channel="sms",
        status="sent",
        due_at=sent_at,
        attempts=1,
        protocol_version="test",
        sender=sender,
        sent_at=sent_at,
        created_at=sent_at,
        updated_at=sent_at,
    )
    with engine.begin() as connection:
        connection.execute(sa.insert(MESSAGES), [values])


def zone_where_it_is_now_eleven(now: datetime) -> str:
    """An Etc/GMT zone whose local hour is 11 right now (Etc signs are inverted)."""
    offset = (11 - now.hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


def enroll_with_prompts_due_now(engine: Engine, **clinic_fields: Any) -> None:
    """A patient treated at 10:30 local yesterday, enrolled now (11:00 local): first-night and
    day-1 prompts are due, on SMS and email, at a clinic whose window is always open.

    Day 1 waits a full 24 h, so the clinic keeps first-night advice valid for 30 h (overrides)
    for the two to be overdue together."""
    now = datetime.now(UTC)
    tz = zone_where_it_is_now_eleven(now)
    local_now = now.astimezone(ZoneInfo(tz))
    ended = (local_now - timedelta(days=1)).replace(hour=10, minute=30, second=0, microsecond=0)
    clinic_fields.setdefault("protocol_overrides", {"steps": {"first_night": {"valid_hours": 30}}})
    make_clinic(engine, window_start=time(0), window_end=time(0), **clinic_fields)
    with session_scope(engine) as session:
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        patient = PatientInput(
            external_id="p-1",
            first_name="Ana",
            timezone=tz,
            phone="+15555550123",
            email="ana@example.com",
            consent_sms=True,
            consent_email=True,
        )
        treatment = TreatmentInput(external_id="t-1", ended_at=ended, sessions_planned=3)
        enroll(session, clinic, patient, treatment, load_protocol(), now)
