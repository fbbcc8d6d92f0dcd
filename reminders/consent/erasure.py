"""Erasure on request: a patient's personal data removed everywhere, pending work cancelled.

The patient row stays (ids keep treatments, history and audit whole) with its name, contact
and the clinic's external id blanked; messages lose their text digests and error texts; replies
their bodies and numbers; stored webhook answers, clinic events and audit values that quote
the patient are replaced. Another clinic's patient with the same number is left alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import or_, select
from sqlmodel import Session

from reminders.models import (
    ATTEMPTS,
    AUDIT,
    EVENTS,
    MESSAGES,
    PATIENTS,
    RECEIPTS,
    REPLIES,
    Patient,
    movable,
)
from reminders.ops import audit
from reminders.outbox import lifecycle as lc
from reminders.redaction import redact

ERASED = {"erased": "personal data removed on request"}
REASON = "patient erased on request"


@dataclass(frozen=True)
class Erased:
    """What an erasure changed: counts only, nothing about the person."""

    patient_id: int
    cancelled: int
    messages: int
    replies: int
    stored_bodies: int


def erased_id(patient_id: int) -> str:
    """The external id an erased patient keeps: no link left to the clinic's records."""
    return f"erased:{patient_id}"


def find(session: Session, clinic_id: str, external_id: str) -> Patient | None:
    """The clinic's patient with this external id, or None."""
    stmt = select(Patient).where(
        PATIENTS.c.clinic_id == clinic_id, PATIENTS.c.external_id == external_id
    )
    return session.execute(stmt).scalars().first()


def erase(session: Session, patient: Patient, actor: str, now: datetime) -> Erased:
    """Remove the patient's personal data in the session's transaction (the caller commits)."""
    assert patient.id is not None
    clues = personal_strings(patient)
    phone = patient.phone
    cancelled = _cancel_open(session, patient.id, now)
    messages = _scrub_messages(session, patient.id, now)
    replies = _scrub_replies(session, patient, phone)
    stored = _scrub_json(session, patient.clinic_id, clues, now)
    _blank(patient, now)
    session.add(patient)
    session.flush()
    audit.record(
        session,
        actor,
        "erase",
        clinic_id=patient.clinic_id,
        target=f"patient:{patient.id}",
        detail=f"personal data erased; {cancelled} open messages cancelled",
        now=now,
    )
    return Erased(patient.id, cancelled, messages, replies, stored)


def personal_strings(patient: Patient) -> list[str]:
    """What identifies the person in stored text: number, email, external id, first name."""
    found = [patient.phone, patient.email, patient.external_id, patient.first_name]
    return [s for s in found if s and len(s) >= 2]


def _cancel_open(session: Session, patient_id: int, now: datetime) -> int:
    stmt = (
        MESSAGES.update()
        .where(MESSAGES.c.patient_id == patient_id, movable(lc.Move.CANCEL))
        .values(
            status=lc.target(lc.Move.CANCEL),
            reason=REASON,
            next_attempt_at=None,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def _scrub_messages(session: Session, patient_id: int, now: datetime) -> int:
    m = MESSAGES.c
    rows = session.execute(select(m.id, m.reason).where(m.patient_id == patient_id)).all()
    for row in rows:
        session.execute(
            MESSAGES.update()
            .where(m.id == row.id)
            .values(sent_digest=None, last_error=None, reason=redact(row.reason))
        )
    # A provider's error text may have quoted the address (masked, but still theirs).
    mine = select(m.id).where(m.patient_id == patient_id).scalar_subquery()
    session.execute(ATTEMPTS.update().where(ATTEMPTS.c.message_id.in_(mine)).values(error=None))
    return len(rows)


def _scrub_replies(session: Session, patient: Patient, phone: str | None) -> int:
    r = REPLIES.c
    theirs: list[Any] = [r.patient_id == patient.id]
    if phone:
        theirs.append(sa.and_(r.clinic_id == patient.clinic_id, r.from_number == phone))
        if not _shared_number(session, patient, phone):
            theirs.append(sa.and_(r.clinic_id.is_(None), r.from_number == phone))
    stmt = (
        REPLIES.update()
        .where(or_(*theirs))
        .values(body="", from_number="", alert_due_at=None, alert_error=None)
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def _shared_number(session: Session, patient: Patient, phone: str) -> bool:
    """Another patient (any clinic) has this number: replies of no clinic may be theirs."""
    p = PATIENTS.c
    stmt = select(p.id).where(p.phone == phone, p.id != patient.id).limit(1)
    return session.execute(stmt).first() is not None


def _scrub_json(session: Session, clinic_id: str, clues: list[str], now: datetime) -> int:
    """Stored webhook answers, clinic events and audit values of the clinic that quote them."""
    pattern = re.compile("|".join(rf"(?<!\w){re.escape(c)}(?!\w)" for c in clues))
    changed = 0
    receipts = select(RECEIPTS.c.id, RECEIPTS.c.response).where(RECEIPTS.c.clinic_id == clinic_id)
    for ident in _quoting(session, receipts, pattern):
        session.execute(RECEIPTS.update().where(RECEIPTS.c.id == ident).values(response=ERASED))
        changed += 1
    events = select(EVENTS.c.id, EVENTS.c.payload).where(EVENTS.c.clinic_id == clinic_id)
    for ident in _quoting(session, events, pattern):
        undelivered = sa.case((EVENTS.c.status == "pending", "dead"), else_=EVENTS.c.status)
        session.execute(
            EVENTS.update()
            .where(EVENTS.c.id == ident)
            .values(payload=ERASED, status=undelivered, next_attempt_at=None)
        )
        changed += 1
    a = AUDIT.c
    entries = select(a.id, sa.func.coalesce(a.detail, "")).where(a.clinic_id == clinic_id)
    entries = entries.add_columns(a.before, a.after)
    for row in session.execute(entries).all():
        if pattern.search(json.dumps([row[1], row[2], row[3]], default=str)):
            session.execute(
                AUDIT.update()
                .where(a.id == row[0])
                .values(detail=REASON, before=ERASED, after=ERASED)
            )
            changed += 1
    return changed


def _quoting(session: Session, stmt: Any, pattern: re.Pattern[str]) -> Iterable[int]:
    for ident, value in session.execute(stmt).all():
        if pattern.search(json.dumps(value, default=str)):
            yield int(ident)


def _blank(patient: Patient, now: datetime) -> None:
    assert patient.id is not None
    patient.external_id = erased_id(patient.id)
    patient.first_name = ""
    patient.phone = None
    patient.email = None
    patient.consent_sms = patient.consent_email = False
    patient.sms_opted_out_at = patient.sms_opted_out_at or now
    patient.email_opted_out_at = patient.email_opted_out_at or now
    patient.updated_at = now
