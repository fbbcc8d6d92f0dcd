"""What the webhook keeps, refuses and warns about: omitted fields, future sessions, spacing."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from reminders.models import CLINICS
from tests.webhooks.conftest import CLINIC, OPERATOR_TOKEN, Hooks, treatment_completed

COURSE_RULE = "Significant change needs a series of 3-6 sessions, spaced 4-6 weeks apart"


def completed(hooks: Hooks, data: dict[str, Any]) -> dict[str, Any]:
    response = hooks.post_event("treatment.completed", data)
    assert response.status_code == 202, response.text
    answer: dict[str, Any] = response.json()
    return answer


def without(data: dict[str, Any], *names: str) -> dict[str, Any]:
    """The event data with these patient fields left out."""
    data["patient"] = {k: v for k, v in data["patient"].items() if k not in names}
    return data


def test_an_event_omitting_consent_keeps_the_stored_consent(hooks: Hooks) -> None:
    completed(hooks, treatment_completed())
    completed(hooks, without(treatment_completed(treatment__needle_depth_mm=0.5), "consent"))
    patient = hooks.patient()
    assert (patient.consent_sms, patient.consent_email) == (True, True)
    assert hooks.plan()[("day_1", "sms")] == "pending"


def test_an_event_omitting_phone_and_email_keeps_them(hooks: Hooks) -> None:
    completed(hooks, treatment_completed())
    completed(hooks, without(treatment_completed(), "phone", "email"))
    patient = hooks.patient()
    assert (patient.phone, patient.email) == ("+34612345678", "ana@example.com")


@pytest.mark.parametrize("withdrawn", [False, None])
def test_an_explicit_false_or_null_consent_withdraws_it(hooks: Hooks, withdrawn: Any) -> None:
    completed(hooks, treatment_completed())
    answer = completed(hooks, treatment_completed(patient__consent={"sms": withdrawn}))
    patient = hooks.patient()
    assert (patient.consent_sms, patient.consent_email) == (False, True)
    assert "no SMS consent: nothing will be texted" in answer["warnings"]


@pytest.mark.parametrize("blank", [None, ""])
def test_an_explicit_null_or_blank_phone_removes_the_number(hooks: Hooks, blank: Any) -> None:
    completed(hooks, treatment_completed())
    answer = completed(hooks, treatment_completed(patient__phone=blank))
    assert hooks.patient().phone is None
    assert "no phone number: nothing will be texted" in answer["warnings"]


def test_a_session_ending_16_minutes_from_now_is_refused_and_writes_nothing(
    hooks: Hooks,
) -> None:
    counts = hooks.counts()
    ended = (hooks.clock.now + timedelta(minutes=16)).isoformat()
    response = hooks.post_event("treatment.completed", treatment_completed(ended_at=ended))
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["field"] == "data.treatment.ended_at"
    assert "more than 15 minutes in the future" in problem["problem"]
    assert "appointment.booked" in problem["problem"]
    assert hooks.counts() == counts


def test_a_session_ending_14_minutes_from_now_is_accepted(hooks: Hooks) -> None:
    ended = (hooks.clock.now + timedelta(minutes=14)).isoformat()
    completed(hooks, treatment_completed(ended_at=ended))
    assert hooks.counts()["treatment"] == 1


def test_a_202_gives_the_reason_of_every_skipped_row_and_warnings_at_top_level(
    hooks: Hooks,
) -> None:
    answer = completed(hooks, treatment_completed(patient__consent={"sms": False, "email": True}))
    skipped = [item for item in answer["plan"] if item["status"] == "skipped"]
    assert {item["channel"] for item in skipped} == {"sms"}
    assert all(item["reason"] == "no consent or contact for sms" for item in skipped)
    pending = [item for item in answer["plan"] if item["status"] == "pending"]
    assert pending and all(item["reason"] is None for item in pending)
    assert answer["warnings"] == ["no SMS consent: nothing will be texted"]


def test_a_fully_reachable_patient_gets_no_warnings(hooks: Hooks) -> None:
    assert completed(hooks, treatment_completed())["warnings"] == []


@pytest.mark.parametrize(("weeks", "warned"), [(2, True), (5, False), (12, False), (14, True)])
def test_a_next_session_outside_4_to_12_weeks_is_accepted_with_a_warning(
    hooks: Hooks, weeks: int, warned: bool
) -> None:
    ended = hooks.clock.now - timedelta(minutes=30)
    next_at = (ended + timedelta(weeks=weeks)).isoformat()
    answer = completed(
        hooks,
        treatment_completed(ended_at=ended.isoformat(), treatment__next_session_at=next_at),
    )
    assert hooks.treatment().next_session_at is not None
    spacing = [w for w in answer["warnings"] if COURSE_RULE in w]
    assert bool(spacing) is warned
    if warned:
        assert spacing[0].startswith(f"treatment t-1: next session {weeks:.1f} weeks later")


@pytest.mark.parametrize("weeks", [2, 14])
def test_a_booked_session_outside_the_spacing_shows_its_warning_on_the_dashboard(
    hooks: Hooks, weeks: int
) -> None:
    completed(hooks, treatment_completed())
    next_at = (hooks.treatment().ended_at + timedelta(weeks=weeks)).isoformat()
    booked = hooks.post_event(
        "appointment.booked", {"patient_id": "p-1", "next_session_at": next_at}
    )
    assert booked.status_code == 202, booked.text
    assert any(COURSE_RULE in warning for warning in booked.json()["warnings"])
    page = hooks.client.get(
        f"/ops/patients/{hooks.patient().id}",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert page.status_code == 200
    assert COURSE_RULE in page.text and f"next session {weeks:.1f} weeks later" in page.text


def test_events_for_a_clinic_whose_stored_window_cannot_work_are_refused_not_failed(
    hooks: Hooks,
) -> None:
    # As an older version could have stored it, straight into the database.
    with hooks.engine.begin() as connection:
        connection.execute(
            sa.update(CLINICS)
            .where(CLINICS.c.id == CLINIC)
            .values(window_start=time(22), window_end=time(6))
        )
    counts = hooks.counts()
    response = hooks.post_event("treatment.completed", treatment_completed())
    assert response.status_code == 422
    [problem] = response.json()["problems"]
    assert problem["field"] == "clinic.window"
    assert "wraps past midnight" in problem["problem"]
    assert hooks.counts() == counts
