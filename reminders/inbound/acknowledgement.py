"""The one SMS a patient gets back when their text raised a clinic alert: "we have it".

It rides on the inbound webhook's TwiML answer, like HELP: it goes from the number the patient
wrote to, creates no outbox row and so never counts against (or waits for) the reminder caps.
An alert episode is a patient's warning texts less than EPISODE apart: the clinic is emailed
for each of them, the patient is answered once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from reminders.delivery.rendering import Renderer
from reminders.inbound.replies import WARNING
from reminders.intake.fields import phone_for_reader
from reminders.models import Clinic, InboundReply, Patient

TEMPLATE = "warning_ack"
# Long enough to cover an evening text and a morning one while the clinic is closed (the
# patient was told the clinic will call); short enough that a report the next evening, with
# no call yet, is answered again with the emergency advice.
EPISODE = timedelta(hours=12)


@dataclass(frozen=True)
class Acknowledgement:
    """What the answer needs: the alerted clinic's name and phone, the patient's language."""

    clinic_name: str
    clinic_phone: str
    locale: str


def acknowledge(
    session: Session, reply: InboundReply, patients: list[Patient], now: datetime
) -> Acknowledgement | None:
    """The answer a just-stored warning reply earns; None after STOP or within an episode."""
    # Locked and re-read: of two warning texts handled at once, the second waits and sees the
    # first; a STOP committed meanwhile is seen too. NO KEY UPDATE (key_share), because the
    # reply's foreign key already holds KEY SHARE on the row: FOR UPDATE would deadlock.
    patient = session.exec(
        select(Patient)
        .where(Patient.id == reply.patient_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).one()
    if any(other.sms_opted_out_at is not None for other in [patient, *patients]):
        return None
    if in_episode(session, reply, now):
        return None
    clinic = session.get(Clinic, patient.clinic_id)
    assert clinic is not None  # a foreign key
    return Acknowledgement(
        clinic.name, phone_for_reader(clinic.phone, patient.phone), patient.locale
    )


def in_episode(session: Session, reply: InboundReply, now: datetime) -> bool:
    """Whether another warning text of this patient came in less than EPISODE ago."""
    earlier = session.exec(
        select(InboundReply.id).where(
            InboundReply.patient_id == reply.patient_id,
            InboundReply.kind == WARNING,
            col(InboundReply.id) != reply.id,
            col(InboundReply.received_at) > now - EPISODE,
        )
    ).first()
    return earlier is not None


def ack_context(clinic_name: str, clinic_phone: str) -> dict[str, Any]:
    """The variables the warning_ack template may use."""
    return {"clinic_name": clinic_name, "clinic_phone": clinic_phone}


def ack_text(renderer: Renderer, ack: Acknowledgement) -> str:
    """The answer's text, in the patient's language (English when theirs has no template)."""
    return renderer.sms(TEMPLATE, ack.locale, ack_context(ack.clinic_name, ack.clinic_phone))
