"""Two clinics, one patient's number: STOP and warning replies follow the sender they reach."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from reminders.api.app import create_app
from reminders.channels.base import Channel
from reminders.channels.console import ConsoleChannel
from reminders.config import load_settings
from reminders.db import session_scope
from reminders.intake.clinics import create_clinic, update_clinic
from reminders.models import Clinic, InboundReply, Message, Patient, Treatment
from reminders.ops.unrouted import unrouted_replies
from tests.factories import record_sent
from tests.fakes.channels import ScriptedChannel
from tests.webhooks.conftest import (
    LINK_SECRET,
    NOW,
    PUBLIC_URL,
    TWILIO_TOKEN,
    Hooks,
    SetClock,
    treatment_completed,
)

PHONE = "+34612345678"
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
PLATFORM_AC = "AC" + "a" * 32
PLATFORM_FROM = "+34911000100"
BRIGHT_FROM = "+34911000200"
BRIGHT_SERVICE = "MG" + "b" * 32
BRIGHT_AC = "AC" + "b" * 32
BRIGHT_TOKEN = "bright-subaccount-token"
GLOW_ALERTS, BRIGHT_ALERTS = "alerts@glow.example", "alerts@bright.example"


class TwoClinics(Hooks):
    """The app with clinics glow and bright, each with the same patient's number."""

    secrets: dict[str, str]
    email: ScriptedChannel

    def enroll(self, clinic: str) -> None:
        body = treatment_completed(patient=f"{clinic}-p", treatment=f"{clinic}-t")
        response = self.post_event("treatment.completed", body, secret=self.secrets[clinic],
                                   clinic=clinic)  # fmt: skip
        assert response.status_code == 202, response.text

    def text(self, body: str, to: str = PLATFORM_FROM, sid: str = "SMin", **form: str) -> Any:
        fields = {"From": PHONE, "To": to, "Body": body, "MessageSid": sid}
        fields.setdefault("AccountSid", PLATFORM_AC)
        token = form.pop("token", TWILIO_TOKEN)
        response = self.post_twilio("/v1/twilio/inbound", {**fields, **form}, token=token)
        return response

    def stopped(self, clinic: str) -> bool:
        return self.patient(f"{clinic}-p").sms_opted_out_at is not None

    def wrote(self, clinic: str, sender: str, hours_ago: float) -> None:
        """The clinic's patient was sent an SMS from `sender` that long before NOW."""
        with Session(self.engine) as session:
            patient = session.exec(select(Patient).where(Patient.clinic_id == clinic)).one()
            treatment = session.exec(select(Treatment).where(Treatment.clinic_id == clinic)).one()
        record_sent(self.engine, patient, treatment, sender, NOW - timedelta(hours=hours_ago))

    def give_own_sender(self, clinic: str, **sender: str) -> None:
        with session_scope(self.engine) as session:
            found = session.get(Clinic, clinic)
            assert found is not None
            update_clinic(session, found, sender, "test")

    def replies(self) -> list[InboundReply]:
        with Session(self.engine) as session:
            return list(session.exec(select(InboundReply)))


@pytest.fixture
def two(engine: Engine, database_url: str, redis_url: str) -> Iterator[TwoClinics]:
    secrets = {}
    with session_scope(engine) as session:
        for clinic_id, name, email in (
            ("glow", "Glow", GLOW_ALERTS),
            ("bright", "Bright", BRIGHT_ALERTS),
        ):
            _clinic, secrets[clinic_id] = create_clinic(
                session, clinic_id, name, default_region="ES", email=email, window="00:00-00:00"
            )
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        twilio_account_sid=PLATFORM_AC,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from=PLATFORM_FROM,
        public_url=PUBLIC_URL,
        secret_key=LINK_SECRET,
    )
    email = ScriptedChannel("email")
    channels: dict[str, Channel] = {
        "sms": ConsoleChannel("sms", stream=io.StringIO(), show_bodies=True),
        "email": email,
    }
    clock = SetClock()
    with TestClient(create_app(settings, channels=channels, clock=clock)) as client:
        hooks = TwoClinics(client, engine, "", io.StringIO(), clock)
        hooks.secrets, hooks.email = secrets, email
        hooks.enroll("glow")
        hooks.enroll("bright")
        yield hooks


def alerted(two: TwoClinics) -> set[str]:
    """The inboxes a clinic alert was emailed to."""
    return {outgoing.to for outgoing in two.email.sent}


# STOP and START


def test_stop_to_a_shared_sender_stops_every_clinic_using_it(two: TwoClinics) -> None:
    assert two.text("STOP").status_code == 200
    assert two.stopped("glow") and two.stopped("bright")


def test_stop_to_own_number_stops_only_that_clinic(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    assert two.text("STOP", to=BRIGHT_FROM).status_code == 200
    assert two.stopped("bright") and not two.stopped("glow")


def test_stop_to_the_shared_sender_leaves_the_clinic_with_its_own_number(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("STOP")
    assert two.stopped("glow") and not two.stopped("bright")


def test_stop_to_a_clinics_messaging_service_stops_only_that_clinic(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_messaging_service_sid=BRIGHT_SERVICE)
    two.text("STOP", to="+34911000300", MessagingServiceSid=BRIGHT_SERVICE)
    assert two.stopped("bright") and not two.stopped("glow")


def test_a_number_in_a_service_we_do_not_send_through_is_matched_by_the_number(
    two: TwoClinics,
) -> None:
    # US A2P: every number sits in a Messaging Service, even one texts go out from by number.
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("STOP", to=BRIGHT_FROM, MessagingServiceSid="MG" + "d" * 32)
    assert two.stopped("bright") and not two.stopped("glow")
    assert [r.sender for r in two.replies()] == [BRIGHT_FROM]


def test_start_to_own_number_restarts_only_that_clinic(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("STOP", sid="SM1")
    two.text("STOP", to=BRIGHT_FROM, sid="SM2")
    two.text("START", to=BRIGHT_FROM, sid="SM3")
    assert two.stopped("glow") and not two.stopped("bright")


# Warning-sign replies


def test_warning_on_a_shared_sender_goes_to_the_clinic_that_wrote_last(two: TwoClinics) -> None:
    two.wrote("glow", PLATFORM_FROM, hours_ago=30)
    two.wrote("bright", PLATFORM_FROM, hours_ago=2)
    two.text("fever and pus")
    [reply] = two.replies()
    assert reply.clinic_id == "bright" and reply.sender == PLATFORM_FROM
    assert alerted(two) == {BRIGHT_ALERTS}


def test_warning_on_a_shared_sender_nobody_wrote_from_is_kept_for_an_operator(
    two: TwoClinics,
) -> None:
    two.text("fever and pus")
    [reply] = two.replies()
    assert reply.clinic_id is None and reply.patient_id is None
    assert reply.alert_due_at is None and alerted(two) == set()


def test_an_operator_sees_the_unrouted_warning_and_the_clinics_to_call(two: TwoClinics) -> None:
    two.text("fever and pus", sid="SM1")
    two.text("STOP", sid="SM2")
    with Session(two.engine) as session:
        [reply] = unrouted_replies(session, LONG_AGO)
        assert unrouted_replies(session, LONG_AGO, frozenset({"glow"})) == []
    assert (reply.kind, reply.clinics, reply.sender) == (
        "warning",
        ("bright", "glow"),
        PLATFORM_FROM,
    )
    assert PHONE not in reply.from_number


def test_a_routed_warning_is_not_left_for_an_operator(two: TwoClinics) -> None:
    two.wrote("glow", PLATFORM_FROM, hours_ago=3)
    two.text("fever and pus")
    with Session(two.engine) as session:
        assert unrouted_replies(session, LONG_AGO) == []


def test_warning_on_a_shared_sender_ignores_texts_from_other_senders(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.wrote("glow", PLATFORM_FROM, hours_ago=30)
    two.wrote("bright", BRIGHT_FROM, hours_ago=1)
    two.text("fever and pus")
    assert [r.clinic_id for r in two.replies()] == ["glow"]
    assert alerted(two) == {GLOW_ALERTS}


def test_warning_to_own_number_alerts_that_clinic_whoever_wrote_last(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.wrote("glow", PLATFORM_FROM, hours_ago=1)
    two.text("fever and pus", to=BRIGHT_FROM)
    assert [r.clinic_id for r in two.replies()] == ["bright"]
    assert alerted(two) == {BRIGHT_ALERTS}


def test_warning_on_the_shared_sender_goes_to_the_only_clinic_still_on_it(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("fever and pus")
    assert [r.clinic_id for r in two.replies()] == ["glow"]
    assert alerted(two) == {GLOW_ALERTS}


# Which auth token checks the signature


def test_a_text_from_a_clinics_subaccount_is_checked_with_its_token(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM, twilio_account_sid=BRIGHT_AC,
                        twilio_auth_token=BRIGHT_TOKEN)  # fmt: skip
    signed_by_us = two.text("fever", to=BRIGHT_FROM, AccountSid=BRIGHT_AC)
    assert signed_by_us.status_code == 401
    assert two.replies() == []
    answer = two.text("fever", to=BRIGHT_FROM, AccountSid=BRIGHT_AC, token=BRIGHT_TOKEN)
    assert answer.status_code == 200
    assert [r.clinic_id for r in two.replies()] == ["bright"]


def test_a_subaccount_token_does_not_pass_for_the_platform_account(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM, twilio_account_sid=BRIGHT_AC,
                        twilio_auth_token=BRIGHT_TOKEN)  # fmt: skip
    assert two.text("STOP", token=BRIGHT_TOKEN).status_code == 401
    assert not two.stopped("glow")


def test_a_webhook_from_an_unknown_account_is_forbidden_and_writes_nothing(two: TwoClinics) -> None:
    before = two.counts()
    answer = two.text("STOP", AccountSid="AC" + "c" * 32)
    assert answer.status_code == 403
    status = two.post_twilio(
        "/v1/twilio/status?message_id=1",
        {"MessageSid": "SM1", "MessageStatus": "delivered", "AccountSid": "AC" + "c" * 32},
    )
    assert status.status_code == 403
    assert two.counts() == before


def test_a_status_callback_from_a_subaccount_is_checked_with_its_token(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM, twilio_account_sid=BRIGHT_AC,
                        twilio_auth_token=BRIGHT_TOKEN)  # fmt: skip
    form = {"MessageSid": "SM1", "MessageStatus": "delivered", "AccountSid": BRIGHT_AC}
    path = "/v1/twilio/status?message_id=1"
    assert two.post_twilio(path, form).status_code == 401
    assert two.post_twilio(path, form, token=BRIGHT_TOKEN).status_code == 200


def test_a_subaccount_cannot_report_on_another_clinics_message(two: TwoClinics) -> None:
    """Bright's token signs reports; glow's message (no SID yet) and patient stay as they are."""
    two.give_own_sender("bright", sms_from=BRIGHT_FROM, twilio_account_sid=BRIGHT_AC,
                        twilio_auth_token=BRIGHT_TOKEN)  # fmt: skip
    with Session(two.engine) as session:
        glows = session.exec(select(Message).where(Message.clinic_id == "glow")).first()
        assert glows is not None and glows.provider_id is None
        glows.status = "sending"  # in flight: a report with its SID would settle it
        session.add(glows)
        session.commit()
        session.refresh(glows)
    before = two.counts()
    form = {"MessageSid": "SMx", "MessageStatus": "undelivered", "ErrorCode": "21610",
            "AccountSid": BRIGHT_AC}  # fmt: skip
    path = f"/v1/twilio/status?message_id={glows.id}"
    assert two.post_twilio(path, form, token=BRIGHT_TOKEN).status_code == 200
    with Session(two.engine) as session:
        after = session.get(Message, glows.id)
        assert after is not None and (after.status, after.provider_id) == (glows.status, None)
    assert not two.stopped("glow")
    assert two.counts() == before


# A new enrollment inherits an earlier STOP only from the same sender


def test_a_new_enrollment_on_the_same_sender_inherits_the_stop(two: TwoClinics) -> None:
    two.text("STOP")
    body = treatment_completed(patient="glow-p2", treatment="glow-t2")
    two.post_event("treatment.completed", body, secret=two.secrets["glow"], clinic="glow")
    assert two.patient("glow-p2").sms_opted_out_at is not None


def test_a_new_enrollment_on_another_sender_does_not_inherit_the_stop(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("STOP")
    assert two.stopped("glow")
    body = treatment_completed(patient="bright-p2", treatment="bright-t2")
    two.post_event("treatment.completed", body, secret=two.secrets["bright"], clinic="bright")
    assert two.patient("bright-p2").sms_opted_out_at is None


def change_number_to_phone(two: TwoClinics, clinic: str) -> Patient:
    """A second patient of the clinic, enrolled with another number, then changed to PHONE."""
    other = treatment_completed(patient=f"{clinic}-p3", treatment=f"{clinic}-t3",
                                patient__phone="+34 612 345 679")  # fmt: skip
    secret = two.secrets[clinic]
    assert (
        two.post_event("treatment.completed", other, secret=secret, clinic=clinic).status_code
        == 202
    )
    change = {"patient": {"external_id": f"{clinic}-p3", "phone": PHONE}}
    assert (
        two.post_event("patient.updated", change, secret=secret, clinic=clinic).status_code == 202
    )
    return two.patient(f"{clinic}-p3")


def test_a_number_changed_to_one_stopped_on_the_same_sender_stays_stopped(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("STOP")
    assert change_number_to_phone(two, "glow").sms_opted_out_at is not None


def test_a_number_changed_to_one_stopped_on_another_sender_is_not_stopped(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.text("STOP")
    assert change_number_to_phone(two, "bright").sms_opted_out_at is None


def test_help_to_a_clinics_own_number_names_that_clinic(two: TwoClinics) -> None:
    two.give_own_sender("bright", sms_from=BRIGHT_FROM)
    two.wrote("glow", PLATFORM_FROM, hours_ago=1)
    answer = two.text("HELP", to=BRIGHT_FROM)
    assert answer.status_code == 200 and "Bright" in answer.text and "Glow" not in answer.text
