"""Which clinic events stop texting a stored number, so they pass the consent gate like a STOP."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import Session

from reminders.consent.gate import ConsentGate
from reminders.intake.events import (
    Event,
    PatientErased,
    PatientOptedOut,
    PatientUpdated,
    TreatmentCompleted,
)
from reminders.models import PATIENTS

STORED_PHONE = sa.select(PATIENTS.c.phone).where(
    PATIENTS.c.clinic_id == sa.bindparam("clinic_id"),
    PATIENTS.c.external_id == sa.bindparam("external_id"),
)


def numbers_withdrawn(
    session: Session, gate: ConsentGate, clinic_id: str, event: Event
) -> list[str]:
    """The stored number this event stops texting, to pass the gate with; [] if none."""
    if not gate.orders_changes:
        return []  # PostgreSQL: the send chunk's row lock already orders the change
    external_id = patient_of(event)
    if external_id is None:
        return []
    phone = (
        session.connection()
        .execute(STORED_PHONE, {"clinic_id": clinic_id, "external_id": external_id})
        .scalar()
    )
    return [phone] if phone and withdraws_sms(event, phone) else []


def patient_of(event: Event) -> str | None:
    """The clinic's id of the patient whose consent or number the event may change."""
    if isinstance(event, TreatmentCompleted | PatientUpdated):
        return event.data.patient.external_id
    if isinstance(event, PatientOptedOut | PatientErased):
        return event.data.patient_id
    return None


def withdraws_sms(event: Event, stored_phone: str) -> bool:
    """True if, once applied, no SMS may go to `stored_phone` for this patient."""
    if isinstance(event, PatientOptedOut):
        return event.data.channel in ("sms", "all")
    if isinstance(event, PatientErased):
        return True
    if isinstance(event, TreatmentCompleted | PatientUpdated):
        sent = event.data.patient.values()  # a field left out keeps what is stored
        moved = "phone" in sent and sent["phone"] != stored_phone
        return moved or sent.get("consent_sms") is False
    return False
