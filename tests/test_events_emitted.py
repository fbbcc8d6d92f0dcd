"""Each change a clinic's system hears about queues one event, for that clinic only."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from reminders.channels.base import SendError
from reminders.db import session_scope
from reminders.events.emission import emit
from reminders.inbound.handler import Inbound, handle_inbound
from reminders.models import MESSAGES, PATIENTS, Clinic
from reminders.outbox.status_callbacks import Report, apply_report
from tests.events_helpers import events, give_endpoint, kinds
from tests.factories import insert_due_messages, make_clinic, make_patient_with_treatment
from tests.fakes.channels import ScriptedChannel
from tests.outbox_helpers import deliverer, due_rows

NOW = datetime(2030, 5, 2, 10, 0, tzinfo=UTC)
SHARED = "+15555550123"


def two_clinics(engine: Engine, b_phone: str = "+15555550999") -> tuple[int, int]:
    """Clinics A and B with endpoints, a patient each (own numbers unless told), a sent SMS each."""
    ids = []
    for clinic, phone in (("clinic-a", SHARED), ("clinic-b", b_phone)):
        make_clinic(engine, clinic)
        give_endpoint(engine, clinic, f"https://{clinic}.example/hooks")
        patient, treatment = make_patient_with_treatment(engine, clinic, f"{clinic}-p")
        assert patient.id is not None and treatment.id is not None
        insert_due_messages(engine, 1, clinic, patient.id, treatment.id, NOW)
        with engine.begin() as connection:
            connection.execute(
                sa.update(PATIENTS).where(PATIENTS.c.id == patient.id).values(phone=phone)
            )
            ids.append(
                connection.execute(
                    sa.update(MESSAGES)
                    .where(MESSAGES.c.clinic_id == clinic)
                    .values(status="sent", provider_id=f"SM{clinic}")
                    .returning(MESSAGES.c.id)
                ).scalar_one()
            )
    return ids[0], ids[1]


def text(engine: Engine, body: str, sender: str = SHARED, sid: str = "SM-in-1") -> None:
    with session_scope(engine) as session:
        handle_inbound(session, Inbound(sender, body, sid), NOW)


def test_a_delivery_report_queues_message_delivered_for_that_clinic_only(engine: Engine) -> None:
    a_message, _ = two_clinics(engine)
    apply_report(engine, Report(a_message, "SMclinic-a", "delivered"), NOW)
    [event] = events(engine)
    assert event.clinic_id == "clinic-a" and event.event_type == "message.delivered"
    assert event.status == "pending" and event.next_attempt_at == NOW
    assert event.webhook_id.startswith("msg_")
    assert event.payload["data"] == {
        "message": {"id": a_message, "step": "day_1", "channel": "sms", "status": "delivered"},
        "patient": {"external_id": "clinic-a-p"},
        "treatment": {"external_id": "t-clinic-a-p"},
        "error_code": None,
    }


def test_a_repeated_or_stale_report_queues_nothing_more(engine: Engine) -> None:
    a_message, _ = two_clinics(engine)
    apply_report(engine, Report(a_message, "SMclinic-a", "delivered"), NOW)
    apply_report(engine, Report(a_message, "SMclinic-a", "delivered"), NOW)
    apply_report(engine, Report(a_message, "SMclinic-a", "sent"), NOW)
    assert kinds(engine) == ["message.delivered"]


def test_an_undelivered_report_queues_message_failed_with_the_code(engine: Engine) -> None:
    _, b_message = two_clinics(engine)
    apply_report(engine, Report(b_message, "SMclinic-b", "undelivered", "30003"), NOW)
    [event] = events(engine)
    assert (event.clinic_id, event.event_type) == ("clinic-b", "message.failed")
    assert event.payload["data"]["error_code"] == "30003"
    assert event.payload["data"]["message"]["status"] == "failed"


def test_a_clinic_without_an_endpoint_gets_no_events(engine: Engine) -> None:
    a_message, _ = two_clinics(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("UPDATE clinic SET events_url = '' WHERE id = 'clinic-a'"))
    apply_report(engine, Report(a_message, "SMclinic-a", "delivered"), NOW)
    text(engine, "I have a fever and pus")
    assert events(engine) == []


def test_a_send_the_provider_refuses_queues_message_failed(engine: Engine) -> None:
    [message_id] = due_rows(engine, now=NOW)
    give_endpoint(engine, "clinic-a")
    error = SendError("permanent", "21211: +15555550123 is not a valid number", "21211")
    deliverer(engine, ScriptedChannel("sms", [error]), clock=lambda: NOW).deliver(
        [message_id], "w1"
    )
    [event] = events(engine)
    assert event.event_type == "message.failed"
    assert event.payload["data"]["message"] == {
        "id": message_id, "step": "day_1", "channel": "sms", "status": "failed"
    }  # fmt: skip
    assert event.payload["data"]["error_code"] == "21211"
    assert "5555550123" not in str(event.payload)  # the provider's text, with the number, stays


def test_a_warning_reply_queues_replied_and_warning_sign_raised_for_its_clinic(
    engine: Engine,
) -> None:
    two_clinics(engine)
    text(engine, "I have a fever and pus")
    assert kinds(engine, "clinic-b") == []
    replied, raised = events(engine, "clinic-a")
    assert (replied.event_type, raised.event_type) == ("patient.replied", "warning_sign.raised")
    data = raised.payload["data"]
    assert data["warning_signs"] == ["pus", "fever"]
    assert data["reply"]["text"] == "I have a fever and pus"
    assert data["patient"] == {"external_id": "clinic-a-p"}
    assert replied.payload["data"] == data and replied.webhook_id != raised.webhook_id


def test_a_plain_reply_queues_only_patient_replied(engine: Engine) -> None:
    two_clinics(engine)
    text(engine, "thanks, all good", sender="+15555550999")
    [event] = events(engine)
    assert (event.clinic_id, event.event_type) == ("clinic-b", "patient.replied")
    assert event.payload["data"]["warning_signs"] == []


def test_help_start_and_unknown_numbers_queue_nothing(engine: Engine) -> None:
    two_clinics(engine)
    text(engine, "HELP", sid="SM1")
    text(engine, "START", sid="SM2")
    text(engine, "fever", sender="+15555550100", sid="SM3")
    assert events(engine) == []


def test_stop_to_a_shared_number_tells_each_clinic_about_its_own_patient_once(
    engine: Engine,
) -> None:
    two_clinics(engine, b_phone=SHARED)
    text(engine, "STOP", sid="SM1")
    text(engine, "STOP", sid="SM2")  # already stopped: no news
    found = {(e.clinic_id, e.event_type, e.payload["data"]["patient"]["external_id"])
             for e in events(engine)}  # fmt: skip
    assert found == {
        ("clinic-a", "patient.opted_out", "clinic-a-p"),
        ("clinic-b", "patient.opted_out", "clinic-b-p"),
    }
    assert {e.payload["data"]["source"] for e in events(engine)} == {"sms_stop"}


def test_the_reply_text_is_never_logged(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    two_clinics(engine)
    with caplog.at_level(logging.DEBUG):
        text(engine, "I have a fever and pus, secret words")
    assert "secret words" not in caplog.text


def test_emit_is_part_of_the_callers_transaction(engine: Engine) -> None:
    make_clinic(engine, "clinic-a")
    give_endpoint(engine, "clinic-a")
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        assert emit(session, clinic, "patient.replied", {}, NOW)
        raise RuntimeError("the change failed")
    assert events(engine) == []
    with Session(engine) as session:
        clinic = session.get(Clinic, "clinic-a")
        assert clinic is not None
        with pytest.raises(ValueError, match="unknown event type"):
            emit(session, clinic, "patient.sneezed", {}, NOW)
