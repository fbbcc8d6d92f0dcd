"""The email that tells a clinic a patient's reply mentions a warning sign."""

from __future__ import annotations

import logging

from reminders.channels.base import Outgoing
from reminders.models import Clinic, InboundReply, Patient

log = logging.getLogger(__name__)


def alert_email(
    clinic: Clinic, patient: Patient, reply: InboundReply, signs: tuple[str, ...]
) -> Outgoing:
    """The alert to the clinic: who wrote, what they said, which signs we saw."""
    listed = ", ".join(signs)
    text = (
        f"A patient's reply to an aftercare reminder mentions: {listed}.\n\n"
        f"Patient: {patient.first_name} (your id {patient.external_id})\n"
        f"Phone: {patient.phone}\n"
        f"Received: {reply.received_at.isoformat(timespec='minutes')}\n\n"
        f"Their message:\n{reply.body}\n\n"
        "Please contact the patient. This address receives alerts because it is the clinic's "
        "alert email in the reminders service."
    )
    return Outgoing(
        message_id=0,
        idempotency_key=f"alert:{reply.id}",
        channel="email",
        to=clinic.email,
        text=text,
        subject=f"Aftercare alert: patient {patient.external_id} reports {listed}",
        clinic_name=clinic.name,
    )
