"""The email that tells a clinic a patient's reply mentions a warning sign."""

from __future__ import annotations

from typing import Any

from reminders.channels.base import Outgoing
from reminders.delivery.rendering import Renderer
from reminders.models import Clinic, InboundReply, Patient

TEMPLATE = "warning_alert"


def alert_context(patient: Patient, reply: InboundReply, signs: tuple[str, ...]) -> dict[str, Any]:
    """What the alert may say: who wrote, their number, when, their words and the signs seen."""
    return {
        "signs": list(signs),
        "first_name": patient.first_name,
        "external_id": patient.external_id,
        "phone": patient.phone or "",
        "received_at": reply.received_at.isoformat(timespec="minutes"),
        "body": reply.body,
    }


def alert_email(
    renderer: Renderer,
    clinic: Clinic,
    patient: Patient,
    reply: InboundReply,
    signs: tuple[str, ...],
) -> Outgoing:
    """The alert to the clinic, in the clinic's language (clinic_email/<lang>/warning_alert)."""
    email = renderer.clinic_email(TEMPLATE, clinic.locale, alert_context(patient, reply, signs))
    return Outgoing(
        message_id=0,
        idempotency_key=f"alert:{reply.id}",
        channel="email",
        to=clinic.email,
        text=email.text,
        subject=email.subject,
        clinic_name=clinic.name,
    )
