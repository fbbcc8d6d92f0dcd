"""STOP, START, HELP and free replies, end to end through the HTTP API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, select

from reminders.models import InboundReply
from tests.webhooks.conftest import Hooks, treatment_completed

PHONE = "+34612345678"


def enroll(hooks: Hooks, patient: str = "p-1", treatment: str = "t-1") -> None:
    response = hooks.post_event(
        "treatment.completed", treatment_completed(patient=patient, treatment=treatment)
    )
    assert response.status_code == 202, response.text


def text(hooks: Hooks, body: str, sid: str = "SMin1", sender: str = PHONE) -> str:
    response = hooks.post_twilio(
        "/v1/twilio/inbound", {"From": sender, "Body": body, "MessageSid": sid}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    return response.text


def sms_statuses(hooks: Hooks, patient: str = "p-1") -> set[str]:
    return {status for (_, channel), status in hooks.plan(patient).items() if channel == "sms"}


def replies(hooks: Hooks) -> list[InboundReply]:
    with Session(hooks.engine) as session:
        return list(session.exec(select(InboundReply)))


def test_stop_opts_the_number_out_and_stops_pending_sms_for_every_patient_with_it(
    hooks: Hooks,
) -> None:
    enroll(hooks, "p-1", "t-1")
    enroll(hooks, "p-2", "t-2")
    text(hooks, "Stop.")
    for patient in ("p-1", "p-2"):
        assert hooks.patient(patient).sms_opted_out_at is not None
        assert "pending" not in sms_statuses(hooks, patient)
    emails = {s for (_, channel), s in hooks.plan().items() if channel == "email"}
    assert emails == {"pending"}
    assert [reply.kind for reply in replies(hooks)] == ["opt_out"]


def test_spanish_baja_opts_out_too(hooks: Hooks) -> None:
    enroll(hooks)
    text(hooks, "BAJA")
    assert hooks.patient().sms_opted_out_at is not None


def test_start_opts_back_in_and_replans_what_is_still_ahead(hooks: Hooks) -> None:
    enroll(hooks)
    text(hooks, "STOP", sid="SM1")
    text(hooks, "start", sid="SM2")
    assert hooks.patient().sms_opted_out_at is None
    assert sms_statuses(hooks) == {"pending"}


def test_a_redelivered_text_is_handled_once(hooks: Hooks) -> None:
    enroll(hooks)
    text(hooks, "STOP", sid="SM1")
    text(hooks, "STOP", sid="SM1")
    assert len(replies(hooks)) == 1


def test_help_answers_with_the_clinics_name_and_phone(hooks: Hooks) -> None:
    enroll(hooks)
    twiml = text(hooks, "help")
    assert "Glow Clinic" in twiml and "911 23 45 67" in twiml  # national: a Spanish patient
    assert "<Message>" in twiml


def test_a_plain_reply_is_stored_for_operators_without_alerting(hooks: Hooks) -> None:
    enroll(hooks)
    twiml = text(hooks, "Thank you, all good!")
    assert "<Message>" not in twiml
    stored = replies(hooks)
    assert [(r.kind, r.body, r.alerted_at) for r in stored] == [
        ("reply", "Thank you, all good!", None)
    ]
    assert stored[0].patient_id == hooks.patient().id
    assert hooks.alerts.getvalue() == ""


def test_a_warning_sign_alerts_the_clinic_by_email_at_once(hooks: Hooks) -> None:
    enroll(hooks)
    text(hooks, "Tengo fiebre y la zona está muy hinchada")
    [stored] = replies(hooks)
    assert stored.kind == "warning" and stored.alerted_at is not None
    alert = hooks.alerts.getvalue()
    assert "fever" in alert and "swelling" in alert and "p-1" in alert


def test_a_text_from_an_unknown_number_is_stored_and_help_is_generic(hooks: Hooks) -> None:
    twiml = text(hooks, "HELP", sender="+15555550100")
    assert "Reply STOP" in twiml
    assert replies(hooks)[0].patient_id is None


def test_an_unsigned_inbound_text_is_refused_and_changes_nothing(hooks: Hooks) -> None:
    enroll(hooks)
    response = hooks.client.post("/v1/twilio/inbound", data={"From": PHONE, "Body": "STOP"})
    assert response.status_code == 401
    assert hooks.patient().sms_opted_out_at is None


def test_start_skips_prompts_that_fell_due_while_opted_out_instead_of_sending_them_late(
    hooks: Hooks,
) -> None:
    hooks.clock.now = datetime.now(UTC)  # STOP and START are applied at the wall clock's time
    ended = (hooks.clock.now - timedelta(hours=1)).isoformat()
    response = hooks.post_event("treatment.completed", treatment_completed(ended_at=ended))
    assert response.status_code == 202
    text(hooks, "STOP", sid="SM1")
    text(hooks, "START", sid="SM2")
    plan = hooks.plan()
    assert plan[("first_night", "sms")] == "skipped"
    assert plan[("book_next_session", "sms")] == "pending"


def test_help_answers_in_the_patients_language(hooks: Hooks) -> None:
    english = treatment_completed(
        patient="p-en", treatment="t-en", patient__locale="en", patient__phone="+34 622 000 111"
    )
    response = hooks.post_event("treatment.completed", english)
    assert response.status_code == 202
    assert "Reply STOP" in text(hooks, "HELP", sender="+34622000111")
    enroll(hooks)
    assert "Responde STOP para darte de baja" in text(hooks, "ayuda", sid="SM2")


def test_a_number_that_texted_stop_stays_opted_out_when_enrolled_again(hooks: Hooks) -> None:
    enroll(hooks, "p-1", "t-1")
    text(hooks, "STOP")
    enroll(hooks, "p-new", "t-new")
    assert hooks.patient("p-new").sms_opted_out_at is not None
    assert "pending" not in sms_statuses(hooks, "p-new")


def test_a_patient_who_texted_stop_stays_opted_out_when_the_clinic_sends_them_again(
    hooks: Hooks,
) -> None:
    enroll(hooks, "p-1", "t-1")
    text(hooks, "STOP")
    enroll(hooks, "p-1", "t-2")
    assert hooks.patient("p-1").sms_opted_out_at is not None
    assert "pending" not in sms_statuses(hooks, "p-1")


def test_a_patient_given_a_number_that_texted_stop_is_opted_out_of_sms(hooks: Hooks) -> None:
    enroll(hooks, "p-1", "t-1")
    text(hooks, "STOP")
    other = treatment_completed(patient="p-2", treatment="t-2", patient__phone="+34 699 000 111")
    assert hooks.post_event("treatment.completed", other).status_code == 202
    moved = {"patient": {"external_id": "p-2", "phone": PHONE}}
    assert hooks.post_event("patient.updated", moved).status_code == 202
    assert hooks.patient("p-2").sms_opted_out_at is not None
    assert "pending" not in sms_statuses(hooks, "p-2")


def test_a_nul_character_in_an_inbound_text_is_dropped_not_a_500(hooks: Hooks) -> None:
    enroll(hooks)
    text(hooks, "thanks\x00!", sid="SMnul")
    assert [reply.body for reply in replies(hooks)] == ["thanks!"]


def test_a_warning_sign_is_answered_once_per_episode_in_the_patients_language(
    hooks: Hooks,
) -> None:
    enroll(hooks)
    first = text(hooks, "Tengo fiebre", sid="SM1")
    assert "<Message>Glow Clinic: Hemos recibido tu mensaje" in first
    assert "911 23 45 67" in first and "emergencias" in first
    second = text(hooks, "Y ahora sale pus", sid="SM2")
    assert "<Message>" not in second
    assert text(hooks, "Tengo fiebre", sid="SM1") == second  # a redelivery: no second answer
    assert [r.alerted_at is not None for r in replies(hooks)] == [True, True]
    assert hooks.alerts.getvalue().count("Y ahora sale pus") == 1


def test_a_warning_sign_from_a_number_that_texted_stop_is_not_answered(hooks: Hooks) -> None:
    enroll(hooks)
    text(hooks, "STOP", sid="SM1")
    assert "<Message>" not in text(hooks, "I have a fever", sid="SM2")
    assert "fever" in hooks.alerts.getvalue()


def test_a_signed_empty_form_stores_nothing(hooks: Hooks) -> None:
    enroll(hooks)
    before = hooks.counts()
    for form in ({}, {"Body": "STOP"}, {"From": PHONE, "Body": "STOP"}):
        answer = hooks.post_twilio("/v1/twilio/inbound", form)
        assert answer.status_code == 400, answer.text
    assert hooks.counts() == before
    assert sms_statuses(hooks) == {"pending"}


def test_a_signed_form_with_a_nul_is_refused_by_name(hooks: Hooks) -> None:
    enroll(hooks)
    before = hooks.counts()
    answer = hooks.post_twilio(
        "/v1/twilio/inbound", {"From": PHONE, "Body": "STOP", "MessageSid": "SM\x00"}
    )
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"detail": "MessageSid: must not contain NUL characters"}
    assert hooks.counts() == before
