"""A demo clinic and patient, so a newcomer sees a prompt on the console within a minute."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reminders.db import session_scope
from reminders.intake.effects import apply_event
from reminders.intake.events import parse_event
from reminders.models import Clinic, Message, Patient

DEMO_CLINIC = "demo"
# Demo options as the treatment.completed fields they fill, so a refusal names the option.
OPTION_OF = {
    "data.patient.first_name": "--first-name",
    "data.patient.timezone": "--tz",
    "data.patient.phone": "--phone",
    "data.patient.email": "--email",
}


def ensure_demo_clinic(session: Session) -> Clinic:
    """The demo clinic; its window is open all day so the demo works at any hour."""
    clinic = session.get(Clinic, DEMO_CLINIC)
    if clinic is None:
        clinic = Clinic(
            id=DEMO_CLINIC,
            name="Demo Skin Clinic",
            phone="+1 555 010 0000",
            booking_url="https://example.com/book",
            window_start=time(0),
            window_end=time(0),
        )
        session.add(clinic)
        session.flush()
    return clinic


def enroll_demo(
    engine: Engine,
    now: datetime,
    first_name: str,
    timezone: str,
    phone: str,
    email: str,
    treated_at: datetime | None = None,
) -> tuple[Patient, list[Message], list[str]]:
    """Enroll a demo patient treated at `treated_at` (default: now) as a clinic's webhook would.

    Returns the patient, their messages and the warnings; InvalidEventError for a bad value.
    """
    data = demo_data(now, first_name, timezone, phone, email, treated_at)
    with session_scope(engine) as session:
        clinic = ensure_demo_clinic(session)
        body = {"type": "treatment.completed", "data": data}
        applied = apply_event(session, clinic, parse_event(body, clinic.default_region, now), now)
        messages = list(
            session.exec(
                select(Message)
                .where(Message.patient_id == applied.patient.id)
                .order_by(col(Message.due_at))
            )
        )
    return applied.patient, messages, applied.warnings()


def demo_data(
    now: datetime,
    first_name: str,
    timezone: str,
    phone: str,
    email: str,
    treated_at: datetime | None,
) -> dict[str, Any]:
    """A treatment.completed event's data for a demo patient with a fresh external id."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    return {
        "patient": {
            "external_id": f"demo-{stamp}",
            "first_name": first_name,
            "timezone": timezone,
            "phone": phone,
            "email": email,
            "consent": {"sms": True, "email": True},
        },
        "treatment": {
            "external_id": f"demo-{stamp}",
            "ended_at": (treated_at or now).isoformat(),
            "session_number": 1,
            "sessions_planned": 3,
        },
    }
