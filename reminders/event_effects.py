"""Apply a validated clinic event inside the caller's transaction and report the patient's plan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select as select_columns
from sqlmodel import Session, col, select

from reminders.enrollment import (
    TreatmentOwnerError,
    replan,
    upsert_patient,
    upsert_treatment,
)
from reminders.events import Event
from reminders.models import MESSAGES, TREATMENTS, Clinic, Patient, Treatment
from reminders.optout import honour_earlier_stop, replan_all
from reminders.protocol import load_protocol


class EventRefusedError(ValueError):
    """The event is valid but names something we do not know; `problems` like a 422's."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.problems = [{"field": field, "problem": problem}]


def apply_event(session: Session, clinic: Clinic, event: Event, now: datetime) -> Patient:
    """Make the database say what the event says; return the patient it concerns."""
    handler: Callable[[Session, Clinic, Event, datetime], Patient] = HANDLERS[event.type]
    return handler(session, clinic, event, now)


def plan_of(session: Session, patient: Patient) -> list[dict[str, Any]]:
    """Every outbox row of the patient, in due order, as the 202 response shows them."""
    rows = session.execute(
        select_columns(
            TREATMENTS.c.external_id,
            MESSAGES.c.step_key,
            MESSAGES.c.channel,
            MESSAGES.c.due_at,
            MESSAGES.c.status,
        )
        .join(TREATMENTS, TREATMENTS.c.id == MESSAGES.c.treatment_id)
        .where(MESSAGES.c.patient_id == patient.id)
        .order_by(MESSAGES.c.due_at, MESSAGES.c.id)
    )
    return [
        {
            "treatment_id": external_id,
            "key": key,
            "channel": channel,
            "due_at": due_at.isoformat(),
            "status": status,
        }
        for external_id, key, channel, due_at, status in rows
    ]


def find_patient(session: Session, clinic: Clinic, external_id: str | None) -> Patient:
    """The clinic's patient with this external id, or EventRefusedError."""
    patient = session.exec(
        select(Patient).where(Patient.clinic_id == clinic.id, Patient.external_id == external_id)
    ).first()
    if patient is None:
        raise EventRefusedError("data.patient_id", "no patient with this external id")
    return patient


def find_treatment(session: Session, clinic: Clinic, external_id: str | None) -> Treatment:
    """The clinic's treatment with this external id, or EventRefusedError."""
    treatment = session.exec(
        select(Treatment).where(
            Treatment.clinic_id == clinic.id, Treatment.external_id == external_id
        )
    ).first()
    if treatment is None:
        raise EventRefusedError("data.treatment_id", "no treatment with this external id")
    return treatment


def _completed(session: Session, clinic: Clinic, event: Event, now: datetime) -> Patient:
    assert event.patient is not None and event.treatment is not None
    patient = upsert_patient(session, clinic, event.patient, now)
    honour_earlier_stop(session, patient, now)
    try:
        treatment = upsert_treatment(session, clinic, patient, event.treatment, now)
    except TreatmentOwnerError as exc:  # the caller rolls back the patient upsert too
        raise EventRefusedError("data.treatment.external_id", str(exc)) from exc
    # Re-plans every treatment of the patient: contact, consent or opt-out may have changed.
    replan(session, treatment, patient, clinic, load_protocol(clinic.protocol), now)
    return patient


def _treatment_cancelled(session: Session, clinic: Clinic, event: Event, now: datetime) -> Patient:
    treatment = find_treatment(session, clinic, event.treatment_id)
    patient = session.get(Patient, treatment.patient_id)
    assert patient is not None
    if treatment.cancelled_at is None:
        treatment.cancelled_at = now
        treatment.updated_at = now
        session.add(treatment)
    replan(session, treatment, patient, clinic, load_protocol(clinic.protocol), now)
    return patient


def course_treatment(session: Session, clinic: Clinic, event: Event, patient: Patient) -> Treatment:
    """The named treatment, else the patient's latest treatment that is not cancelled."""
    if event.treatment_id:
        treatment = find_treatment(session, clinic, event.treatment_id)
        if treatment.patient_id != patient.id:
            raise EventRefusedError("data.treatment_id", "belongs to another patient")
        return treatment
    latest = session.exec(
        select(Treatment)
        .where(Treatment.patient_id == patient.id, col(Treatment.cancelled_at).is_(None))
        .order_by(col(Treatment.ended_at).desc())
    ).first()
    if latest is None:
        raise EventRefusedError("data.patient_id", "the patient has no active treatment")
    return latest


def _appointment(session: Session, clinic: Clinic, event: Event, now: datetime) -> Patient:
    patient = find_patient(session, clinic, event.patient_id)
    treatment = course_treatment(session, clinic, event, patient)
    if event.next_session_at is not None and event.next_session_at <= treatment.ended_at:
        raise EventRefusedError("data.next_session_at", "must be after the treatment ended")
    treatment.next_session_at = event.next_session_at
    treatment.updated_at = now
    session.add(treatment)
    reason = "appointment booked" if event.next_session_at else "appointment cancelled"
    replan(
        session,
        treatment,
        patient,
        clinic,
        load_protocol(clinic.protocol),
        now,
        cancel_reason=reason,
    )
    return patient


def _patient_updated(session: Session, clinic: Clinic, event: Event, now: datetime) -> Patient:
    assert event.change is not None
    patient = find_patient(session, clinic, event.change.external_id)
    for name, value in event.change.values:
        setattr(patient, name, value)
    patient.updated_at = now
    session.add(patient)
    honour_earlier_stop(session, patient, now)
    replan_all(session, patient, now, "patient details changed")
    return patient


def _opted_out(session: Session, clinic: Clinic, event: Event, now: datetime) -> Patient:
    patient = find_patient(session, clinic, event.patient_id)
    if event.channel in ("sms", "all") and patient.sms_opted_out_at is None:
        patient.sms_opted_out_at = now
    if event.channel in ("email", "all") and patient.email_opted_out_at is None:
        patient.email_opted_out_at = now
    patient.updated_at = now
    session.add(patient)
    replan_all(session, patient, now, "patient opted out")
    return patient


HANDLERS: dict[str, Callable[[Session, Clinic, Event, datetime], Patient]] = {
    "treatment.completed": _completed,
    "treatment.cancelled": _treatment_cancelled,
    "appointment.booked": _appointment,
    "appointment.cancelled": _appointment,
    "patient.updated": _patient_updated,
    "patient.opted_out": _opted_out,
}
