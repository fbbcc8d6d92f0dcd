"""Every field is checked; a 422 lists every problem and the database is left untouched."""

from __future__ import annotations

from typing import Any

import pytest

from reminders.intake.events import InvalidEventError, TreatmentCompleted, parse_event
from tests.webhooks.conftest import CLINIC, NOW, Hooks, treatment_completed


def problems_of(kind: str, data: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidEventError) as caught:
        parse_event({"type": kind, "data": data}, "ES", NOW)
    return caught.value.problems


def fields_of(kind: str, data: Any) -> set[str]:
    return {problem["field"] for problem in problems_of(kind, data)}


BAD_FIELDS = [
    ("patient__phone", "12", "data.patient.phone"),
    ("patient__phone", "+1 555 000", "data.patient.phone"),
    ("patient__email", "ana@", "data.patient.email"),
    ("patient__timezone", "Mars/Olympus", "data.patient.timezone"),
    ("patient__timezone", None, "data.patient.timezone"),
    ("patient__locale", "fr", "data.patient.locale"),
    ("patient__first_name", "", "data.patient.first_name"),
    ("patient__first_name", "Ana\x00", "data.patient.first_name"),
    ("patient__external_id", "", "data.patient.external_id"),
    ("patient__external_id", "x" * 129, "data.patient.external_id"),
    ("patient__consent", "yes", "data.patient.consent"),
    ("treatment__ended_at", "2030-05-01T15:30:00", "data.treatment.ended_at"),
    ("treatment__ended_at", "yesterday", "data.treatment.ended_at"),
    ("treatment__ended_at", "0001-01-01T00:30:00+01:00", "data.treatment.ended_at"),
    ("treatment__next_session_at", "9999-12-31T23:59:00-01:00", "data.treatment.next_session_at"),
    ("treatment__area", "elbow", "data.treatment.area"),
    ("patient__phone_number", "+34612345678", "data.patient.phone_number"),
    ("treatment__depth", 1.0, "data.treatment.depth"),
    ("treatment__needle_depth_mm", 9.5, "data.treatment.needle_depth_mm"),
    ("treatment__needle_depth_mm", "deep", "data.treatment.needle_depth_mm"),
    ("treatment__session_number", 0, "data.treatment.session_number"),
    ("treatment__sessions_planned", 40, "data.treatment.sessions_planned"),
    ("treatment__session_number", 4, "data.treatment.session_number"),
    ("treatment__next_session_at", "2030-04-01T10:00:00+02:00", "data.treatment.next_session_at"),
    ("treatment__next_session_at", "2030-06-01T10:00:00", "data.treatment.next_session_at"),
]


@pytest.mark.parametrize(("path", "value", "field"), BAD_FIELDS)
def test_each_bad_field_is_named(path: str, value: Any, field: str) -> None:
    assert field in fields_of("treatment.completed", treatment_completed(**{path: value}))


def test_national_numbers_are_read_in_the_clinics_region_and_stored_as_e164() -> None:
    event = parse_event(
        {"type": "treatment.completed", "data": treatment_completed(patient__phone="612 34 56 78")},
        "ES",
        NOW,
    )
    assert isinstance(event, TreatmentCompleted)
    assert event.data.patient.phone == "+34612345678"


def test_emails_and_locales_are_normalized() -> None:
    data = treatment_completed(patient__email="Ana@EXAMPLE.com", patient__locale="es-MX")
    event = parse_event({"type": "treatment.completed", "data": data}, "ES", NOW)
    assert isinstance(event, TreatmentCompleted)
    assert (event.data.patient.email, event.data.patient.locale) == ("Ana@example.com", "es")


def test_unknown_types_and_missing_data_are_named() -> None:
    for body, named in (
        ({"type": "treatment.exploded"}, {"type"}),
        ({"data": {}}, {"type"}),
        ({"type": "treatment.cancelled"}, {"data"}),
        ([], {"body"}),
    ):
        with pytest.raises(InvalidEventError) as caught:
            parse_event(body, "ES", NOW)  # type: ignore[arg-type]
        assert {p["field"] for p in caught.value.problems} == named


def test_every_event_type_checks_its_own_fields() -> None:
    assert fields_of("treatment.cancelled", {}) == {"data.treatment_id"}
    assert fields_of("appointment.booked", {"patient_id": "p-1"}) == {"data.next_session_at"}
    assert fields_of(
        "appointment.booked", {"patient_id": "p", "next_session_at": "2030-01-01"}
    ) == {"data.next_session_at"}
    assert fields_of("appointment.cancelled", {}) == {"data.patient_id"}
    assert fields_of("patient.updated", {"patient": {"external_id": "p", "phone": "1"}}) == {
        "data.patient.phone"
    }
    assert fields_of("patient.opted_out", {"patient_id": "p", "channel": "fax"}) == {"data.channel"}
    assert fields_of("treatment.cancelled", {"treatment_id": "t", "why": "typo"}) == {"data.why"}


def test_a_422_lists_every_problem_and_writes_nothing(hooks: Hooks) -> None:
    before = hooks.counts()
    data = treatment_completed(
        patient__phone="12", patient__timezone="Nowhere", treatment__ended_at="2030-05-01T10:00"
    )
    response = hooks.post_event("treatment.completed", data, webhook_id="msg_bad")
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["problems"]} == {
        "data.patient.phone",
        "data.patient.timezone",
        "data.treatment.ended_at",
    }
    assert hooks.counts() == before


def test_a_rejected_delivery_can_be_fixed_and_resent_under_the_same_id(hooks: Hooks) -> None:
    bad = hooks.post_event("treatment.completed", treatment_completed(patient__phone="12"), "msg_x")
    assert bad.status_code == 422
    good = hooks.post_event("treatment.completed", treatment_completed(), "msg_x")
    assert good.status_code == 202


def test_a_body_that_is_not_json_gets_a_422_and_writes_nothing(hooks: Hooks) -> None:
    from reminders.cli.webhook_sender import signed_headers

    before = hooks.counts()
    body = b"{not json"
    headers = signed_headers(hooks.secret, body)
    response = hooks.client.post(f"/v1/clinics/{CLINIC}/events", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["problems"][0]["field"] == "body"
    assert hooks.counts() == before


def test_an_event_about_an_unknown_patient_gets_a_422_and_writes_nothing(hooks: Hooks) -> None:
    before = hooks.counts()
    response = hooks.post_event(
        "appointment.booked", {"patient_id": "ghost", "next_session_at": "2030-06-01T10:00:00Z"}
    )
    assert response.status_code == 422
    assert response.json()["problems"] == [
        {"field": "data.patient_id", "problem": "no patient with this external id"}
    ]
    assert hooks.counts() == before
