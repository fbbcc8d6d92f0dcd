"""Apply Twilio status callbacks to outbox rows, only ever forwards."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reminders.events.emission import emit_message_event
from reminders.events.payloads import MESSAGE_DELIVERED, MESSAGE_FAILED
from reminders.models import MESSAGES, STATUS_REPORTS, movable
from reminders.outbox import lifecycle as lc

log = logging.getLogger(__name__)

# Twilio's MessageStatus -> our move. Queued/accepted/sending say nothing a sent row does not.
# Each move only goes forwards (lifecycle.MOVES): `unknown` (a send whose outcome we never
# heard) and in-flight rows are resolved by reports; delivered and failed are never undone.
TWILIO_STATUS = {
    "sent": lc.Move.REPORT_SENT,
    "delivered": lc.Move.REPORT_DELIVERED,
    "read": lc.Move.REPORT_DELIVERED,
    "undelivered": lc.Move.REPORT_FAILED,
    "failed": lc.Move.REPORT_FAILED,
}


@dataclass(frozen=True)
class Report:
    """One status callback."""

    message_id: int
    provider_id: str  # MessageSid: never empty (the route refuses a report without one)
    status: str
    error_code: str | None = None
    # The clinic whose Twilio subaccount signed the report: it may only speak of that clinic's
    # messages. None: our own account, which sends for every clinic.
    clinic_id: str | None = None


def _its_own(report: Report) -> sa.ColumnElement[bool]:
    """The report's message, within the signing subaccount's clinic."""
    own = MESSAGES.c.id == report.message_id
    return own if report.clinic_id is None else own & (MESSAGES.c.clinic_id == report.clinic_id)


# Twilio's code for a number that unsubscribed at the carrier (replied STOP to Twilio).
UNSUBSCRIBED = "21610"


def unsubscribed_patient(engine: Engine, report: Report) -> int | None:
    """The patient to opt out of SMS when a report says their number unsubscribed, else None."""
    if (
        report.error_code != UNSUBSCRIBED
        or TWILIO_STATUS.get(report.status) != lc.Move.REPORT_FAILED
    ):
        return None
    # Only for the message the report is about: a report naming another message's SID (or
    # a subaccount signing reports for message ids not its own) opts nobody out.
    with engine.connect() as connection:
        patient_id = connection.execute(
            sa.select(MESSAGES.c.patient_id)
            .where(_its_own(report))
            .where(MESSAGES.c.provider_id == report.provider_id)
        ).scalar()
    return int(patient_id) if patient_id is not None else None


def apply_report(engine: Engine, report: Report, now: datetime) -> str:
    """Move the row forward if the report is news and keep it for operators (the message's
    page), in one transaction; a report that does not prove its message keeps nothing.
    Returns what happened, for the log."""
    with engine.begin() as connection:
        outcome, about_it = _applied(connection, report, now)
        if about_it:
            connection.execute(
                sa.insert(STATUS_REPORTS).values(
                    message_id=report.message_id,
                    provider_id=report.provider_id[:128],
                    status=report.status[:32],
                    error_code=(report.error_code or None) and str(report.error_code)[:32],
                    outcome=outcome[:200],
                    received_at=now,
                )
            )
    return outcome


def _applied(connection: sa.Connection, report: Report, now: datetime) -> tuple[str, bool]:
    """What the report did, and whether it is about this row (its own message and SID)."""
    move = TWILIO_STATUS.get(report.status)
    if move is not None:
        target = lc.target(move)
        # Compare-and-set: a concurrent worker or callback can only ever move the row forwards.
        statement = (
            sa.update(MESSAGES)
            .where(_its_own(report))
            .where(movable(move))
            # The report proves only its own message: the row's SID, or none yet (a send in
            # flight or of unknown outcome, whose SID the report supplies).
            .where(
                sa.or_(
                    MESSAGES.c.provider_id.is_(None),
                    MESSAGES.c.provider_id == report.provider_id,
                )
            )
            .values(**report_values(report, target, now))
        )
        if connection.execute(statement).rowcount:
            news = {lc.DELIVERED: MESSAGE_DELIVERED, lc.FAILED: MESSAGE_FAILED}.get(target)
            if news is not None:  # for the clinic's own system, if it has an endpoint
                emit_message_event(connection, report.message_id, news, now)
            return f"moved to {target}", True
    exists = connection.execute(
        sa.select(MESSAGES.c.status, MESSAGES.c.provider_id).where(_its_own(report))
    ).first()
    if exists is None:
        log.warning("status callback for unknown message id %s", report.message_id)
        return "unknown message", False
    if exists.provider_id not in (None, report.provider_id):
        log.warning("status callback for message %s names another SID", report.message_id)
        return "ignored: MessageSid is not this message's", False
    if move is None:
        return "ignored: an intermediate status", True
    return f"ignored: {exists.status} is not behind {lc.target(move)}", True


def report_values(report: Report, target: str, now: datetime) -> dict[str, object]:
    """The columns a report moving a row to `target` sets."""
    values: dict[str, object] = {"status": target, "updated_at": now}
    if target == lc.DELIVERED:
        values["delivered_at"] = now
    if target == lc.FAILED:
        values["provider_code"] = report.error_code
        values["last_error"] = f"twilio reported {report.status} (error {report.error_code})"
        values["next_attempt_at"] = None
    if target in (lc.SENT, lc.DELIVERED):
        values["sent_at"] = sa.func.coalesce(MESSAGES.c.sent_at, now)
    values["provider_id"] = sa.func.coalesce(MESSAGES.c.provider_id, report.provider_id)
    values["lease_owner"], values["lease_expires_at"] = None, None
    return values
