"""A number that texted STOP stays opted out, whichever patient record it texted from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from reminders.models import PATIENTS, Patient


def stop_elsewhere(phone: Any, patient_id: Any) -> sa.Select[Any]:
    """When this number opted out of SMS under another patient record, if it ever did."""
    other = PATIENTS.alias("stopped")
    return (
        sa.select(other.c.sms_opted_out_at)
        .where(
            other.c.phone == phone,
            other.c.id != patient_id,
            other.c.sms_opted_out_at.is_not(None),
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
