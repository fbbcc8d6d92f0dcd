"""Console mode says so: at start-up, in the log (INFO, framed) and on every printed row."""

from __future__ import annotations

import logging

import pytest

from reminders.channels.base import Outgoing
from reminders.channels.console import ConsoleChannel, is_console
from reminders.channels.registry import console_kinds, console_notice
from reminders.config import load_settings

TWILIO = dict(
    twilio_account_sid="AC1", twilio_auth_token="t", twilio_from="+15550100000"
)  # fmt: skip


def test_with_no_provider_settings_start_up_says_both_channels_print_instead_of_sending() -> None:
    notice = console_notice(load_settings())
    assert "CONSOLE MODE: SMS and email messages are PRINTED here, NOT SENT" in notice
    assert "REMINDERS_TWILIO_*" in notice and "REMINDERS_SMTP_URL" in notice


def test_the_notice_names_only_the_channel_that_still_prints() -> None:
    assert console_kinds(load_settings(**TWILIO)) == ["email"]
    notice = console_notice(load_settings(**TWILIO))
    assert "email messages are PRINTED" in notice and "TWILIO" not in notice
    both = load_settings(**TWILIO, smtp_url="smtp://mail.example:587")
    assert console_kinds(both) == [] and console_notice(both) == ""


def test_a_console_message_is_logged_at_info_framed_and_says_it_was_not_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outgoing = Outgoing(7, "t1:first_night:sms", "sms", "+15555550123", "Hello Ana")
    with caplog.at_level(logging.INFO, logger="reminders.console"):
        provider_id = ConsoleChannel("sms", show_bodies=True).send(outgoing)
    [record] = caplog.records
    assert record.levelno == logging.INFO and record.name == "reminders.console"
    text = record.getMessage()
    assert "CONSOLE, NOT SENT: SMS to" in text and "message 7" in text and "Hello Ana" in text
    assert text.rstrip().endswith("─" * 72)
    assert "+15555550123" not in text  # masked, as everywhere
    assert is_console(provider_id) and not is_console("SM0123") and not is_console(None)
