"""The outbox table's set-based operations: claim due rows atomically, start their sends."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col
from sqlmodel import select as select_models

from reminders.db import is_sqlite, session_scope
from reminders.delivery.sendcheck import Reachable, consent_problem
from reminders.models import MESSAGES, PATIENTS, Clinic, Message, Patient, Treatment, movable
from reminders.outbox import lifecycle as lc

log = logging.getLogger(__name__)
M = MESSAGES.c
P = PATIENTS.c
Clock = Callable[[], datetime]


def claim_due(engine: Engine, now: datetime, limit: int, owner: str, lease: timedelta) -> list[int]:
    """Atomically move up to `limit` due rows from pending to claimed; return their ids."""
    due = (
        sqlite_due(now, limit)
        if is_sqlite(engine)
        else select(M.id)
        .where(movable(lc.Move.CLAIM), M.next_attempt_at <= now)
        .order_by(M.next_attempt_at)
        .limit(limit)
        # PostgreSQL: concurrent claimers skip each other's rows. SQLite has no FOR UPDATE,
        # and relies on the status compare-and-set below inside its single-writer lock.
        .with_for_update(skip_locked=True)
    )
    # Materialized, so the database runs it once: inlined as `IN (subquery)` it may be
    # re-evaluated per row and claim more than `limit`.
    due = due.cte("due").prefix_with("MATERIALIZED")
    claim = (
        update(MESSAGES)
        .where(M.id == due.c.id, movable(lc.Move.CLAIM))
        .values(
            status=lc.target(lc.Move.CLAIM),
            lease_owner=owner,
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .returning(M.id)
    )
    with session_scope(engine) as session:
        return sorted(session.execute(claim).scalars().all())


def sqlite_due(now: datetime, limit: int) -> Any:
    """The due rows, walked in the partial index of pending rows, as SQLite needs spelling out.

    Left to itself SQLite's planner takes the status index and sorts every pending row,
    future ones included; and it can only use a partial index when the status is literal.
    """
    return (
        text(
            "SELECT id FROM message INDEXED BY ix_message_due "
            f"WHERE status = '{lc.PENDING}' AND next_attempt_at <= :now "
            "ORDER BY next_attempt_at LIMIT :limit"
        )
        .bindparams(bindparam("now", now, type_=M.next_attempt_at.type), limit=limit)
        .columns(id=M.id.type)
    )


def release_claims(engine: Engine, ids: Sequence[int], now: datetime) -> None:
    """Give claimed rows back (e.g. the broker refused the task), without counting an attempt."""
    with session_scope(engine) as session:
        session.execute(
            update(MESSAGES)
            .where(M.id.in_(ids), movable(lc.Move.RELEASE))
            .values(
                status=lc.target(lc.Move.RELEASE),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )


def start_sending(
    session: Session,
    ids: Sequence[int],
    owner: str,
    now: datetime,
    lease: timedelta,
    max_attempts: int,
) -> list[int]:
    """Move claimed rows to sending (one attempt each); return the ids this worker now owns.

    The only statement that counts an attempt keeps the ceiling (as lc.may_start), so no path back
    to pending (lease sweep, reconciliation, hand-backs) can lead to one attempt too many.
    """
    stmt = (
        update(MESSAGES)
        .where(M.id.in_(ids), movable(lc.Move.START), M.attempts < max_attempts)
        .values(
            status=lc.target(lc.Move.START),
            attempts=M.attempts + 1,
            lease_owner=owner,
            lease_expires_at=now + lease,
            updated_at=now,
        )
        .returning(M.id)
    )
    owned = list(session.execute(stmt).scalars().all())
    if len(owned) < len(ids) and exhaust(session, ids, max_attempts, now):
        log.warning("claimed rows out of attempts (%d) are dead, not sent", max_attempts)
    return owned


def exhaust(session: Session, ids: Sequence[int], max_attempts: int, now: datetime) -> int:
    """Claimed rows that have used all their attempts are dead rather than started again."""
    stmt = (
        update(MESSAGES)
        .where(M.id.in_(ids), movable(lc.Move.EXHAUST), M.attempts >= max_attempts)
        .values(
            status=lc.target(lc.Move.EXHAUST),
            reason=f"gave up: all {max_attempts} attempts used",
            next_attempt_at=None,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def load_rows(
    session: Session, ids: Sequence[int]
) -> list[tuple[Message, Patient, Clinic, Treatment]]:
    """The rows with their patient, clinic and treatment, in one query."""
    stmt = (
        select_models(Message, Patient, Clinic, Treatment)
        .join(Patient, col(Patient.id) == col(Message.patient_id))
        .join(Clinic, col(Clinic.id) == col(Message.clinic_id))
        .join(Treatment, col(Treatment.id) == col(Message.treatment_id))
        .where(col(Message.id).in_(ids))
        .order_by(col(Message.id))
    )
    return [tuple(row) for row in session.execute(stmt).all()]


def sms_history(session: Session, patient_ids: set[int]) -> dict[int, list[datetime]]:
    """When each of these patients was sent an SMS (or may have been: unknown rows)."""
    if not patient_ids:
        return {}
    stmt = select(M.patient_id, func.coalesce(M.sent_at, M.updated_at)).where(
        M.patient_id.in_(patient_ids),
        M.channel == "sms",
        M.status.in_((lc.SENT, lc.DELIVERED, lc.UNKNOWN)),
    )
    history: dict[int, list[datetime]] = {}
    for patient_id, when in session.execute(stmt):
        history.setdefault(patient_id, []).append(as_utc(when))
    return history


def as_utc(moment: datetime) -> datetime:
    """Core queries on SQLite hand back naive UTC; make it aware."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def text_digest(text: str) -> str:
    """The digest of an SMS text as stored on its row before the send."""
    return hashlib.sha256(text.encode()).hexdigest()


def record_renders(
    engine: Engine, renders: Mapping[int, tuple[str | None, str, str | None]]
) -> None:
    """Store each row's SMS text digest, template version and SMS sender key, committed before
    the sends, while the row is still `sending` (one statement for the chunk)."""
    if not renders:
        return
    stmt = (
        update(MESSAGES)
        .where(M.id == bindparam("b_id"), M.status == lc.SENDING)
        .values(
            sent_digest=bindparam("b_digest"),
            template_version=bindparam("b_version"),
            sender=bindparam("b_sender"),
        )
    )
    params = [
        {"b_id": i, "b_digest": d, "b_version": v, "b_sender": k}
        for i, (d, v, k) in renders.items()
    ]
    with engine.begin() as connection:
        connection.execute(stmt, params)


@dataclass(frozen=True)
class FreshContact:
    """A patient's consent and addresses, read just before a chunk of sends."""

    withdrawn: frozenset[str]
    phone: str | None
    email: str | None

    def address(self, channel: str) -> str | None:
        """Where this channel writes to now."""
        return self.phone if channel == "sms" else self.email


def fresh_contacts(
    session: Session, patient_ids: Sequence[int | None], lock: bool = False
) -> dict[int, FreshContact]:
    """Per patient, the channels they may no longer be written to and their addresses, fresh."""
    ids = sorted({pid for pid in patient_ids if pid is not None})
    if not ids:
        return {}
    columns = [P.id, P.phone, P.email, P.consent_sms, P.consent_email]
    stmt = select(*columns, P.sms_opted_out_at, P.email_opted_out_at).where(P.id.in_(ids))
    if lock:
        stmt = stmt.with_for_update(read=True)
    # Plain rows, not ORM objects: this runs before every chunk of sends.
    return {
        row.id: FreshContact(
            frozenset(ch for ch in ("sms", "email") if consent_problem(ch, cast(Reachable, row))),
            row.phone,
            row.email,
        )
        for row in session.execute(stmt)
    }
