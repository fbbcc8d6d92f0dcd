"""Which claimed rows may go now, under the SMS caps and a rate-limit grant: plain rows, no DB."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from reminders.delivery.throttle import Grant
from reminders.delivery.triage import Attempt, Row, ration, triage
from reminders.models import Clinic, Message, Patient, Treatment
from reminders.outbox import lifecycle as lc

NOW = datetime(2030, 5, 2, 10, 30, tzinfo=UTC)  # mid-morning for a UTC patient: window open


def clinic(per_day: int = 1, per_week: int = 3) -> Clinic:
    return Clinic(
        id="c", name="Glow", window_start=time(8), window_end=time(20),
        sms_per_day=per_day, sms_per_week=per_week,
    )  # fmt: skip


def patient(patient_id: int = 1) -> Patient:
    return Patient(
        id=patient_id, clinic_id="c", external_id=f"p{patient_id}", first_name="Ana",
        phone=f"+4477009001{patient_id:02}", email="ana@example.com", timezone="UTC",
        consent_sms=True, consent_email=True,
    )  # fmt: skip


def row(
    message_id: int,
    hours_ago: float,
    place: Clinic,
    person: Patient,
    channel: str = "sms",
    cancelled: bool = False,
) -> Row:
    """A claimed row in `sending` (its attempt counted), due `hours_ago`."""
    assert person.id is not None
    treatment = Treatment(
        id=person.id, clinic_id="c", patient_id=person.id, external_id="t",
        ended_at=NOW - timedelta(days=1), cancelled_at=NOW if cancelled else None,
    )  # fmt: skip
    message = Message(
        id=message_id, idempotency_key=f"k{message_id}", clinic_id="c", patient_id=person.id,
        treatment_id=treatment.id, step_key="day_1", channel=channel, status=lc.SENDING,
        attempts=1, due_at=NOW - timedelta(hours=hours_ago),
    )  # fmt: skip
    return message, person, place, treatment


def ids(ready: list[Attempt]) -> list[int | None]:
    return [attempt.message.id for attempt in ready]


def test_under_the_daily_cap_the_newest_prompt_goes_and_the_older_waits_for_tomorrow() -> None:
    place, person = clinic(per_day=1), patient()
    held, ready = triage([row(1, 10, place, person), row(2, 1, place, person)], {}, NOW)
    assert ids(ready) == [2]
    [older] = held
    assert (older.message_id, older.status, older.attempts) == (1, lc.PENDING, 0)
    assert older.next_attempt_at == datetime(2030, 5, 3, 8, 0, tzinfo=UTC)  # tomorrow's window
    assert older.reason == "SMS cap reached (1 per day, 3 per week); waiting for the next day"


def test_a_prompt_the_cap_would_deliver_after_its_validity_is_skipped() -> None:
    place, person = clinic(per_day=1), patient()
    older = row(1, 10, place, person)
    older[0].valid_until = NOW + timedelta(hours=2)
    [held], _ready = triage([older, row(2, 1, place, person)], {}, NOW)
    assert (held.status, held.attempts) == (lc.SKIPPED, 0)
    assert held.reason and "skipped rather than sent late" in held.reason


def test_an_sms_already_sent_today_uses_the_daily_slot() -> None:
    place, person = clinic(per_day=1), patient()
    held, ready = triage([row(1, 1, place, person)], {1: [NOW - timedelta(hours=2)]}, NOW)
    assert ready == [] and [o.status for o in held] == [lc.PENDING]


def test_each_patient_has_their_own_caps() -> None:
    place = clinic(per_day=1)
    rows = [row(1, 1, place, patient(1)), row(2, 1, place, patient(2))]
    held, ready = triage(rows, {}, NOW)
    assert held == [] and sorted(ids(ready)) == [1, 2]


def test_only_the_first_sms_a_patient_ever_gets_carries_the_stop_wording() -> None:
    place, person = clinic(per_day=5, per_week=5), patient()
    _held, ready = triage([row(1, 10, place, person), row(2, 1, place, person)], {}, NOW)
    assert [(a.message.id, a.first_sms) for a in ready] == [(2, True), (1, False)]


def test_a_patient_texted_before_gets_no_stop_wording() -> None:
    place, person = clinic(per_day=5, per_week=5), patient()
    _held, [attempt] = triage([row(1, 1, place, person)], {1: [NOW - timedelta(days=3)]}, NOW)
    assert attempt.first_sms is False


def test_an_email_is_neither_capped_nor_given_the_stop_wording() -> None:
    place, person = clinic(per_day=0, per_week=0), patient()
    held, [attempt] = triage([row(1, 1, place, person, channel="email")], {}, NOW)
    assert held == [] and attempt.first_sms is False


def test_a_row_the_send_time_check_stops_is_held_with_its_outcome_uncounted() -> None:
    place, person = clinic(), patient()
    [held], ready = triage([row(1, 1, place, person, cancelled=True)], {}, NOW)
    assert ready == []
    assert (held.status, held.attempts, held.reason) == (lc.CANCELLED, 0, "treatment cancelled")


def test_a_partial_grant_sends_the_first_rows_and_the_rest_wait_uncounted() -> None:
    place, person = clinic(per_day=5, per_week=5), patient()
    _held, ready = triage([row(i, i, place, person) for i in (1, 2, 3)], {}, NOW)
    waiting, allowed = ration(ready, Grant(1, 0.5), NOW, "rate limited")
    assert allowed == ready[:1]
    assert [(o.status, o.attempts, o.reason) for o in waiting] == [
        (lc.PENDING, 0, "rate limited")
    ] * 2
    assert {o.next_attempt_at for o in waiting} == {NOW + timedelta(seconds=0.5)}


def test_a_grant_with_no_wait_still_retries_a_moment_later() -> None:
    place, person = clinic(per_day=5, per_week=5), patient()
    _held, ready = triage([row(1, 1, place, person)], {}, NOW)
    [waiting], allowed = ration(ready, Grant(0, 0), NOW, "rate limited")
    assert allowed == [] and waiting.next_attempt_at == NOW + timedelta(seconds=0.05)
