"""Each event type changes the patient's plan as a clinic would expect."""

from __future__ import annotations

import sqlalchemy as sa

from reminders.models import CLINICS
from tests.webhooks.conftest import Hooks, treatment_completed


def enroll(hooks: Hooks, **extra: object) -> dict:
    response = hooks.post_event("treatment.completed", treatment_completed(**extra))
    assert response.status_code == 202, response.text
    return response.json()


def test_treatment_completed_enrolls_the_patient_and_answers_with_the_plan(hooks: Hooks) -> None:
    answer = enroll(hooks)
    keys = {(item["key"], item["channel"], item["status"]) for item in answer["plan"]}
    assert ("first_night", "sms", "pending") in keys
    assert ("book_next_session", "email", "pending") in keys
    assert set(answer["plan"][0]) == {
        "treatment_id",
        "key",
        "channel",
        "due_at",
        "status",
        "reason",
    }
    patient = hooks.patient()
    assert (patient.phone, patient.timezone, patient.locale) == (
        "+34612345678",
        "Europe/Madrid",
        "es",
    )
    assert hooks.treatment().needle_depth_mm == 1.0


def test_the_same_content_under_a_new_webhook_id_changes_nothing(hooks: Hooks) -> None:
    first = enroll(hooks)
    plan_before = hooks.plan()
    messages_before = hooks.counts()["message"]
    second = enroll(hooks)
    assert second["plan"] == first["plan"]
    assert hooks.plan() == plan_before
    assert hooks.counts()["message"] == messages_before


def test_a_corrected_treatment_updates_in_place(hooks: Hooks) -> None:
    enroll(hooks)
    enroll(hooks, treatment__needle_depth_mm=0.5)
    assert hooks.counts()["treatment"] == 1
    assert hooks.treatment().needle_depth_mm == 0.5


def test_a_treatment_id_of_another_patient_is_refused_and_writes_nothing(hooks: Hooks) -> None:
    enroll(hooks)
    counts, plan = hooks.counts(), hooks.plan()
    response = hooks.post_event(
        "treatment.completed", treatment_completed(patient="p-2", treatment__needle_depth_mm=0.5)
    )
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"field": "data.treatment.external_id", "problem": "belongs to another patient"}
    ]
    assert hooks.counts() == counts
    assert hooks.plan() == plan
    assert hooks.treatment().needle_depth_mm == 1.0


def test_treatment_cancelled_cancels_everything_pending(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event("treatment.cancelled", {"treatment_id": "t-1"})
    assert response.status_code == 202
    assert set(hooks.plan().values()) == {"cancelled"}
    assert {item["status"] for item in response.json()["plan"]} == {"cancelled"}
    assert hooks.treatment().cancelled_at is not None


def test_appointment_booked_drops_the_booking_prompt_and_cancelled_brings_it_back(
    hooks: Hooks,
) -> None:
    enroll(hooks)
    booked = hooks.post_event(
        "appointment.booked", {"patient_id": "p-1", "next_session_at": "2030-06-05T10:00:00+02:00"}
    )
    assert booked.status_code == 202
    assert hooks.plan()[("book_next_session", "sms")] == "cancelled"
    assert hooks.treatment().next_session_at is not None
    cancelled = hooks.post_event("appointment.cancelled", {"patient_id": "p-1"})
    assert cancelled.status_code == 202
    assert hooks.plan()[("book_next_session", "sms")] == "pending"
    assert hooks.treatment().next_session_at is None


def test_appointment_events_may_name_the_treatment(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event(
        "appointment.booked",
        {"patient_id": "p-1", "treatment_id": "t-1", "next_session_at": "2030-06-05T08:00:00Z"},
    )
    assert response.status_code == 202
    refused = hooks.post_event(
        "appointment.booked",
        {"patient_id": "p-1", "treatment_id": "t-9", "next_session_at": "2030-06-05T08:00:00Z"},
    )
    assert refused.status_code == 422


def test_patient_updated_withdrawing_sms_consent_skips_pending_sms_only(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event(
        "patient.updated", {"patient": {"external_id": "p-1", "consent": {"sms": False}}}
    )
    assert response.status_code == 202
    plan = hooks.plan()
    assert {status for (_, channel), status in plan.items() if channel == "sms"} == {"skipped"}
    assert {status for (_, channel), status in plan.items() if channel == "email"} == {"pending"}


def test_patient_updated_moving_time_zone_moves_the_prompts(hooks: Hooks) -> None:
    first = enroll(hooks)
    response = hooks.post_event(
        "patient.updated", {"patient": {"external_id": "p-1", "timezone": "America/New_York"}}
    )
    assert response.status_code == 202
    assert hooks.patient().timezone == "America/New_York"
    day_1 = [i["due_at"] for i in first["plan"] if i["key"] == "day_1"]
    moved = [i["due_at"] for i in response.json()["plan"] if i["key"] == "day_1"]
    assert day_1 != moved


def test_patient_opted_out_of_email_skips_pending_email(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event("patient.opted_out", {"patient_id": "p-1", "channel": "email"})
    assert response.status_code == 202
    plan = hooks.plan()
    assert {status for (_, channel), status in plan.items() if channel == "email"} == {"skipped"}
    assert {status for (_, channel), status in plan.items() if channel == "sms"} == {"pending"}
    assert hooks.patient().email_opted_out_at is not None


def test_a_treatment_id_cannot_move_to_another_patient(hooks: Hooks) -> None:
    enroll(hooks)
    before = hooks.counts()
    response = hooks.post_event(
        "treatment.completed", treatment_completed(patient="p-2", treatment="t-1")
    )
    assert response.status_code == 422
    assert hooks.counts() == before


def without_locale(**extra: object) -> dict:
    data = treatment_completed(**extra)
    del data["patient"]["locale"]
    return data


def test_a_known_patient_keeps_their_language_when_an_event_leaves_it_out(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event("treatment.completed", without_locale(treatment="t-2"))
    assert response.status_code == 202, response.text
    assert hooks.patient().locale == "es"


def test_a_new_patient_without_a_language_gets_the_clinics(hooks: Hooks) -> None:
    with hooks.engine.begin() as connection:
        connection.execute(sa.update(CLINICS).values(locale="es"))
    response = hooks.post_event("treatment.completed", without_locale())
    assert response.status_code == 202, response.text
    assert hooks.patient().locale == "es"


def test_a_nul_character_is_refused_with_422_on_every_database(hooks: Hooks) -> None:
    response = hooks.post_event("treatment.completed", treatment_completed(patient="p\x00"))
    assert response.status_code == 422, response.text
    assert response.json()["problems"][0]["field"] == "data.patient.external_id"


def statuses_by_channel(hooks: Hooks) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {"sms": set(), "email": set()}
    for (_step, channel), status in hooks.plan().items():
        found[channel].add(status)
    return found


def test_patient_updated_removing_the_phone_skips_pending_sms(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event(
        "patient.updated", {"patient": {"external_id": "p-1", "phone": None}}
    )
    assert response.status_code == 202, response.text
    assert hooks.patient().phone is None
    assert statuses_by_channel(hooks) == {"sms": {"skipped"}, "email": {"pending"}}


def test_patient_updated_changing_the_email_keeps_email_prompts_pending(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event(
        "patient.updated", {"patient": {"external_id": "p-1", "email": "ana.new@example.com"}}
    )
    assert response.status_code == 202, response.text
    assert hooks.patient().email == "ana.new@example.com"
    assert statuses_by_channel(hooks)["email"] == {"pending"}


def test_patient_opted_out_of_everything_skips_all_pending_prompts(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.post_event("patient.opted_out", {"patient_id": "p-1", "channel": "all"})
    assert response.status_code == 202, response.text
    assert statuses_by_channel(hooks) == {"sms": {"skipped"}, "email": {"skipped"}}


def test_a_treatment_that_arrives_with_its_next_session_booked_plans_no_booking_nudge(
    hooks: Hooks,
) -> None:
    answer = enroll(hooks, treatment__next_session_at="2030-06-05T10:00:00+02:00")
    keys = {item["key"] for item in answer["plan"] if item["status"] == "pending"}
    assert {"session_week_before", "session_day_before"} <= keys
    assert "book_next_session" not in keys


def test_every_event_answers_with_the_plan_exactly_as_stored(hooks: Hooks) -> None:
    # The 202's plan is built from what the re-plan wrote, not read back: it must match.
    events = [
        ("treatment.completed", treatment_completed()),
        (
            "treatment.completed",
            treatment_completed(
                treatment="t-2", ended_at="2030-05-01T16:10:00+02:00", treatment__session_number=2
            ),
        ),
        ("treatment.completed", treatment_completed(treatment__needle_depth_mm=0.5)),
        ("appointment.booked", {"patient_id": "p-1", "next_session_at": "2030-07-01T10:00:00Z"}),
        ("appointment.cancelled", {"patient_id": "p-1"}),
        ("patient.updated", {"patient": {"external_id": "p-1", "timezone": "America/New_York"}}),
        ("patient.opted_out", {"patient_id": "p-1", "channel": "email"}),
        ("treatment.cancelled", {"treatment_id": "t-1"}),
    ]
    for kind, data in events:
        response = hooks.post_event(kind, data)
        assert response.status_code == 202, (kind, response.text)
        assert response.json()["plan"] == hooks.stored_plan(), kind
    assert {item["treatment_id"] for item in hooks.stored_plan()} == {"t-1", "t-2"}
