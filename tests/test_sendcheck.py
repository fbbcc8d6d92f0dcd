"""The worker's last look before a send: every reason not to send now, on plain rows."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from reminders.delivery.sendcheck import recheck
from reminders.models import Clinic, Message, Patient, Treatment
from reminders.outbox import lifecycle as lc

NOW = datetime(2030, 5, 2, 21, 30, tzinfo=UTC)  # 21:30 in London (BST): the window is shut


def rows(**patient: object) -> tuple[Message, Patient, Clinic, Treatment]:
    clinic = Clinic(id="c", name="Glow", window_start=time(8), window_end=time(20))
    facts: dict[str, object] = {"phone": "+447700900123", "consent_sms": True, **patient}
    person = Patient(
        id=1, clinic_id="c", external_id="p", first_name="Ana", timezone="Europe/London", **facts
    )
    treatment = Treatment(
        id=1, clinic_id="c", patient_id=1, external_id="t", ended_at=NOW - timedelta(days=1)
    )
    message = Message(
        id=1, idempotency_key="k", clinic_id="c", patient_id=1, treatment_id=1,
        step_key="day_1", channel="sms", due_at=NOW - timedelta(hours=1),
    )  # fmt: skip
    return message, person, clinic, treatment


def test_withdrawn_consent_without_an_opt_out_skips_the_sms() -> None:
    skip = recheck(*rows(consent_sms=False), now=NOW)
    assert skip is not None and (skip.status, skip.reason) == (lc.SKIPPED, "no SMS consent")


def test_a_prompt_whose_validity_ends_before_the_window_reopens_is_skipped() -> None:
    message, person, clinic, treatment = rows()
    message.valid_until = NOW + timedelta(hours=2)  # 23:30 local; the window opens at 08:00
    skip = recheck(message, person, clinic, treatment, NOW)
    assert skip is not None and skip.status == lc.SKIPPED
    assert skip.reason == "expired: the sending window closed before it could go"


def test_a_prompt_still_valid_when_the_window_reopens_waits_for_it() -> None:
    message, person, clinic, treatment = rows()
    message.valid_until = NOW + timedelta(days=1)
    skip = recheck(message, person, clinic, treatment, NOW)
    assert skip is not None and skip.status == lc.PENDING
    assert skip.next_attempt_at == datetime(2030, 5, 3, 7, 0, tzinfo=UTC)  # 08:00 BST
