"""Which clinic events stop texting a stored number, so they pass the consent gate like a STOP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from reminders.consent.gate import ConsentGate
from reminders.intake.events import Event
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
    if event.type == "treatment.completed" and event.patient is not None:
        return event.patient.external_id
    if event.type == "patient.updated" and event.change is not None:
        return event.change.external_id
    if event.type == "patient.opted_out":
        return event.patient_id
    return None


def withdraws_sms(event: Event, stored_phone: str) -> bool:
    """True if, once applied, no SMS may go to `stored_phone` for this patient."""
    if event.type == "patient.opted_out":
        return event.channel in ("sms", "all")
    if event.type == "treatment.completed" and event.patient is not None:
        given = event.patient  # a field left out keeps what is stored
        moved = "phone" not in given.omitted and given.phone != stored_phone
        return moved or ("consent_sms" not in given.omitted and not given.consent_sms)
    if event.type == "patient.updated" and event.change is not None:
        values: Mapping[str, Any] = dict(event.change.values)
        moved = "phone" in values and values["phone"] != stored_phone
        return moved or values.get("consent_sms") is False
    return False
