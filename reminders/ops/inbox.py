"""Received texts: every inbound reply with its kind, patient, clinic and what was done.

Staff see their clinic's replies only; replies routed to no clinic (clinic_id NULL) are for
operators of every clinic (admins).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reminders.inbound.replies import HELP, OPT_IN, OPT_OUT, REPLY, WARNING
from reminders.masking import mask_address
from reminders.models import PATIENTS, REPLIES
from reminders.ops.scope import ClinicIds, within
from reminders.redaction import redact

R, P = REPLIES.c, PATIENTS.c
LIMIT = 200


@dataclass(frozen=True)
class InboxRow:
    """One received text, masked, with what the service did about it."""

    id: int
    received_at: datetime
    clinic_id: str | None
    patient_id: int | None
    patient_external_id: str
    first_name: str
    timezone: str
    from_number: str
    kind: str
    body: str
    done: str

    @property
    def needs_attention(self) -> bool:
        """A warning sign, highlighted on the page."""
        return self.kind == WARNING


def what_was_done(kind: str, routed: bool, alerted_at: datetime | None, due: datetime | None,
                  attempts: int, error: str | None) -> str:  # fmt: skip
    """What the service did about a reply, in words an operator can act on."""
    if kind == OPT_OUT:
        return "SMS stopped for this number"
    if kind == OPT_IN:
        return "SMS resumed for this number"
    if kind == HELP:
        return "answered with the help text"
    if not routed:
        return "no clinic told: the sender is shared (see Problems)"
    if kind == WARNING:
        if alerted_at is not None:
            return f"clinic alert emailed {alerted_at:%Y-%m-%d %H:%M} UTC"
        if due is not None:
            tries = f" after {attempts} tries ({redact(error)})" if attempts else ""
            return f"clinic alert email pending{tries}"
        return f"clinic alert gave up ({redact(error) or 'no address'}): call the clinic"
    if kind == REPLY:
        return "kept for the clinic (no warning sign)"
    return kind


def received_texts(
    session: Session, clinic_ids: ClinicIds = None, limit: int = LIMIT
) -> list[InboxRow]:
    """The newest replies within those clinics, newest first (unrouted ones for admins only)."""
    stmt = (
        sa.select(
            R.id,
            R.received_at,
            R.clinic_id,
            R.patient_id,
            R.from_number,
            R.kind,
            R.body,
            R.alerted_at,
            R.alert_due_at,
            R.alert_attempts,
            R.alert_error,
            P.external_id,
            P.first_name,
            P.timezone,
        )  # fmt: skip
        .select_from(REPLIES.outerjoin(PATIENTS, P.id == R.patient_id))
        .where(within(R.clinic_id, clinic_ids))
        .order_by(R.received_at.desc(), R.id.desc())
        .limit(limit)
    )
    return [_row(r) for r in session.execute(stmt).all()]


def _row(r: sa.Row[tuple[object, ...]]) -> InboxRow:
    m = r._mapping
    return InboxRow(
        id=m["id"],
        received_at=m["received_at"],
        clinic_id=m["clinic_id"],
        patient_id=m["patient_id"],
        patient_external_id=m["external_id"] or "-",
        first_name=m["first_name"] or "",
        timezone=m["timezone"] or "UTC",
        from_number=mask_address(m["from_number"]),
        kind=m["kind"],
        body=redact(m["body"]) or "",
        done=what_was_done(
            m["kind"],
            m["clinic_id"] is not None,
            m["alerted_at"],
            m["alert_due_at"],
            m["alert_attempts"],
            m["alert_error"],
        ),  # fmt: skip
    )
