"""Opting out takes effect at once even when the clinic's stored settings cannot be planned with."""

from __future__ import annotations

import logging
from datetime import time

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, select

from reminders.consent.unsubscribe import token_for
from reminders.db import session_scope
from reminders.intake.clinics import create_clinic
from reminders.models import CLINICS, Message
from tests.webhooks.conftest import CLINIC, LINK_SECRET, Hooks, treatment_completed

PHONE = "+34612345678"  # the number treatment_completed() enrolls


def enroll(
    hooks: Hooks,
    patient: str = "p-1",
    treatment: str = "t-1",
    clinic: str = CLINIC,
    secret: str | None = None,
) -> None:
    data = treatment_completed(patient=patient, treatment=treatment)
    response = hooks.post_event("treatment.completed", data, clinic=clinic, secret=secret)
    assert response.status_code == 202, response.text


def break_window(hooks: Hooks, clinic: str = CLINIC) -> None:
    """Store a window that wraps past midnight, as an older version could have."""
    with hooks.engine.begin() as connection:
        connection.execute(
            sa.update(CLINICS)
            .where(CLINICS.c.id == clinic)
            .values(window_start=time(22), window_end=time(6))
        )


def text(hooks: Hooks, body: str, sid: str) -> None:
    form = {"From": PHONE, "Body": body, "MessageSid": sid}
    response = hooks.post_twilio("/v1/twilio/inbound", form)
    assert response.status_code == 200, response.text


def statuses(hooks: Hooks, channel: str, patient: str = "p-1") -> set[str]:
    return {status for (_, ch), status in hooks.plan(patient).items() if ch == channel}


def test_stop_at_a_clinic_with_an_unworkable_window_opts_out_and_stops_pending_sms(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    enroll(hooks)
    break_window(hooks)
    with caplog.at_level(logging.WARNING, logger="reminders.consent.optout"):
        text(hooks, "STOP", "SM1")
    assert hooks.patient().sms_opted_out_at is not None
    assert statuses(hooks, "sms") == {"skipped"}
    assert statuses(hooks, "email") == {"pending"}
    [warning] = [r.getMessage() for r in caplog.records if r.name == "reminders.consent.optout"]
    assert "'glow'" in warning and PHONE not in warning and "Ana" not in warning


def test_stop_reaches_the_same_number_at_a_working_clinic_when_another_clinic_is_broken(
    hooks: Hooks,
) -> None:
    with session_scope(hooks.engine) as session:
        _clinic, other_secret = create_clinic(
            session, "other", "Other Clinic", default_region="ES", window="00:00-00:00"
        )
    enroll(hooks, "p-1", "t-1")
    enroll(hooks, "p-2", "t-2", clinic="other", secret=other_secret)
    break_window(hooks)
    text(hooks, "STOP", "SM1")
    for patient in ("p-1", "p-2"):
        assert hooks.patient(patient).sms_opted_out_at is not None
        assert "pending" not in statuses(hooks, "sms", patient)


def test_start_at_a_broken_clinic_opts_back_in_and_texts_resume_once_it_is_fixed(
    hooks: Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    enroll(hooks)
    text(hooks, "STOP", "SM1")
    break_window(hooks)
    with caplog.at_level(logging.WARNING, logger="reminders.consent.optout"):
        text(hooks, "START", "SM2")
    assert hooks.patient().sms_opted_out_at is None
    assert statuses(hooks, "sms") == {"skipped"}  # re-planning waits for the clinic's fix
    assert any("until the clinic is fixed" in r.getMessage() for r in caplog.records)
    with hooks.engine.begin() as connection:
        connection.execute(sa.update(CLINICS).values(window_start=time(8), window_end=time(20)))
    enroll(hooks)  # the clinic's next event for the patient re-plans
    assert statuses(hooks, "sms") == {"pending"}


def test_the_email_unsubscribe_link_works_at_a_broken_clinic(hooks: Hooks) -> None:
    enroll(hooks)
    break_window(hooks)
    patient_id = hooks.patient().id
    assert patient_id is not None
    done = hooks.client.post(f"/v1/unsubscribe/{token_for(patient_id, LINK_SECRET.encode())}")
    assert done.status_code == 200
    assert hooks.patient().email_opted_out_at is not None
    assert statuses(hooks, "email") == {"skipped"}
    assert statuses(hooks, "sms") == {"pending"}


def test_a_21610_report_opts_out_a_patient_of_a_broken_clinic(hooks: Hooks) -> None:
    enroll(hooks)
    with Session(hooks.engine) as session:
        first = session.exec(
            select(Message).where(Message.channel == "sms").order_by(col(Message.due_at))
        ).first()
        assert first is not None and first.id is not None
        first.status, first.provider_id = "sent", "SMout1"
        session.add(first)
        session.commit()
        sent_id = first.id
    break_window(hooks)
    form = {"MessageSid": "SMout1", "MessageStatus": "undelivered", "ErrorCode": "21610"}
    response = hooks.post_twilio(f"/v1/twilio/status?message_id={sent_id}", form)
    assert response.status_code == 200
    assert hooks.patient().sms_opted_out_at is not None
    assert "pending" not in statuses(hooks, "sms")


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("patient.opted_out", {"patient_id": "p-1", "channel": "sms"}),
        ("patient.updated", {"patient": {"external_id": "p-1", "consent": {"sms": False}}}),
    ],
)
def test_a_clinic_withdrawing_sms_consent_is_applied_although_its_window_is_broken(
    hooks: Hooks, kind: str, data: dict[str, object]
) -> None:
    enroll(hooks)
    break_window(hooks)
    response = hooks.post_event(kind, data)
    assert response.status_code == 202, response.text
    patient = hooks.patient()
    assert patient.sms_opted_out_at is not None or not patient.consent_sms
    assert statuses(hooks, "sms") == {"skipped"}
    assert statuses(hooks, "email") == {"pending"}
    assert any("re-planning waits" in w for w in response.json()["warnings"])
