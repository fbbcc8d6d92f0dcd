"""What operators see and do with clinic events: list them (never their bodies), retry dead ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from reminders.models import EVENTS
from reminders.ops import audit
from reminders.ops.scope import ClinicIds, within

E = EVENTS.c
STATUSES = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class EventRow:
    """One event as operators see it: its type and delivery state, not its body."""

    id: int
    clinic_id: str
    event_type: str
    webhook_id: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def list_events(
    session: Session,
    clinic_ids: ClinicIds,
    status: str = "",
    clinic: str = "",
    limit: int = 100,
) -> list[EventRow]:
    """Newest first, within `clinic_ids` (None: every clinic), by status and clinic if given."""
    query = sa.select(
        E.id, E.clinic_id, E.event_type, E.webhook_id, E.status, E.attempts,
        E.next_attempt_at, E.last_error, E.created_at, E.delivered_at,
    ).order_by(E.created_at.desc(), E.id.desc()).limit(limit)  # fmt: skip
    query = query.where(within(E.clinic_id, clinic_ids))
    if status:
        query = query.where(E.status == status)
    if clinic:
        query = query.where(E.clinic_id == clinic)
    return [EventRow(**row._mapping) for row in session.connection().execute(query)]


def retry_event(
    session: Session,
    event_id: int,
    actor: str,
    now: datetime,
    clinic_ids: ClinicIds = None,
) -> bool:
    """Make a dead event due now with fresh attempts (after the clinic fixed its endpoint)."""
    clinic = (
        session.connection()
        .execute(
            sa.update(EVENTS)
            .where(E.id == event_id, E.status == "dead", within(E.clinic_id, clinic_ids))
            .values(status="pending", attempts=0, next_attempt_at=now, lease_until=None)
            .returning(E.clinic_id)
        )
        .scalar_one_or_none()
    )
    if clinic is None:
        return False
    audit.record(session, actor, "event retry", clinic_id=clinic, target=f"event:{event_id}",
                 detail=f"clinic event {event_id} queued again", now=now)  # fmt: skip
    return True
