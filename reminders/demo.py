"""A demo clinic and patient, so a newcomer sees a prompt on the console within a minute."""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reminders.db import session_scope
from reminders.enrollment import PatientInput, TreatmentInput, enroll
from reminders.models import Clinic, Message, Patient, Treatment
from reminders.protocol import load_protocol

DEMO_CLINIC = "demo"


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
) -> tuple[Patient, Treatment, list[Message]]:
    """Enroll a demo patient whose treatment ended `treated_at` (default: now)."""
    stamp = now.strftime("%Y%m%d%H%M%S")
    with session_scope(engine) as session:
        clinic = ensure_demo_clinic(session)
        patient, treatment = enroll(
            session,
            clinic,
            PatientInput(
                external_id=f"demo-{stamp}",
                first_name=first_name,
                timezone=timezone,
                phone=phone,
                email=email,
                consent_sms=True,
                consent_email=True,
            ),
            TreatmentInput(
                external_id=f"demo-{stamp}",
                ended_at=treated_at or now,
                session_number=1,
                sessions_planned=3,
            ),
            load_protocol(clinic.protocol),
            now,
        )
        messages = list(
            session.exec(
                select(Message)
                .where(Message.treatment_id == treatment.id)
                .order_by(col(Message.due_at))
            )
        )
    return patient, treatment, messages
