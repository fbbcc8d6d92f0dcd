"""Read-only queries behind the operator pages: filtered messages, problems, audit, timeline.

Rows come out as plain values with contact details already masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlmodel import Session, col

from reminders.channels.console import is_console
from reminders.masking import mask_address
from reminders.models import MESSAGES, AuditEntry, Clinic, Patient, Treatment
from reminders.ops.actions import RESOLVABLE, RESOLVE
from reminders.ops.scope import ClinicIds, within
from reminders.outbox import lifecycle as lc
from reminders.redaction import redact

M = MESSAGES.c
PAGE_SIZE = 50


@dataclass(frozen=True)
class MessageFilter:
    """What the messages page asks for; empty strings and None mean "any"."""

    status: str = ""
    clinic: str = ""
    channel: str = ""
    due_from: date | None = None
    due_to: date | None = None
    patient: str = ""
    page: int = 1


@dataclass(frozen=True)
class MessageRow:
    """One outbox row as an operator sees it: no full phone or email, first name only."""

    id: int
    clinic_id: str
    patient_id: int
    patient_external_id: str
    first_name: str
    contact: str
    step_key: str
    channel: str
    status: str
    due_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    attempts: int
    provider_code: str | None
    reason: str | None
    last_error: str | None
    # Printed by the console channel (no Twilio / SMTP settings): "sent" to nobody.
    printed: bool = False


@dataclass(frozen=True)
class Page:
    """One page of rows and where it sits."""

    rows: list[MessageRow]
    total: int
    page: int
    pages: int


def _rows_query() -> Any:
    patient = Patient.__table__.c  # type: ignore[attr-defined]
    return select(MESSAGES, patient.external_id, patient.first_name, patient.phone, patient.email)


def _joined(stmt: Any) -> Any:
    return stmt.join_from(MESSAGES, Patient, col(Patient.id) == M.patient_id)


def _row(record: Any) -> MessageRow:
    m = record._mapping
    address = m["phone"] if m["channel"] == "sms" else m["email"]
    return MessageRow(
        id=m["id"],
        clinic_id=m["clinic_id"],
        patient_id=m["patient_id"],
        patient_external_id=m["external_id"],
        first_name=m["first_name"],
        contact=mask_address(address) if address else "-",
        step_key=m["step_key"],
        channel=m["channel"],
        status=m["status"],
        due_at=m["due_at"],
        sent_at=m["sent_at"],
        delivered_at=m["delivered_at"],
        attempts=m["attempts"],
        provider_code=m["provider_code"],
        reason=redact(m["reason"]),
        last_error=redact(m["last_error"]),
        printed=is_console(m["provider_id"]),
    )


def _conditions(wanted: MessageFilter) -> list[Any]:
    found: list[Any] = []
    for column, value in ((M.status, wanted.status), (M.clinic_id, wanted.clinic)):
        if value:
            found.append(column == value)
    if wanted.channel:
        found.append(M.channel == wanted.channel)
    if wanted.patient:
        found.append(col(Patient.external_id) == wanted.patient.strip())
    if wanted.due_from:
        found.append(M.due_at >= datetime.combine(wanted.due_from, time(), tzinfo=UTC))
    if wanted.due_to:
        end = datetime.combine(wanted.due_to + timedelta(days=1), time(), tzinfo=UTC)
        found.append(M.due_at < end)
    return found


def find_messages(session: Session, wanted: MessageFilter, clinic_ids: ClinicIds = None) -> Page:
    """Rows matching the filter within those clinics, newest due first, one page at a time."""
    where = and_(within(M.clinic_id, clinic_ids), *_conditions(wanted))
    total = session.execute(_joined(select(func.count())).where(where)).scalar_one()
    pages = max(1, -(-int(total) // PAGE_SIZE))
    page = min(max(1, wanted.page), pages)
    stmt = (
        _joined(_rows_query())
        .where(where)
        .order_by(M.due_at.desc(), M.id.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return Page([_row(r) for r in session.execute(stmt).all()], int(total), page, pages)


def _resolved_since_last_change() -> Any:
    audit = AuditEntry.__table__.c  # type: ignore[attr-defined]
    return exists().where(
        audit.message_id == M.id, audit.action == RESOLVE, audit.at >= M.updated_at
    )


def problems(session: Session, clinic_ids: ClinicIds = None, limit: int = 200) -> list[MessageRow]:
    """Failed, dead and unknown rows that no operator has marked resolved since they changed."""
    stmt = (
        _joined(_rows_query())
        .where(
            M.status.in_(RESOLVABLE),
            within(M.clinic_id, clinic_ids),
            ~_resolved_since_last_change(),
        )
        .order_by(M.updated_at.desc(), M.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in session.execute(stmt).all()]


def unresolved_count(session: Session, status: str, clinic_ids: ClinicIds = None) -> int:
    """Rows in a problem status that no operator has marked resolved since they changed."""
    stmt = select(func.count()).where(
        M.status == status, within(M.clinic_id, clinic_ids), ~_resolved_since_last_change()
    )
    return int(session.execute(stmt).scalar_one())


def patient_messages(session: Session, patient_id: int) -> list[MessageRow]:
    """Every row of one patient, in due order."""
    stmt = _joined(_rows_query()).where(M.patient_id == patient_id).order_by(M.due_at, M.id)
    return [_row(r) for r in session.execute(stmt).all()]


def message_row(session: Session, message_id: int) -> MessageRow | None:
    """One row as the listing shows it (masked), or None."""
    found = session.execute(_joined(_rows_query()).where(M.id == message_id)).first()
    return None if found is None else _row(found)


def patient_treatments(session: Session, patient_id: int) -> list[Treatment]:
    """One patient's treatments, oldest first."""
    found = select(Treatment).where(col(Treatment.patient_id) == patient_id)
    return list(session.execute(found.order_by(col(Treatment.ended_at))).scalars().all())


def clinic_ids(session: Session, within_ids: ClinicIds = None) -> list[str]:
    """Clinic ids for the filter menu: only those the operator may see."""
    stmt = select(col(Clinic.id)).where(within(col(Clinic.id), within_ids))
    return list(session.execute(stmt.order_by(col(Clinic.id))).scalars().all())


def status_choices() -> tuple[str, ...]:
    """Statuses for the filter menu."""
    return lc.STATUSES
