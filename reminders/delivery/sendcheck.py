"""PURE: the last look before a send: is this row still wanted, allowed and on time?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from reminders.models import Clinic, Message, Patient, Treatment
from reminders.outbox import lifecycle as lc
from reminders.planning.facts import policy_of
from reminders.planning.planner import PolicyError, into_window


@dataclass(frozen=True)
class Skip:
    """Do not send now: skip or fail for good, or go back to pending until `next_attempt_at`."""

    status: str
    reason: str
    next_attempt_at: datetime | None = None


def recheck(
    message: Message, patient: Patient, clinic: Clinic, treatment: Treatment, now: datetime
) -> Skip | None:
    """None when the row may be sent now; otherwise why not and what happens instead."""
    if treatment.cancelled_at is not None:
        return Skip(lc.CANCELLED, "treatment cancelled")
    reason = consent_problem(message.channel, patient)
    if reason:
        return Skip(lc.SKIPPED, reason)
    if message.valid_until is not None and now > message.valid_until:
        return Skip(lc.SKIPPED, "expired: past its validity, not sent late")
    try:
        policy = policy_of(clinic)
    except PolicyError as error:  # stored by an older version: this row fails, not its batch
        return Skip(lc.FAILED, f"the clinic's settings cannot work ({error}); fix them and retry")
    local = now.astimezone(ZoneInfo(patient.timezone))
    opens = into_window(local, policy).astimezone(UTC)
    if opens > now:
        if message.valid_until is not None and opens > message.valid_until:
            return Skip(lc.SKIPPED, "expired: the sending window closed before it could go")
        return Skip(lc.PENDING, "outside the sending window; deferred", next_attempt_at=opens)
    return None


class Reachable(Protocol):
    """What consent_problem reads: a Patient, or a row with the same columns."""

    phone: str | None
    email: str | None
    consent_sms: bool
    consent_email: bool
    sms_opted_out_at: datetime | None
    email_opted_out_at: datetime | None


def consent_problem(channel: str, patient: Reachable) -> str | None:
    """Why this patient cannot be written to on this channel, or None."""
    if channel == "sms":
        if patient.sms_opted_out_at is not None:
            return "patient opted out of SMS"
        if not patient.consent_sms:
            return "no SMS consent"
        if not patient.phone:
            return "no phone number"
    if channel == "email":
        if patient.email_opted_out_at is not None:
            return "patient unsubscribed from email"
        if not patient.consent_email:
            return "no email consent"
        if not patient.email:
            return "no email address"
    return None
