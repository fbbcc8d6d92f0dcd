"""The email that tells a clinic a patient's reply mentions a warning sign."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reminders.channels.base import Outgoing
from reminders.delivery.composition import babel_locale, local_text
from reminders.delivery.rendering import Renderer
from reminders.models import Clinic, InboundReply, Patient

TEMPLATE = "warning_alert"


def alert_context(
    patient: Patient, reply: InboundReply, signs: tuple[str, ...], locale: str = "en"
) -> dict[str, Any]:
    """What the alert may say: who wrote, their number, when (the patient's local time in the
    clinic's language, then UTC), their words and the signs seen."""
    return {
        "signs": list(signs),
        "first_name": patient.first_name,
        "external_id": patient.external_id,
        "phone": patient.phone or "",
        "received_at": received_text(reply.received_at, patient.timezone, locale),
        "body": reply.body,
    }


def received_text(at: datetime, timezone: str, locale: str) -> str:
    """'Monday, December 7, 2026, 10:15 AM (Europe/Madrid; 09:15 UTC)' in `locale`."""
    moment = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = local_text(moment, zone, babel_locale(locale))
    return f"{local} ({zone.key}; {moment.astimezone(UTC):%H:%M} UTC)"


def alert_email(
    renderer: Renderer,
    clinic: Clinic,
    patient: Patient,
    reply: InboundReply,
    signs: tuple[str, ...],
) -> Outgoing:
    """The alert to the clinic, in the clinic's language (clinic_email/<lang>/warning_alert)."""
    # Dates in the language the text is written in: a French clinic reads the English alert.
    written = renderer.language_of("clinic_email", TEMPLATE, clinic.locale)
    same = clinic.locale.replace("_", "-").split("-")[0].lower() == written
    context = alert_context(patient, reply, signs, clinic.locale if same else written)
    email = renderer.clinic_email(TEMPLATE, clinic.locale, context)
    return Outgoing(
        message_id=0,
        idempotency_key=f"alert:{reply.id}",
        channel="email",
        to=clinic.email,
        text=email.text,
        subject=email.subject,
        clinic_name=clinic.name,
    )
