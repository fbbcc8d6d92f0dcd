"""Operator actions on outbox rows (retry, cancel, mark resolved), each with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from reminders.models import MESSAGES, movable
from reminders.ops import audit
from reminders.ops.scope import ClinicIds, within
from reminders.outbox import lifecycle as lc

M = MESSAGES.c
RETRY, RESEND_UNKNOWN, CANCEL, RESOLVE = "retry", "resend_unknown", "cancel", "resolve"
# Where each action may be taken from: lifecycle.MOVES (retry and resend differ only there).
RESOLVABLE = lc.RESOLVABLE


@dataclass(frozen=True)
class ActionResult:
    """What one action did to one message: ok, or the reason it was refused."""

    message_id: int
    action: str
    ok: bool
    detail: str
    # False when no such message exists within the operator's clinics (the dashboard says 404).
    found: bool = True


def retry(
    session: Session,
    message_id: int,
    actor: str,
    now: datetime,
    resend_unknown: bool = False,
    clinic_ids: ClinicIds = None,
) -> ActionResult:
    """Queue a failed or dead row again now; an `unknown` row only with resend_unknown=True."""
    move = lc.Move.RESEND if resend_unknown else lc.Move.RETRY
    action = RESEND_UNKNOWN if resend_unknown else RETRY
    values: dict[str, object] = dict(
        next_attempt_at=now,
        attempts=0,
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
        provider_code=None,
        reason=f"retried by {actor}",
        updated_at=now,
    )
    return _move(session, message_id, actor, now, action, move, values, clinic_ids)


def cancel(
    session: Session, message_id: int, actor: str, now: datetime, clinic_ids: ClinicIds = None
) -> ActionResult:
    """Cancel a row that has not been handed to a provider (or whose fate is unknown)."""
    values: dict[str, object] = dict(
        lease_owner=None,
        lease_expires_at=None,
        reason=f"cancelled by {actor}",
        updated_at=now,
    )
    return _move(session, message_id, actor, now, CANCEL, lc.Move.CANCEL, values, clinic_ids)


def resolve(
    session: Session, message_id: int, actor: str, now: datetime, clinic_ids: ClinicIds = None
) -> ActionResult:
    """Acknowledge a problem row: its status stays, and it leaves the problems list."""
    status = _status(session, message_id, clinic_ids)
    if status is None:
        return _missing(message_id, RESOLVE)
    if status not in RESOLVABLE:
        return _refused(message_id, RESOLVE, status, RESOLVABLE)
    detail = f"marked resolved while {status}"
    _audit(session, actor, RESOLVE, message_id, detail, now, (status, status))
    return ActionResult(message_id, RESOLVE, True, detail)


def _move(
    session: Session,
    message_id: int,
    actor: str,
    now: datetime,
    action: str,
    move: lc.Move,
    values: dict[str, object],
    clinic_ids: ClinicIds,
) -> ActionResult:
    status = _status(session, message_id, clinic_ids)
    if status is None:
        return _missing(message_id, action)
    if not lc.allowed(status, move):
        return _refused(message_id, action, status, lc.sources(move))
    # Compare-and-set on the status we read, so a worker that moved the row meanwhile wins.
    stmt = (
        update(MESSAGES)
        .where(M.id == message_id, M.status == status, movable(move))
        .values(status=lc.target(move), **values)
        .returning(M.id)
    )
    if session.execute(stmt).scalar_one_or_none() is None:
        return ActionResult(message_id, action, False, "the message changed meanwhile; try again")
    detail = f"{status} -> {lc.target(move)}"
    _audit(session, actor, action, message_id, detail, now, (status, lc.target(move)))
    return ActionResult(message_id, action, True, detail)


def _status(session: Session, message_id: int, clinic_ids: ClinicIds) -> str | None:
    # Another clinic's message reads as no message at all: its existence is not theirs to know.
    stmt = select(M.status).where(M.id == message_id, within(M.clinic_id, clinic_ids))
    return session.execute(stmt).scalar_one_or_none()


def _missing(message_id: int, action: str) -> ActionResult:
    return ActionResult(message_id, action, False, "no such message", found=False)


def _refused(message_id: int, action: str, status: str, allowed: tuple[str, ...]) -> ActionResult:
    hint = ""
    if action == RETRY and status == lc.UNKNOWN:
        hint = " (the provider may already have it: reconcile, or choose resend explicitly)"
    detail = f"cannot {action.replace('_', ' ')} a {status} message{hint}; allowed from: " + (
        ", ".join(allowed)
    )
    return ActionResult(message_id, action, False, detail)


def _audit(
    session: Session,
    actor: str,
    action: str,
    message_id: int,
    detail: str,
    now: datetime,
    statuses: tuple[str, str],
) -> None:
    clinic = session.execute(select(M.clinic_id).where(M.id == message_id)).scalar_one()
    audit.record(
        session,
        actor,
        action,
        clinic_id=clinic,
        message_id=message_id,
        target=f"message:{message_id}",
        detail=detail,
        before={"status": statuses[0]},
        after={"status": statuses[1]},
        now=now,
    )
    session.flush()
