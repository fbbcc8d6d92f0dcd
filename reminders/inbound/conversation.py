"""Which patient an inbound text answers: by conversation, (our sender, their number)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reminders.models import MESSAGES, Patient

M = MESSAGES.c


def answered_patient(
    session: Session, patients: list[Patient], sharing: list[Patient], key: str
) -> Patient | None:
    """The patient whose clinic last wrote to this number from sender `key`.

    With no such text, the one clinic sending as `key` with a patient at this number;
    None (the reply waits for an operator, no clinic is told) when there are several or none.
    """
    last = last_written(session, [p.id for p in patients if p.id is not None], key)
    if last is not None:
        return next(p for p in patients if p.id == last)
    if len({p.clinic_id for p in sharing}) != 1:
        return None
    # Several records of one clinic (a family sharing a phone): the one it changed last.
    return max(sharing, key=lambda patient: patient.updated_at)


def last_written(session: Session, patient_ids: list[int], key: str) -> int | None:
    """Of these patients, the one most recently sent an SMS from sender `key`, if any was."""
    if not patient_ids:
        return None
    found: dict[int, datetime] = {}
    for patient_id in patient_ids:
        # One index seek (ix_message_patient_sender_sent), however long the history grows.
        sent = session.execute(
            sa.select(sa.func.max(M.sent_at)).where(M.patient_id == patient_id, M.sender == key)
        ).scalar()
        if sent is not None:
            found[patient_id] = sent
    return max(found, key=lambda pid: found[pid]) if found else None
