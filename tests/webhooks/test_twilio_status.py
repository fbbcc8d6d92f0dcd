"""Twilio status callbacks move a message forwards only, and are signature-checked."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from reminders.models import Message, Patient
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment
from tests.webhooks.conftest import Hooks


def one_message(hooks: Hooks, status: str, provider_id: str | None = None) -> int:
    make_clinic(hooks.engine, "status-clinic")
    patient, treatment = make_patient_with_treatment(hooks.engine, "status-clinic", "p-s")
    assert patient.id is not None and treatment.id is not None
    insert_due_messages(
        hooks.engine, 1, "status-clinic", patient.id, treatment.id, datetime.now(UTC)
    )
    with Session(hooks.engine) as session:
        row = session.exec(select(Message)).one()
        row.status, row.provider_id = status, provider_id
        session.add(row)
        session.commit()
        assert row.id is not None
        return row.id


def report(
    hooks: Hooks, message_id: int | str, status: str, sid: str = "SM1", code: str = ""
) -> int:
    form = {"MessageSid": sid, "MessageStatus": status}
    if code:
        form["ErrorCode"] = code
    response = hooks.post_twilio(f"/v1/twilio/status?message_id={message_id}", form)
    return response.status_code


def stored(hooks: Hooks, message_id: int) -> Message:
    with Session(hooks.engine) as session:
        row = session.get(Message, message_id)
        assert row is not None
        return row


def test_statuses_move_forwards_sent_then_delivered(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sending", "SM1")
    assert report(hooks, message_id, "queued") == 200
    assert stored(hooks, message_id).status == "sending"
    assert report(hooks, message_id, "sent") == 200
    assert stored(hooks, message_id).status == "sent"
    assert report(hooks, message_id, "delivered") == 200
    row = stored(hooks, message_id)
    assert row.status == "delivered" and row.delivered_at is not None


def test_a_late_sent_never_overwrites_delivered(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    report(hooks, message_id, "delivered")
    report(hooks, message_id, "sent")
    assert stored(hooks, message_id).status == "delivered"


def test_undelivered_is_terminal_and_keeps_the_error_code(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    report(hooks, message_id, "undelivered", code="30003")
    report(hooks, message_id, "delivered")
    row = stored(hooks, message_id)
    assert (row.status, row.provider_code) == ("failed", "30003")


def test_a_callback_resolves_a_message_in_unknown_status_and_records_its_sid(hooks: Hooks) -> None:
    message_id = one_message(hooks, "unknown", None)
    report(hooks, message_id, "delivered", sid="SM42")
    row = stored(hooks, message_id)
    assert (row.status, row.provider_id) == ("delivered", "SM42")
    assert row.sent_at is not None


def test_a_callback_for_another_providers_sid_is_ignored(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    report(hooks, message_id, "delivered", sid="SM-other")
    assert stored(hooks, message_id).status == "sent"


def test_an_unknown_message_id_gets_200_so_twilio_stops_retrying(hooks: Hooks) -> None:
    assert report(hooks, 999999, "delivered") == 200
    assert report(hooks, "not-a-number", "delivered") == 200


def test_an_unsigned_or_wrongly_signed_callback_is_refused(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    form = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    unsigned = hooks.client.post(f"/v1/twilio/status?message_id={message_id}", data=form)
    assert unsigned.status_code == 401
    forged = hooks.post_twilio(f"/v1/twilio/status?message_id={message_id}", form, token="wrong")
    assert forged.status_code == 401
    assert stored(hooks, message_id).status == "sent"


def test_an_unsubscribed_number_reported_by_callback_opts_the_patient_out_of_sms(
    hooks: Hooks,
) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    assert report(hooks, message_id, "undelivered", code="21610") == 200
    assert stored(hooks, message_id).status == "failed"
    with Session(hooks.engine) as session:
        patient = session.exec(select(Patient).where(Patient.external_id == "p-s")).one()
    assert patient.sms_opted_out_at is not None


def test_another_failure_code_leaves_sms_consent_alone(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    assert report(hooks, message_id, "undelivered", code="30003") == 200
    with Session(hooks.engine) as session:
        patient = session.exec(select(Patient).where(Patient.external_id == "p-s")).one()
    assert patient.sms_opted_out_at is None


def patient_opted_out_of_sms(hooks: Hooks) -> bool:
    with Session(hooks.engine) as session:
        patient = session.exec(select(Patient).where(Patient.external_id == "p-s")).one()
    return patient.sms_opted_out_at is not None


def test_an_unsubscribed_report_naming_another_sid_opts_nobody_out(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    before = hooks.counts()
    assert report(hooks, message_id, "undelivered", sid="SM-other", code="21610") == 200
    assert stored(hooks, message_id).status == "sent"
    assert not patient_opted_out_of_sms(hooks)
    assert hooks.counts() == before


def test_a_callback_without_a_message_sid_is_refused_and_changes_nothing(hooks: Hooks) -> None:
    message_id = one_message(hooks, "sent", "SM1")
    before = hooks.counts()
    form = {"MessageStatus": "undelivered", "ErrorCode": "21610"}
    answer = hooks.post_twilio(f"/v1/twilio/status?message_id={message_id}", form)
    assert answer.status_code == 400, answer.text
    assert answer.json() == {"detail": "MessageSid: required"}
    assert stored(hooks, message_id).status == "sent"
    assert not patient_opted_out_of_sms(hooks)
    assert hooks.counts() == before
