"""Re-plan a patient's treatments as a diff against their outbox rows, in the caller's session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from reminders.models import Clinic, Message, Patient, Treatment
from reminders.planning.facts import course_of, fresh_plan
from reminders.planning.overrides import apply_overrides
from reminders.planning.plandiff import (
    DEFAULT_CANCEL_REASON,
    diff_plan,
    live_sms_time,
    planned_values,
    replannable,
)
from reminders.planning.planner import PlannedMessage, applies, inapplicable_reason
from reminders.planning.protocol import Protocol
from reminders.planning.rewrites import rewrite_rows
from reminders.planning.row_inserts import insert_rows


@dataclass(frozen=True)
class PlanEntry:
    """One of the patient's outbox rows as it stands after a re-plan."""

    treatment_id: str  # the clinic's external id
    key: str
    channel: str
    due_at: datetime
    status: str
    # Stored rows by id, then rows inserted now in insertion order: the database's id order.
    order: tuple[int, int]
    reason: str | None = None  # why it is skipped, cancelled or failed


def replan(
    session: Session,
    treatment: Treatment,
    patient: Patient,
    clinic: Clinic,
    protocol: Protocol,
    now: datetime,
    cancel_reason: str = DEFAULT_CANCEL_REASON,
    new_patient: bool = False,
) -> list[PlanEntry]:
    """Bring a treatment's rows in line with a fresh plan; return the patient's whole plan.

    The SMS caps are per patient, so the patient's other treatments are re-planned too, oldest
    first, each fitting around the ones before it and around every text already sent.
    `new_patient`: this transaction created the patient, so the treatment is their only one.
    """
    return replan_patient(
        session,
        patient,
        clinic,
        protocol,
        now,
        {treatment.id: cancel_reason},
        sole_treatment=treatment if new_patient else None,
    )


# Built once: this runs on every clinic event, and building it cost more than running it.
PATIENT_OUTBOX = (
    select(Treatment, Message)
    .outerjoin(Message, col(Message.treatment_id) == Treatment.id)
    .where(col(Treatment.patient_id) == bindparam("patient_id"))
    .order_by(col(Treatment.ended_at), col(Treatment.id))
)


def replan_patient(
    session: Session,
    patient: Patient,
    clinic: Clinic,
    protocol: Protocol,
    now: datetime,
    cancel_reasons: Mapping[int | None, str] | None = None,
    sole_treatment: Treatment | None = None,
) -> list[PlanEntry]:
    """Re-plan every treatment of a patient (after a zone, consent, contact or opt-out change).

    `protocol` is the clinic's base protocol; its overrides are applied here, once. Given a
    `sole_treatment`, the patient has no other and no outbox rows yet, so nothing is read.
    """
    protocol = apply_overrides(
        protocol, clinic.protocol_overrides, f"clinic {clinic.id!r} protocol_overrides"
    )
    rows: dict[int | None, list[Message]]
    if sole_treatment is not None:
        treatments, rows = [sole_treatment], {sole_treatment.id: []}
    else:
        treatments, rows = outbox_of(session, patient)
    inserted: dict[int | None, list[dict[str, Any]]] = {}
    for position, current in enumerate(treatments):
        other_sms = texts_around(rows, {t.id for t in treatments[:position]})
        reason = (cancel_reasons or {}).get(current.id, DEFAULT_CANCEL_REASON)
        existing = rows.get(current.id, [])
        new_rows = replan_one(
            session, current, patient, clinic, protocol, now, reason, other_sms, existing
        )
        if position < len(treatments) - 1:  # later treatments fit around this one's new rows
            rows[current.id] = list(
                session.exec(select(Message).where(Message.treatment_id == current.id))
            )
        else:
            inserted[current.id] = new_rows
    return plan_after(treatments, rows, inserted)


def texts_around(
    rows: Mapping[int | None, Sequence[Message]], earlier: set[int | None]
) -> list[datetime]:
    """The SMS times a treatment must fit around: earlier treatments' and every settled one."""
    return [
        when
        for treatment_id, group in rows.items()
        for row in group
        if treatment_id in earlier or not replannable(row)
        if (when := live_sms_time(row)) is not None
    ]


def outbox_of(
    session: Session, patient: Patient
) -> tuple[list[Treatment], dict[int | None, list[Message]]]:
    """The patient's treatments, oldest first, and each one's outbox rows."""
    treatments: list[Treatment] = []
    rows: dict[int | None, list[Message]] = {}
    # The treatments and their rows in one round trip: this runs on every clinic event.
    for treatment, message in session.execute(PATIENT_OUTBOX, {"patient_id": patient.id}).tuples():
        if treatment.id not in rows:
            treatments.append(treatment)
            rows[treatment.id] = []
        if message is not None:
            rows[treatment.id].append(message)
    return treatments, rows


def current_plan(session: Session, patient: Patient) -> list[PlanEntry]:
    """The patient's outbox as it stands, shaped as a re-plan reports it."""
    treatments, rows = outbox_of(session, patient)
    return plan_after(treatments, rows, {})


def plan_after(
    treatments: Sequence[Treatment],
    rows: Mapping[int | None, Sequence[Message]],
    inserted: Mapping[int | None, Sequence[Mapping[str, Any]]],
) -> list[PlanEntry]:
    """The patient's outbox as the re-plan left it, without reading it back."""
    entries = []
    for treatment in treatments:
        for row in rows.get(treatment.id, []):
            assert row.id is not None
            entries.append(
                PlanEntry(
                    treatment.external_id,
                    row.step_key,
                    row.channel,
                    row.due_at.astimezone(UTC),
                    row.status,
                    (0, row.id),
                    row.reason,
                )
            )
        for number, values in enumerate(inserted.get(treatment.id, [])):
            entries.append(
                PlanEntry(
                    treatment.external_id,
                    values["step_key"],
                    values["channel"],
                    values["due_at"].astimezone(UTC),
                    values["status"],
                    (1, number),
                    values["reason"],
                )
            )
    return sorted(entries, key=lambda entry: (entry.due_at, entry.order))


def replan_one(
    session: Session,
    treatment: Treatment,
    patient: Patient,
    clinic: Clinic,
    protocol: Protocol,
    now: datetime,
    cancel_reason: str,
    other_sms: Sequence[datetime],
    existing: Sequence[Message],
) -> list[dict[str, Any]]:
    """Apply the diff between one treatment's rows (`existing`) and its fresh plan.

    Returns the rows it inserted (as inserted, without ids).
    """
    settled = {(row.step_key, row.channel) for row in existing if not replannable(row)}
    fresh = fresh_plan(treatment, patient, clinic, protocol, now, other_sms, settled)
    reasons: dict[str, str] = {}
    if treatment.cancelled_at is not None:
        cancel_reason = "treatment cancelled"
    else:
        course = course_of(treatment)
        reasons = {s.key: inapplicable_reason(s) for s in protocol.steps if not applies(s, course)}
    changes = diff_plan(existing, fresh, cancel_reason, reasons)
    by_id = {row.id: row for row in existing}
    new_rows = []
    rewrites: list[tuple[Message, dict[str, Any]]] = []
    for change in changes:
        if change.action == "insert" and change.planned is not None:
            new_rows.append(new_row(treatment, patient, change.planned, now))
        else:
            rewrites.append((by_id[change.message_id], dict(change.values, updated_at=now)))
    session.flush()
    rewrite_rows(session, rewrites)
    insert_rows(session, new_rows)
    return new_rows


def new_row(
    treatment: Treatment, patient: Patient, planned: PlannedMessage, now: datetime
) -> dict[str, Any]:
    """The column values of a planned message's new outbox row."""
    assert treatment.id is not None and patient.id is not None
    return dict(
        idempotency_key=f"{treatment.id}:{planned.key}:{planned.channel}",
        clinic_id=treatment.clinic_id,
        patient_id=patient.id,
        treatment_id=treatment.id,
        step_key=planned.key,
        channel=planned.channel,
        attempts=0,
        created_at=now,
        updated_at=now,
        **planned_values(planned),
    )
