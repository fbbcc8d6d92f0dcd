"""Record events for a clinic's system in the transaction of the change that causes them.

Only a clinic with an endpoint gets rows. Nothing here talks to the network: beat posts the
rows (reminders/events/delivery.py), so a slow or dead endpoint never holds up a send, a
status callback or a patient's reply.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session

from reminders.events import payloads
from reminders.models import CLINICS, EVENTS, MESSAGES, PATIENTS, TREATMENTS, Clinic, Patient


def new_webhook_id() -> str:
    """A unique Standard Webhooks message id; a retried post keeps it, so receivers dedupe."""
    return "msg_" + secrets.token_hex(16)


def event_row(
    clinic_id: str, event_type: str, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """The clinicevent row for one event, due at once."""
    return {
        "clinic_id": clinic_id,
        "event_type": event_type,
        "webhook_id": new_webhook_id(),
        "payload": payloads.envelope(event_type, data, now),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def emit(
    session: Session, clinic: Clinic, event_type: str, data: dict[str, Any], now: datetime
) -> bool:
    """Queue one event for the clinic's endpoint in the session's transaction; False if none."""
    if not clinic.events_url:
        return False
    session.connection().execute(
        sa.insert(EVENTS).values(event_row(clinic.id, event_type, data, now))
    )
    return True


def emit_for_patient(
    session: Session, patient: Patient, event_type: str, data: dict[str, Any], now: datetime
) -> bool:
    """emit() for the patient's own clinic."""
    clinic = session.get(Clinic, patient.clinic_id)
    return clinic is not None and emit(session, clinic, event_type, data, now)


def emit_reply(
    session: Session,
    patient: Patient,
    reply_id: int,
    text: str,
    signs: tuple[str, ...],
    now: datetime,
) -> None:
    """A free-text reply: patient.replied, and warning_sign.raised when it reports signs."""
    data = payloads.reply_data(
        reply_id=reply_id, patient=patient.external_id, text=text, received_at=now, signs=signs
    )
    emit_for_patient(session, patient, payloads.PATIENT_REPLIED, data, now)
    if signs:
        emit_for_patient(session, patient, payloads.WARNING_SIGN_RAISED, data, now)


def emit_opt_out(
    session: Session, patient: Patient, channel: str, source: str, now: datetime
) -> None:
    """The patient stopped `channel` (by STOP, at the carrier, or by the unsubscribe link)."""
    data = payloads.opt_out_data(patient=patient.external_id, channel=channel, source=source)
    emit_for_patient(session, patient, payloads.PATIENT_OPTED_OUT, data, now)


MESSAGE_FACTS = (
    sa.select(
        MESSAGES.c.id,
        MESSAGES.c.clinic_id,
        MESSAGES.c.step_key,
        MESSAGES.c.channel,
        MESSAGES.c.status,
        MESSAGES.c.provider_code,
        PATIENTS.c.external_id.label("patient"),
        TREATMENTS.c.external_id.label("treatment"),
        CLINICS.c.events_url,
    )
    .join(PATIENTS, PATIENTS.c.id == MESSAGES.c.patient_id)
    .join(TREATMENTS, TREATMENTS.c.id == MESSAGES.c.treatment_id)
    .join(CLINICS, CLINICS.c.id == MESSAGES.c.clinic_id)
    .where(MESSAGES.c.id == sa.bindparam("message_id"))
)


def emit_message_event(
    connection: Connection, message_id: int, event_type: str, now: datetime
) -> bool:
    """Queue delivered/failed news of a message, as it now stands, in the caller's transaction."""
    row = connection.execute(MESSAGE_FACTS, {"message_id": message_id}).first()
    if row is None or not row.events_url:
        return False
    data = payloads.message_data(
        message_id=row.id,
        step=row.step_key,
        channel=row.channel,
        status=row.status,
        patient=row.patient,
        treatment=row.treatment,
        error_code=row.provider_code,
    )
    connection.execute(sa.insert(EVENTS).values(event_row(row.clinic_id, event_type, data, now)))
    return True
