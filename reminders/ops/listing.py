"""Read-only queries behind the operator pages: filtered messages, problems, audit, timeline.

Rows come out as plain values with contact details already masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, literal, select, tuple_
from sqlmodel import Session, col

from reminders.channels.console import is_console
from reminders.masking import mask_address
from reminders.models import HISTORY, MESSAGES, AuditEntry, Clinic, Patient, Treatment
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
    # Keyset paging: the page starts after this cursor (`Page.next_after`); "" = first page.
    after: str = ""
    # "due" = due soonest first (what needs attention next); "-due" = latest due first.
    order: str = "-due"


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


ORDERS = ("-due", "due")


class BadCursorError(ValueError):
    """A page cursor that this module did not make."""


@dataclass(frozen=True)
class Page:
    """One page of rows; `next_after` is the cursor of the next page, "" on the last one.

    There is no total: counting every match would read the whole history each time.
    """

    rows: list[MessageRow]
    next_after: str
    first: bool


def cursor(row: MessageRow) -> str:
    """Where the page after `row` starts: its due time and id."""
    return f"{row.due_at.astimezone(UTC):%Y%m%dT%H%M%S.%f}_{row.id}"


def parse_cursor(value: str) -> tuple[datetime, int]:
    """The (due_at, id) a cursor names; BadCursorError if it is not one."""
    try:
        when, _, ident = value.partition("_")
        parsed = datetime.strptime(when, "%Y%m%dT%H%M%S.%f").replace(tzinfo=UTC)
        return parsed, int(ident)
    except ValueError:
        raise BadCursorError(f"after: not a page cursor: {value[:40]!r}") from None


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
        # The patient's ids first (ix_patient_external_id), then only their rows.
        ids = select(col(Patient.id)).where(col(Patient.external_id) == wanted.patient.strip())
        found.append(M.patient_id.in_(ids.scalar_subquery()))
    if wanted.due_from:
        found.append(M.due_at >= datetime.combine(wanted.due_from, time(), tzinfo=UTC))
    if wanted.due_to:
        end = datetime.combine(wanted.due_to + timedelta(days=1), time(), tzinfo=UTC)
        found.append(M.due_at < end)
    return found


def find_messages(
    session: Session, wanted: MessageFilter, clinic_ids: ClinicIds = None, size: int = PAGE_SIZE
) -> Page:
    """Rows matching the filter within those clinics in (due_at, id) order, a page at a time.

    Each page seeks an index ((due_at, id), or led by clinic, status or patient) past the
    cursor: a later page costs what the first does. BadCursorError for a forged cursor.
    """
    where = [within(M.clinic_id, clinic_ids), *_conditions(wanted)]
    key = tuple_(M.due_at, M.id)
    ascending = wanted.order == "due"
    if wanted.after:
        due, ident = parse_cursor(wanted.after)
        mark = tuple_(literal(due, M.due_at.type), ident)
        where.append(key > mark if ascending else key < mark)
    ordering = (M.due_at, M.id) if ascending else (M.due_at.desc(), M.id.desc())
    stmt = _joined(_rows_query()).where(and_(*where)).order_by(*ordering).limit(size + 1)
    rows = [_row(r) for r in session.execute(stmt).all()]
    more = len(rows) > size
    rows = rows[:size]
    return Page(rows, cursor(rows[-1]) if more else "", not wanted.after)


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
    """Every row of one patient, retention's history included, in due order (their rows only)."""
    stmt = _joined(_rows_query()).where(M.patient_id == patient_id).order_by(M.due_at, M.id)
    hot = [_row(r) for r in session.execute(stmt).all()]
    return sorted(hot + history_messages(session, patient_id), key=lambda r: (r.due_at, r.id))


def history_messages(session: Session, patient_id: int) -> list[MessageRow]:
    """One patient's messages moved out by retention: no contact, no texts, the facts kept."""
    h = HISTORY.c
    stmt = select(HISTORY).where(h.patient_id == patient_id).order_by(h.due_at, h.id)
    return [
        MessageRow(
            id=r.id,
            clinic_id=r.clinic_id,
            patient_id=r.patient_id,
            patient_external_id="",
            first_name="",
            contact="(history)",
            step_key=r.step_key,
            channel=r.channel,
            status=r.status,
            due_at=r.due_at,
            sent_at=r.sent_at,
            delivered_at=r.delivered_at,
            attempts=r.attempts,
            provider_code=r.provider_code,
            reason="moved to history by retention",
            last_error=None,
        )
        for r in session.execute(stmt).all()
    ]


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
