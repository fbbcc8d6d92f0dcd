"""Replies no clinic was told of: a shared sender, the number enrolled at several clinics, and
none of them had written to it from that sender (see inbound/conversation.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reminders.inbound.replies import OPT_IN, OPT_OUT
from reminders.masking import mask_address
from reminders.models import PATIENTS, REPLIES
from reminders.redaction import redact

R = REPLIES.c


@dataclass(frozen=True)
class UnroutedReply:
    """One such reply, contact details masked, with the clinics that have a patient at it."""

    reply_id: int
    received_at: datetime
    sender: str
    from_number: str
    kind: str
    body: str
    clinics: tuple[str, ...]


def unrouted_replies(
    session: Session,
    since: datetime,
    clinic_ids: frozenset[str] | None = None,
    limit: int = 200,
) -> list[UnroutedReply]:
    """Replies kept with no clinic since `since`, newest first; for every-clinic operators only.

    STOP and START are left out: they were applied to the sender, not to one clinic. A number
    no clinic has is left out too (a stranger, or a patient since removed).
    """
    if clinic_ids is not None:  # a reply of no clinic is not a clinic's to see
        return []
    at_number = sa.select(PATIENTS.c.id).where(PATIENTS.c.phone == R.from_number)
    rows = session.execute(
        sa.select(R.id, R.received_at, R.sender, R.from_number, R.kind, R.body)
        .where(R.clinic_id.is_(None), R.received_at >= since, R.kind.not_in((OPT_OUT, OPT_IN)))
        .where(sa.exists(at_number))
        .order_by(R.received_at.desc())
        .limit(limit)
    ).all()
    found = []
    for row in rows:
        at = session.execute(
            sa.select(PATIENTS.c.clinic_id).distinct().where(PATIENTS.c.phone == row.from_number)
        ).scalars()
        found.append(
            UnroutedReply(
                row.id,
                row.received_at,
                row.sender or "",
                mask_address(row.from_number),
                row.kind,
                redact(row.body) or "",
                tuple(sorted(at)),
            )  # fmt: skip
        )
    return found
