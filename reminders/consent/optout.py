"""Apply a texted STOP or START to the patients on the sender it was sent to, and re-plan."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from reminders.channels.senders import (
    NO_PLATFORM,
    Sender,
    clinic_sender,
    own_key,
    own_keys_sending_as,
)
from reminders.consent.gate import ConsentGate
from reminders.consent.stops import inherit_stop, stop_elsewhere
from reminders.db import session_scope
from reminders.delivery.sendcheck import consent_problem
from reminders.events.emission import emit_opt_out
from reminders.intake.clinics import unworkable_setting
from reminders.intake.enrollment import replan_patient
from reminders.models import Clinic, Message, Patient, Treatment, movable
from reminders.outbox import lifecycle as lc
from reminders.planning.protocol import load_protocol
from reminders.planning.replan import PlanEntry, current_plan

log = logging.getLogger(__name__)
CHANNELS = ("sms", "email")


def patients_with_phone(session: Session, phone: str) -> list[Patient]:
    """Every patient, of any clinic, reachable at this number."""
    return list(session.exec(select(Patient).where(Patient.phone == phone)))


def on_sender(
    session: Session, patients: list[Patient], key: str, platform: Sender
) -> list[Patient]:
    """Those of the patients whose clinic texts them from the sender `key` (a STOP's reach)."""
    keys = own_keys_sending_as(key, platform)
    clinics = {p.clinic_id: session.get(Clinic, p.clinic_id) for p in patients}
    return [p for p in patients if own_key(clinics[p.clinic_id]) in keys]  # type: ignore[arg-type]


def opt_out(
    session: Session, patients: list[Patient], now: datetime, source: str = "sms_stop"
) -> list[Patient]:
    """Mark these patients opted out of SMS and cancel their pending SMS at once."""
    for patient in patients:
        if patient.sms_opted_out_at is None:
            patient.sms_opted_out_at = now
            patient.updated_at = now
            session.add(patient)
            emit_opt_out(session, patient, "sms", source, now)
        replan_all(session, patient, now, "patient texted STOP")
    return patients


def opt_in(session: Session, patients: list[Patient], now: datetime) -> list[Patient]:
    """Clear these patients' SMS opt-out and re-plan; prompts that fell due since are skipped."""
    for patient in patients:
        was_stopped = set(
            session.exec(
                select(Message.id).where(
                    Message.patient_id == patient.id,
                    col(Message.status).in_((lc.CANCELLED, lc.SKIPPED)),
                )
            )
        )
        patient.sms_opted_out_at = None
        patient.updated_at = now
        session.add(patient)
        replan_all(session, patient, now, "no longer part of the plan")
        skip_missed(session, patient, was_stopped, now)
    return patients


def replan_all(session: Session, patient: Patient, now: datetime, reason: str) -> list[PlanEntry]:
    """Withhold what the patient may no longer get, then re-plan all their treatments at once.

    Withholding needs no planning, so a consent change takes effect even at a clinic whose
    stored settings cannot be planned with; its re-plan waits for the fix. `reason` explains
    what the re-plan cancels.
    """
    withhold_unreachable(session, patient, now)
    clinic = session.get(Clinic, patient.clinic_id)
    assert clinic is not None
    unworkable = unworkable_setting(clinic)
    if unworkable is not None:
        log.warning(
            "clinic %r: %s cannot work (%s); consent change applied, re-planning waits "
            "until the clinic is fixed",
            clinic.id,
            *unworkable,
        )
        return current_plan(session, patient)
    treatments = session.exec(select(Treatment.id).where(Treatment.patient_id == patient.id))
    reasons: dict[int | None, str] = dict.fromkeys(treatments, reason)
    return replan_patient(session, patient, clinic, load_protocol(clinic.protocol), now, reasons)


def withhold_unreachable(session: Session, patient: Patient, now: datetime) -> None:
    """Stop the patient's pending rows, in one statement per channel they cannot be written to."""
    for channel in CHANNELS:
        reason = consent_problem(channel, patient)
        if reason is None:
            continue
        session.execute(
            sa.update(Message)
            .where(
                col(Message.patient_id) == patient.id,
                col(Message.channel) == channel,
                movable(lc.Move.WITHHOLD),
            )
            .values(
                status=lc.target(lc.Move.WITHHOLD),
                next_attempt_at=None,
                reason=reason,
                updated_at=now,
            )
        )


def skip_missed(session: Session, patient: Patient, ids: set[int | None], now: datetime) -> None:
    """Rows revived by an opt-in whose time has passed are skipped: the moment is gone."""
    session.flush()
    session.execute(
        sa.update(Message)
        .where(
            col(Message.patient_id) == patient.id,
            movable(lc.Move.SKIP_MISSED),
            col(Message.id).in_([i for i in ids if i is not None]),
            col(Message.due_at) < now,
        )
        .values(
            status=lc.target(lc.Move.SKIP_MISSED),
            next_attempt_at=None,
            reason="fell due while the patient had opted out",
            updated_at=now,
        )
    )


# Built once: a Core statement skips the ORM's overhead.
EARLIER_STOP = stop_elsewhere(
    sa.bindparam("phone"), sa.bindparam("patient_id"), sa.bindparam("clinic_id")
)


def honour_earlier_stop(session: Session, patient: Patient, now: datetime) -> None:
    """A number that texted STOP to a sender stays opted out of it when a clinic changes a
    patient on that sender to it."""
    if patient.phone is None or patient.sms_opted_out_at is not None:
        return
    stopped = (
        session.connection()
        .execute(
            EARLIER_STOP,
            {"phone": patient.phone, "patient_id": patient.id, "clinic_id": patient.clinic_id},
        )
        .scalar()
    )
    if inherit_stop(patient, stopped, now):
        session.add(patient)


def opt_out_patient(
    engine: Engine,
    gate: ConsentGate,
    patient_id: int,
    now: datetime,
    platform: Sender = NO_PLATFORM,
) -> None:
    """Twilio said 21610 for this patient: a STOP from their number to their clinic's sender."""
    with Session(engine) as session:
        patient = session.get(Patient, patient_id)
        phone = patient.phone if patient else None
        clinic = session.get(Clinic, patient.clinic_id) if patient else None
    if phone and clinic is not None:
        key = clinic_sender(clinic, platform).key
        stop_number(engine, gate, phone, now, key, platform, source="carrier")


def stop_number(
    engine: Engine,
    gate: ConsentGate,
    phone: str,
    now: datetime,
    key: str = "",
    platform: Sender = NO_PLATFORM,
    source: str = "sms_stop",
) -> list[Patient]:
    """Record a STOP to sender `key` ('' = the platform's) in its own transaction, after the
    sends that already read consent."""
    with gate.changing([phone]), session_scope(engine) as session:
        patients = patients_with_phone(session, phone)
        reached = on_sender(session, patients, key or platform.key, platform)
        return opt_out(session, reached, now, source)
