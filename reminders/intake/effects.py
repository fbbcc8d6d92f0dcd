"""Apply a validated clinic event inside the caller's transaction and report the patient's plan."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from reminders.consent import erasure
from reminders.consent.optout import honour_earlier_stop, replan_all
from reminders.intake.clinics import unworkable_setting
from reminders.intake.enrollment import (
    TreatmentOwnerError,
    replan,
    upsert_patient,
    upsert_treatment,
)
from reminders.intake.events import (
    AppointmentBooked,
    AppointmentCancelled,
    Event,
    PatientErased,
    PatientOptedOut,
    PatientUpdated,
    TreatmentCancelled,
    TreatmentCompleted,
)
from reminders.intake.warnings import contact_warnings, spacing_warning
from reminders.models import Clinic, Patient, Treatment
from reminders.outbox import lifecycle as lc
from reminders.planning.protocol import load_protocol
from reminders.planning.replan import PlanEntry


class EventRefusedError(ValueError):
    """The event is valid but names something we do not know; `problems` like a 422's."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.problems = [{"field": field, "problem": problem}]


# Statuses whose row carries why it is not (or no longer) going out.
EXPLAINED = (lc.SKIPPED, lc.CANCELLED, lc.FAILED, lc.DEAD, lc.UNKNOWN)


@dataclass(frozen=True)
class Applied:
    """The patient an event concerned, their whole plan afterwards and the treatment it named."""

    patient: Patient
    plan: list[PlanEntry]
    treatment: Treatment | None = None
    notes: tuple[str, ...] = ()  # about the clinic rather than the patient

    def plan_json(self) -> list[dict[str, Any]]:
        """The plan as the 202 answer shows it: a reason on every row that will not go."""
        return [
            {
                "treatment_id": entry.treatment_id,
                "key": entry.key,
                "channel": entry.channel,
                "due_at": entry.due_at.isoformat(),
                "status": entry.status,
                "reason": entry.reason if entry.status in EXPLAINED else None,
            }
            for entry in self.plan
        ]

    def warnings(self) -> list[str]:
        """What the clinic should know although the event was accepted."""
        found = contact_warnings(self.patient)
        treatment = self.treatment
        if treatment is not None and treatment.cancelled_at is None:
            spacing = spacing_warning(
                treatment.external_id, treatment.ended_at, treatment.next_session_at
            )
            found += [spacing] if spacing else []
        return found + list(self.notes)


# Changes to a patient alone: recorded (so a withdrawn consent stops texts at once) even when
# the clinic's settings cannot be planned with; every other event needs a plan and is refused.
WITHOUT_PLANNING = ("patient.updated", "patient.opted_out", "patient.erased")


def apply_event(session: Session, clinic: Clinic, event: Event, now: datetime) -> Applied:
    """Make the database say what the event says; return the patient and their plan."""
    unworkable = unworkable_setting(clinic)
    handler: Callable[[Session, Clinic, Any, datetime], Applied] = HANDLERS[event.type]
    if unworkable is None:
        return handler(session, clinic, event, now)
    setting, rule = unworkable  # stored by an older version; planning would fail on it
    if event.type not in WITHOUT_PLANNING:
        raise EventRefusedError(
            f"clinic.{setting}", f"{rule}; an operator must fix it (reminders clinics set)"
        )
    applied = handler(session, clinic, event, now)
    note = (
        f"clinic.{setting}: {rule}; the change is recorded, but re-planning waits until an "
        "operator fixes it (reminders clinics set)"
    )
    return replace(applied, notes=(note,))


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


def _completed(
    session: Session, clinic: Clinic, event: TreatmentCompleted, now: datetime
) -> Applied:
    patient, created = upsert_patient(session, clinic, event.data.patient.input(), now)
    try:
        treatment = upsert_treatment(session, clinic, patient, event.data.treatment.input(), now)
    except TreatmentOwnerError as exc:  # the caller rolls back the patient upsert too
        raise EventRefusedError("data.treatment.external_id", str(exc)) from exc
    # Re-plans every treatment of the patient: contact, consent or opt-out may have changed.
    protocol = load_protocol(clinic.protocol)
    plan = replan(session, treatment, patient, clinic, protocol, now, new_patient=created)
    return Applied(patient, plan, treatment)


def _treatment_cancelled(
    session: Session, clinic: Clinic, event: TreatmentCancelled, now: datetime
) -> Applied:
    treatment = find_treatment(session, clinic, event.data.treatment_id)
    patient = session.get(Patient, treatment.patient_id)
    assert patient is not None
    if treatment.cancelled_at is None:
        treatment.cancelled_at = now
        treatment.updated_at = now
        session.add(treatment)
    protocol = load_protocol(clinic.protocol)
    return Applied(patient, replan(session, treatment, patient, clinic, protocol, now))


def course_treatment(
    session: Session, clinic: Clinic, treatment_id: str | None, patient: Patient
) -> Treatment:
    """The named treatment, else the patient's latest treatment that is not cancelled."""
    if treatment_id:
        treatment = find_treatment(session, clinic, treatment_id)
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


def _appointment(
    session: Session, clinic: Clinic, event: AppointmentBooked | AppointmentCancelled, now: datetime
) -> Applied:
    patient = find_patient(session, clinic, event.data.patient_id)
    treatment = course_treatment(session, clinic, event.data.treatment_id, patient)
    next_at = event.data.next_session_at if isinstance(event, AppointmentBooked) else None
    if next_at is not None and next_at <= treatment.ended_at:
        raise EventRefusedError("data.next_session_at", "must be after the treatment ended")
    treatment.next_session_at = next_at
    treatment.updated_at = now
    session.add(treatment)
    reason = "appointment booked" if next_at else "appointment cancelled"
    protocol = load_protocol(clinic.protocol)
    plan = replan(session, treatment, patient, clinic, protocol, now, cancel_reason=reason)
    return Applied(patient, plan, treatment)


def _patient_updated(
    session: Session, clinic: Clinic, event: PatientUpdated, now: datetime
) -> Applied:
    patient = find_patient(session, clinic, event.data.patient.external_id)
    for name, value in event.data.patient.values().items():
        setattr(patient, name, value)
    patient.updated_at = now
    session.add(patient)
    honour_earlier_stop(session, patient, now)
    return Applied(patient, replan_all(session, patient, now, "patient details changed"))


def _opted_out(session: Session, clinic: Clinic, event: PatientOptedOut, now: datetime) -> Applied:
    patient = find_patient(session, clinic, event.data.patient_id)
    channel = event.data.channel
    if channel in ("sms", "all") and patient.sms_opted_out_at is None:
        patient.sms_opted_out_at = now
    if channel in ("email", "all") and patient.email_opted_out_at is None:
        patient.email_opted_out_at = now
    patient.updated_at = now
    session.add(patient)
    return Applied(patient, replan_all(session, patient, now, "patient opted out"))


def _erased(session: Session, clinic: Clinic, event: PatientErased, now: datetime) -> Applied:
    patient = find_patient(session, clinic, event.data.patient_id)
    erasure.erase(session, patient, f"webhook:{clinic.id}", now)
    return Applied(patient, [])


HANDLERS: dict[str, Callable[[Session, Clinic, Any, datetime], Applied]] = {
    "treatment.completed": _completed,
    "treatment.cancelled": _treatment_cancelled,
    "appointment.booked": _appointment,
    "appointment.cancelled": _appointment,
    "patient.updated": _patient_updated,
    "patient.opted_out": _opted_out,
    "patient.erased": _erased,
}
