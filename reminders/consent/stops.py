"""A number that texted STOP to a sender stays opted out of it, whichever patient record it is."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from reminders.channels.senders import own_key_column
from reminders.models import CLINICS, PATIENTS, Patient


def stop_elsewhere(phone: Any, patient_id: Any, clinic_id: Any) -> sa.Select[Any]:
    """When this number opted out of SMS under another patient record on the same sender.

    Twilio keeps a STOP per sender: one sent to another clinic's own number does not carry
    over (the patient never stopped this clinic's sender), one to a shared sender does.
    """
    other = PATIENTS.alias("stopped")
    theirs, ours = CLINICS.alias("their_clinic"), CLINICS.alias("our_clinic")
    # Scalar subqueries, not joins: inside RETURNING, SQLAlchemy leaves columns unqualified,
    # so each level reads only one table; the stopped record's clinic is named as text.
    their_key = (
        sa.select(own_key_column(theirs))
        .where(theirs.c.id == sa.literal_column("stopped.clinic_id"))
        .scalar_subquery()
    )
    our_key = sa.select(own_key_column(ours)).where(ours.c.id == clinic_id).scalar_subquery()
    return (
        sa.select(other.c.sms_opted_out_at)
        .where(
            other.c.phone == phone,
            other.c.id != patient_id,
            other.c.sms_opted_out_at.is_not(None),
            their_key == our_key,
        )
        .limit(1)
    )


def inherit_stop(patient: Patient, stopped: datetime | None, now: datetime) -> bool:
    """Opt the patient out of SMS if their number texted STOP elsewhere; True if this changed."""
    if stopped is None or patient.phone is None or patient.sms_opted_out_at is not None:
        return False
    patient.sms_opted_out_at = stopped
    patient.updated_at = now
    return True
