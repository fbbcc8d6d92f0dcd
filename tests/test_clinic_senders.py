"""A clinic's own Twilio sender: validated, audited with the token masked, and which one is used."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from reminders.channels.senders import Sender, clinic_sender, own_keys_sending_as
from reminders.db import session_scope
from reminders.intake.clinics import ClinicError, apply_settings, create_clinic, update_clinic
from reminders.models import AuditEntry, Clinic
from reminders.ops.audit import CHANGED

SERVICE, ACCOUNT, TOKEN = "MG" + "a" * 32, "AC" + "b" * 32, "subaccount-token-123"
PLATFORM = Sender(from_="+15550001111")


def clinic(**fields: object) -> Clinic:
    return Clinic(id="c", name="C", default_region="ES", **fields)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"sms_from": "12"}, "sms_from"),
        ({"sms_messaging_service_sid": "MG123"}, "sms_messaging_service_sid"),
        ({"sms_messaging_service_sid": "AC" + "a" * 32}, "sms_messaging_service_sid"),
        ({"sms_from": "+34911000200", "twilio_account_sid": "AC12"}, "twilio_account_sid"),
        ({"sms_from": "+34911000200", "twilio_account_sid": ACCOUNT}, "twilio_account_sid"),
        ({"sms_from": "+34911000200", "twilio_auth_token": TOKEN}, "twilio_account_sid"),
        ({"twilio_account_sid": ACCOUNT, "twilio_auth_token": TOKEN}, "twilio_account_sid"),
        ({"sms_from": "+34911000200", "sms_messaging_service_sid": SERVICE}, "sms_from"),
        ({"default_sender": True, "sms_from": "+34911000200"}, "default_sender"),
    ],
)
def test_a_sender_that_is_not_whole_is_refused_naming_the_setting(
    settings: dict[str, object], field: str
) -> None:
    target = clinic()
    with pytest.raises(ClinicError) as caught:
        apply_settings(target, settings)
    assert str(caught.value).split(":")[0] == field


def test_a_clinic_without_a_sender_uses_the_platforms() -> None:
    assert clinic_sender(clinic(), PLATFORM) == PLATFORM


def test_a_national_number_is_stored_in_e164_and_becomes_the_sender() -> None:
    target = clinic()
    apply_settings(target, {"sms_from": "911 000 200"})
    assert target.sms_from == "+34911000200"
    assert clinic_sender(target, PLATFORM).key == "+34911000200"


def test_a_messaging_service_replaces_the_number_and_is_the_key() -> None:
    target = clinic()
    apply_settings(target, {"sms_from": "+34911000200"})
    apply_settings(target, {"sms_messaging_service_sid": SERVICE})
    assert (target.sms_from, clinic_sender(target, PLATFORM).key) == ("", SERVICE)


def test_a_subaccount_comes_with_the_sender() -> None:
    target = clinic()
    settings = {"sms_from": "+34911000200", "twilio_account_sid": ACCOUNT,
                "twilio_auth_token": TOKEN}  # fmt: skip
    apply_settings(target, settings)
    sender = clinic_sender(target, PLATFORM)
    assert sender.own_account and sender.account_sid == ACCOUNT
    assert TOKEN not in repr(sender)


def test_default_sender_goes_back_to_the_platforms_and_forgets_the_account() -> None:
    target = clinic()
    apply_settings(target, {"sms_from": "+34911000200", "twilio_account_sid": ACCOUNT,
                            "twilio_auth_token": TOKEN})  # fmt: skip
    apply_settings(target, {"default_sender": True})
    assert (target.sms_from, target.twilio_account_sid, target.twilio_auth_token) == ("", "", "")
    assert clinic_sender(target, PLATFORM) == PLATFORM


def test_clinics_on_the_platforms_sender_share_it_and_an_own_number_is_its_own() -> None:
    assert own_keys_sending_as(PLATFORM.key, PLATFORM) == (PLATFORM.key, "")
    assert own_keys_sending_as("+34911000200", PLATFORM) == ("+34911000200",)


def test_a_sender_change_is_audited_with_the_token_masked(engine: Engine) -> None:
    with session_scope(engine) as session:
        created, _ = create_clinic(session, "glow", "Glow", default_region="ES")
        settings = {"sms_from": "+34911000200", "twilio_account_sid": ACCOUNT,
                    "twilio_auth_token": TOKEN}  # fmt: skip
        update_clinic(session, created, settings, "cli:ana")
    with session_scope(engine) as session:
        entry = session.exec(select(AuditEntry).where(AuditEntry.action == "clinic update")).one()
        assert entry.after is not None
        assert entry.after["sms_from"] == "+34911000200"
        assert entry.after["twilio_account_sid"] == ACCOUNT
        assert entry.after["twilio_auth_token"] == CHANGED
        assert TOKEN not in repr(entry.model_dump())
