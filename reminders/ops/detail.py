"""One message as an operator sees it: the row, its text, the provider's reports, its audit.

The text is not stored (only the SMS's digest): it is rendered again from the templates in
force and compared with what was recorded, and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from jinja2 import TemplateError
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from reminders.delivery.composition import compose
from reminders.delivery.looks import Branding, Look
from reminders.delivery.rendering import Renderer
from reminders.intake.clinic_looks import BRANDING_FIELDS, B, T, current_look
from reminders.models import (
    CLINIC_BRANDING,
    MESSAGES,
    AuditEntry,
    Clinic,
    Message,
    Patient,
    SendAttempt,
    StatusReport,
    Treatment,
)
from reminders.ops import listing
from reminders.ops.scope import ClinicIds, within
from reminders.outbox.claim import text_digest
from reminders.redaction import redact


@dataclass(frozen=True)
class Rerender:
    """The message's text rendered again now, and how it compares with what was sent."""

    subject: str
    text: str
    templates_now: str
    templates_recorded: str
    # True/False when an SMS digest was recorded (the same text, or not); None when unknown.
    same_as_sent: bool | None
    problem: str = ""
    # Rendered from the versions the row recorded (True), or from those in force now (False).
    from_recorded: bool = False


@dataclass(frozen=True)
class Detail:
    """Everything the page of one message shows; contact details masked."""

    row: listing.MessageRow
    timezone: str
    provider_id: str | None
    valid_until: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sender: str | None
    text: Rerender
    attempts: list[SendAttempt]
    reports: list[StatusReport]
    audit: list[AuditEntry]


def message_clinic(session: Session, message_id: int) -> str | None:
    """The clinic of a message, or None when there is no such message (for 403 vs 404)."""
    stmt = sa.select(MESSAGES.c.clinic_id).where(MESSAGES.c.id == message_id)
    return session.execute(stmt).scalar_one_or_none()


def message_detail(
    session: Session, message_id: int, renderer: Renderer, clinic_ids: ClinicIds = None
) -> Detail | None:
    """The page of one message within those clinics; None when not there or not theirs."""
    message = session.exec(
        select(Message).where(
            col(Message.id) == message_id, within(col(Message.clinic_id), clinic_ids)
        )
    ).first()
    if message is None:
        return None
    row = listing.message_row(session, message_id)
    patient = session.get(Patient, message.patient_id)
    assert patient is not None and row is not None
    attempts = session.exec(
        select(SendAttempt)
        .where(col(SendAttempt.message_id) == message_id)
        .order_by(col(SendAttempt.at), col(SendAttempt.id))
    ).all()
    reports = session.exec(
        select(StatusReport)
        .where(col(StatusReport.message_id) == message_id)
        .order_by(col(StatusReport.received_at), col(StatusReport.id))
    ).all()
    entries = session.exec(
        select(AuditEntry)
        .where(col(AuditEntry.message_id) == message_id)
        .order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc())
    ).all()
    return Detail(
        row=row,
        timezone=patient.timezone,
        provider_id=message.provider_id,
        valid_until=message.valid_until,
        next_attempt_at=message.next_attempt_at,
        created_at=message.created_at,
        updated_at=message.updated_at,
        sender=message.sender,
        text=rerender(session, message, patient, renderer),
        attempts=list(attempts),
        reports=list(reports),
        audit=list(entries),
    )


def recorded_look(connection: Connection, clinic_id: str, stamp: str) -> Look | None:
    """The clinic's look as a row's template_version names it, or None when it cannot be had.

    "clinic:<id> sms/en/day_1.txt@v3,branding@v2": those versions (kept forever); any other
    name the row used was the shipped one. "shipped:<digest>": no override at all.
    """
    if stamp.startswith("shipped:"):
        return Look(clinic_id)
    prefix = f"clinic:{clinic_id} "
    if not stamp.startswith(prefix):
        return None
    templates: dict[str, tuple[int, str]] = {}
    branding = Branding()
    for part in stamp.removeprefix(prefix).split(","):
        name, _, version = part.rpartition("@v")
        if not version.isdigit():
            return None  # cut short at 300 characters, or not a stamp this version writes
        if name == "branding":
            row = connection.execute(
                sa.select(CLINIC_BRANDING).where(
                    B.clinic_id == clinic_id, B.version == int(version)
                )
            ).first()
            if row is None:
                return None
            fields = {k: getattr(row, k) for k in BRANDING_FIELDS}
            branding = Branding(**fields, version=row.version)
            continue
        body = connection.execute(
            sa.select(T.body).where(
                T.clinic_id == clinic_id, T.name == name, T.version == int(version)
            )
        ).scalar_one_or_none()
        if body is None:
            return None
        templates[name] = (int(version), body)
    return Look(clinic_id, templates, branding)


def rerender(session: Session, message: Message, patient: Patient, renderer: Renderer) -> Rerender:
    """The text rendered again (no unsubscribe key) from the template versions the row
    recorded when they can still be had, else from those in force now."""
    clinic = session.get(Clinic, message.clinic_id)
    treatment = session.get(Treatment, message.treatment_id)
    assert clinic is not None and treatment is not None
    current = renderer.for_clinic(current_look(session.connection(), clinic.id))
    now_stamp = current.stamp(message.channel, message.step_key, patient.locale)
    recorded = message.template_version
    look = recorded_look(session.connection(), clinic.id, recorded) if recorded else None
    own = current if look is None else renderer.for_clinic(look)
    # The shipped files can change with an upgrade: the recorded digest says whether they did.
    from_recorded = look is not None and (
        not recorded.startswith("shipped:") or current.shipped_stamp() == recorded
    )
    when = message.sent_at or message.due_at
    texts = []
    try:
        for first_sms in (False, True):
            out = compose(message, patient, clinic, treatment, own, "", first_sms, b"", when)
            texts.append((out.subject or "", out.text))
    except TemplateError as exc:
        problem = f"does not render now: {redact(str(exc))}"
        return Rerender("", "", now_stamp, recorded, None, problem, from_recorded)
    same = None
    if message.sent_digest:
        same = any(text_digest(text) == message.sent_digest for _, text in texts)
        subject, text = next(
            ((s, t) for s, t in texts if text_digest(t) == message.sent_digest), texts[0]
        )
    else:
        subject, text = texts[0]
    return Rerender(subject, text, now_stamp, recorded, same, "", from_recorded)
