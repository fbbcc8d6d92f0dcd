"""PURE: which claimed rows may go now under the SMS caps; the outcome of those that may not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from reminders.delivery.outcomes import RowOutcome
from reminders.delivery.sendcheck import Skip, recheck
from reminders.delivery.throttle import Grant
from reminders.models import Clinic, Message, Patient, Treatment
from reminders.outbox import lifecycle as lc
from reminders.planning.caps import SmsLedger

Row = tuple[Message, Patient, Clinic, Treatment]
OUT_OF_TIME = "the batch ran out of time; back in the queue"


@dataclass(frozen=True)
class Attempt:
    """A row cleared to send now, with whether it is the patient's first SMS."""

    row: Row
    first_sms: bool

    @property
    def message(self) -> Message:
        """The outbox row."""
        return self.row[0]

    @property
    def patient(self) -> Patient:
        """Whom it is for."""
        return self.row[1]


def triage(
    rows: Sequence[Row], history: Mapping[int, list[datetime]], now: datetime
) -> tuple[list[RowOutcome], list[Attempt]]:
    """Split rows into those that must not go now (with their outcome) and those that may.

    `history` holds, per patient, when they were already sent an SMS (or may have been).
    """
    held: list[RowOutcome] = []
    ready: list[Attempt] = []
    ledgers: dict[int, SmsLedger] = {}
    told_stop: set[int] = set()
    # Newest step first: when a cap allows one SMS of several overdue ones (late
    # enrollment, an outage), the patient gets the current instruction, not a stale one.
    for row in sorted(rows, key=lambda r: r[0].due_at, reverse=True):
        message, patient, clinic, _treatment = row
        assert message.id is not None and patient.id is not None
        skip = recheck(*row, now)
        if skip is None and message.channel == "sms":
            if patient.id not in ledgers:
                ledgers[patient.id] = ledger_of(patient, clinic, history.get(patient.id, []))
            skip = cap_check(ledgers[patient.id], message, clinic, now)
        if skip is not None:
            held.append(held_back(message, skip))
            continue
        # The STOP wording goes on the first SMS a patient ever gets, once.
        first_sms = message.channel == "sms" and not history.get(patient.id)
        first_sms = first_sms and patient.id not in told_stop
        if first_sms:
            told_stop.add(patient.id)
        ready.append(Attempt(row, first_sms))
    return held, ready


def ledger_of(patient: Patient, clinic: Clinic, sent: list[datetime]) -> SmsLedger:
    """The patient's SMS ledger under the clinic's caps, in the patient's time zone."""
    return SmsLedger(clinic.sms_per_day, clinic.sms_per_week, ZoneInfo(patient.timezone), sent)


def cap_check(ledger: SmsLedger, message: Message, clinic: Clinic, now: datetime) -> Skip | None:
    """Keep the SMS caps at send time: take a slot, or wait for the next day, or skip."""
    if ledger.fits(now):
        ledger.take(now)
        return None
    local = now.astimezone(ledger.zone)
    opens = datetime.combine(
        local.date() + timedelta(days=1), clinic.window_start, tzinfo=ledger.zone
    ).astimezone(UTC)
    caps = f"{clinic.sms_per_day} per day, {clinic.sms_per_week} per week"
    if message.valid_until is not None and opens > message.valid_until:
        return Skip(lc.SKIPPED, f"SMS cap reached ({caps}); skipped rather than sent late")
    return Skip(
        lc.PENDING, f"SMS cap reached ({caps}); waiting for the next day", next_attempt_at=opens
    )


def held_back(message: Message, skip: Skip) -> RowOutcome:
    """The outcome of a row the re-check or the caps stop: its attempt is not counted."""
    assert message.id is not None
    return RowOutcome(
        message.id,
        skip.status,
        message.attempts - 1,
        reason=skip.reason,
        next_attempt_at=skip.next_attempt_at,
        attempted=False,
    )


def hand_back(attempt: Attempt, at: datetime, reason: str = OUT_OF_TIME) -> RowOutcome:
    """Return an unsent row to pending from `at` on, without counting an attempt."""
    return held_back(attempt.message, Skip(lc.PENDING, reason, next_attempt_at=at))


def ration(
    group: Sequence[Attempt], grant: Grant, now: datetime, reason: str
) -> tuple[list[RowOutcome], list[Attempt]]:
    """The rows a rate-limit grant lets go now; the rest wait as pending, not as an attempt."""
    later = now + timedelta(seconds=max(grant.retry_after, 0.05))
    waiting = [hand_back(attempt, later, reason) for attempt in group[grant.granted :]]
    return waiting, list(group[: grant.granted])
