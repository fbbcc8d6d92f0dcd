"""Operator actions on outbox rows (retry, cancel, mark resolved), each with an audit entry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from reminders import lifecycle as lc
from reminders.models import MESSAGES, AuditEntry

M = MESSAGES.c
RETRY, RESEND_UNKNOWN, CANCEL, RESOLVE = "retry", "resend_unknown", "cancel", "resolve"
# Retry only rows that will not move again on their own. `unknown` rows may already be with
# the provider, so retrying them is a separate, explicitly chosen action (RESEND_UNKNOWN).
RETRYABLE = (lc.FAILED, lc.DEAD)
# Cancel only rows nobody is sending right now: a `sending` row is mid-call to the provider,
# and `sent` has already gone. `unknown` may be cancelled: it stops any later resend; a
# `failed` or `dead` one: nobody retries it, and it leaves the problems list as cancelled.
CANCELLABLE = (lc.PENDING, lc.CLAIMED, lc.UNKNOWN, lc.FAILED, lc.DEAD)
RESOLVABLE = (lc.FAILED, lc.DEAD, lc.UNKNOWN)


@dataclass(frozen=True)
class ActionResult:
    """What one action did to one message: ok, or the reason it was refused."""

    message_id: int
    action: str
    ok: bool
    detail: str


def retry(
    session: Session, message_id: int, actor: str, now: datetime, resend_unknown: bool = False
) -> ActionResult:
    """Queue a failed or dead row again now; an `unknown` row only with resend_unknown=True."""
    allowed = (*RETRYABLE, lc.UNKNOWN) if resend_unknown else RETRYABLE
    action = RESEND_UNKNOWN if resend_unknown else RETRY
    values: dict[str, object] = dict(
        status=lc.PENDING,
        next_attempt_at=now,
        attempts=0,
        lease_owner=None,
        lease_expires_at=None,
        last_error=None,
        provider_code=None,
        reason=f"retried by {actor}",
        updated_at=now,
    )
    return _move(session, message_id, actor, now, action, allowed, values)


def cancel(session: Session, message_id: int, actor: str, now: datetime) -> ActionResult:
    """Cancel a row that has not been handed to a provider (or whose fate is unknown)."""
    values: dict[str, object] = dict(
        status=lc.CANCELLED,
        lease_owner=None,
        lease_expires_at=None,
        reason=f"cancelled by {actor}",
        updated_at=now,
    )
    return _move(session, message_id, actor, now, CANCEL, CANCELLABLE, values)


def resolve(session: Session, message_id: int, actor: str, now: datetime) -> ActionResult:
    """Acknowledge a problem row: its status stays, and it leaves the problems list."""
    status = _status(session, message_id)
    if status is None:
        return ActionResult(message_id, RESOLVE, False, "no such message")
    if status not in RESOLVABLE:
        return _refused(message_id, RESOLVE, status, RESOLVABLE)
    detail = f"marked resolved while {status}"
    _audit(session, actor, RESOLVE, message_id, detail, now)
    return ActionResult(message_id, RESOLVE, True, detail)


def _move(
    session: Session,
    message_id: int,
    actor: str,
    now: datetime,
    action: str,
    allowed: tuple[str, ...],
    values: dict[str, object],
) -> ActionResult:
    status = _status(session, message_id)
    if status is None:
        return ActionResult(message_id, action, False, "no such message")
    if status not in allowed:
        return _refused(message_id, action, status, allowed)
    # Compare-and-set on the status we read, so a worker that moved the row meanwhile wins.
    stmt = (
        update(MESSAGES)
        .where(M.id == message_id, M.status == status)
        .values(**values)
        .returning(M.id)
    )
    if session.execute(stmt).scalar_one_or_none() is None:
        return ActionResult(message_id, action, False, "the message changed meanwhile; try again")
    detail = f"{status} -> {values['status']}"
    _audit(session, actor, action, message_id, detail, now)
    return ActionResult(message_id, action, True, detail)


def _status(session: Session, message_id: int) -> str | None:
    return session.execute(select(M.status).where(M.id == message_id)).scalar_one_or_none()


def _refused(message_id: int, action: str, status: str, allowed: tuple[str, ...]) -> ActionResult:
    hint = ""
    if action == RETRY and status == lc.UNKNOWN:
        hint = " (the provider may already have it: reconcile, or choose resend explicitly)"
    detail = f"cannot {action.replace('_', ' ')} a {status} message{hint}; allowed from: " + (
        ", ".join(allowed)
    )
    return ActionResult(message_id, action, False, detail)


def _audit(
    session: Session, actor: str, action: str, message_id: int, detail: str, now: datetime
) -> None:
    session.add(
        AuditEntry(actor=actor[:128], action=action, message_id=message_id, detail=detail, at=now)
    )
    session.flush()
