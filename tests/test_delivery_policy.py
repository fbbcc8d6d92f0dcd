"""The plain settings a deliverer runs by, and how they come from the worker's settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reminders.config import load_settings
from reminders.delivery.policy import DeliveryPolicy
from reminders.models import Clinic


def test_sends_start_and_last_within_half_the_lease() -> None:
    policy = DeliveryPolicy(
        "http://test", b"key", lease=timedelta(seconds=60), longest_send=timedelta(seconds=45)
    )
    assert policy.send_budget == policy.send_ceiling == timedelta(seconds=30)
    assert policy.chunk == 4 * policy.concurrency


def test_a_policy_without_a_link_key_is_refused() -> None:
    with pytest.raises(ValueError, match="link_key is required"):
        DeliveryPolicy("http://test", b"")


def test_the_sms_rate_limit_key_is_the_twilio_sender() -> None:
    settings = load_settings(
        twilio_account_sid="AC0",
        twilio_auth_token="token",
        twilio_from="+15550001111",
        twilio_timeout_seconds=7,
    )
    policy = DeliveryPolicy.from_settings(settings, b"key")
    clinic = Clinic(id="a", name="A")
    keys = (policy.rate_key("sms", clinic), policy.rate_key("email", clinic))
    assert keys == ("+15550001111", "email")
    assert policy.longest_send == timedelta(seconds=20)  # twice the slower timeout (SMTP's 10 s)
