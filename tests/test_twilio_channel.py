"""The Twilio SMS channel, driven through the real `twilio` client against the fake server."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from reminders.channels.base import Outgoing, SendError
from reminders.channels.registry import build_channels
from reminders.channels.senders import Sender
from reminders.channels.twilio import TwilioChannel, TwilioConfig
from reminders.channels.twilio_transport import RebasedHttpClient
from reminders.config import Settings
from tests.fakes.twilio_channel import channel_for
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM

TO = "+15551230001"


def sms(message_id: int = 7, to: str = TO, text: str = "Glow Clinic: hi") -> Outgoing:
    return Outgoing(message_id, f"t1:first_night:sms:{message_id}", "sms", to, text)


def send_error(channel: TwilioChannel, outgoing: Outgoing) -> SendError:
    with pytest.raises(SendError) as caught:
        channel.send(outgoing)
    return caught.value


def test_send_returns_the_twilio_sid_and_twilio_receives_the_message(fake_twilio) -> None:
    sid = channel_for(fake_twilio).send(sms(7, text="Glow Clinic: Hi Ana"))
    assert sid.startswith("SM") and len(sid) == 34
    [received] = fake_twilio.messages()
    assert received["sid"] == sid
    assert (received["to"], received["from"], received["body"]) == (TO, FROM, "Glow Clinic: Hi Ana")
    assert received["status_callback"] == (
        "https://reminders.example.org/v1/twilio/status?message_id=7"
    )
    assert fake_twilio.sends_for(7) == 1


def test_a_time_bound_prompt_asks_twilio_to_drop_it_rather_than_deliver_it_late(
    fake_twilio,
) -> None:
    now = datetime(2026, 11, 21, 20, 0, tzinfo=UTC)
    channel = TwilioChannel(channel_for(fake_twilio).config, clock=lambda: now)
    channel.send(replace(sms(1), valid_until=now + timedelta(hours=2)))
    channel.send(replace(sms(2), valid_until=now + timedelta(days=3)))
    channel.send(sms(3))
    periods = [m["validity_period"] for m in fake_twilio.messages()]
    assert periods == [7200, 36000, None]


def test_a_messaging_service_is_used_instead_of_a_from_number(fake_twilio) -> None:
    service = "MG" + "a" * 32
    channel_for(fake_twilio, from_="", messaging_service_sid=service).send(sms())
    [received] = fake_twilio.messages()
    assert received["messaging_service_sid"] == service
    assert received["from"] == ""


def test_an_api_key_authenticates_instead_of_the_auth_token(fake_twilio) -> None:
    channel = channel_for(
        fake_twilio, auth_token="", api_key_sid="SK" + "b" * 32, api_key_secret="secret"
    )
    assert channel.send(sms()).startswith("SM")


def test_a_wrong_auth_token_is_a_transient_configuration_error(fake_twilio) -> None:
    error = send_error(channel_for(fake_twilio, auth_token="wrong"), sms())
    assert (error.kind, error.code) == ("transient", "20003")
    assert "Twilio settings" in str(error)


@pytest.mark.parametrize("status, code", [(429, 20429), (429, None), (400, 20429)])
def test_rate_limits_are_transient(fake_twilio, status, code) -> None:
    fake_twilio.fail(status, code, times=1)
    error = send_error(channel_for(fake_twilio), sms())
    assert error.kind == "transient"
    assert error.code == str(code or status)


@pytest.mark.parametrize("code", [21211, 21614, 30004, 30005, 30006, 30007])
def test_refusals_for_the_number_are_permanent(fake_twilio, code) -> None:
    fake_twilio.fail(400, code)
    error = send_error(channel_for(fake_twilio), sms())
    assert (error.kind, error.code, error.opt_out) == ("permanent", str(code), False)


def test_an_unsubscribed_recipient_is_permanent_and_opts_the_patient_out(fake_twilio) -> None:
    fake_twilio.fail(400, 21610, to=TO)
    error = send_error(channel_for(fake_twilio), sms())
    assert (error.kind, error.code, error.opt_out) == ("permanent", "21610", True)
    assert channel_for(fake_twilio).send(sms(8, to="+15551230002")).startswith("SM")


def test_a_server_error_is_ambiguous(fake_twilio) -> None:
    fake_twilio.fail(500, times=1)
    error = send_error(channel_for(fake_twilio), sms())
    assert (error.kind, error.code) == ("ambiguous", "500")


def test_a_timeout_after_twilio_received_the_message_is_ambiguous(fake_twilio) -> None:
    fake_twilio.hold(30, times=1)
    error = send_error(channel_for(fake_twilio, timeout_seconds=0.5), sms(9))
    assert error.kind == "ambiguous"
    assert fake_twilio.sends_for(9) == 1


def test_a_connection_dropped_after_twilio_received_the_message_is_ambiguous(fake_twilio) -> None:
    fake_twilio.drop(times=1)
    error = send_error(channel_for(fake_twilio), sms(10))
    assert error.kind == "ambiguous"
    assert fake_twilio.sends_for(10) == 1


def test_a_refused_connection_is_transient_because_nothing_was_sent() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = TwilioChannel(
        TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, from_=FROM, api_base=f"http://127.0.0.1:{port}")
    )
    error = send_error(channel, sms())
    assert error.kind == "transient"


def test_lookup_finds_a_message_twilio_received_although_the_send_timed_out(fake_twilio) -> None:
    channel = channel_for(fake_twilio, timeout_seconds=0.5)
    before = datetime.now(UTC)
    fake_twilio.hold(30, times=1)
    send_error(channel, sms(11, text="Glow Clinic: day 1"))
    [found] = channel.sent_to(TO, before, datetime.now(UTC))
    assert found.body == "Glow Clinic: day 1"
    assert found.status == "queued"
    assert found.sid == fake_twilio.messages()[0]["sid"]
    assert channel.fetch(found.sid) == found


def test_lookup_says_none_when_twilio_never_received_the_message(fake_twilio) -> None:
    channel = channel_for(fake_twilio)
    before = datetime.now(UTC)
    fake_twilio.fail(429, 20429, times=1)
    send_error(channel, sms(12))
    assert channel.sent_to(TO, before, datetime.now(UTC)) == []


def test_lookup_ignores_other_recipients_other_times_and_known_sids(fake_twilio) -> None:
    channel = channel_for(fake_twilio)
    channel.send(sms(13, to="+15551230003", text="Glow Clinic: other"))
    first = channel.send(sms(14, text="Glow Clinic: first"))
    second = channel.send(sms(15, text="Glow Clinic: second"))
    now = datetime.now(UTC)
    assert channel.sent_to(TO, now + timedelta(seconds=2), now + timedelta(minutes=1)) == []
    window = (TO, now - timedelta(minutes=1), now + timedelta(seconds=1))
    assert {m.sid for m in channel.sent_to(*window)} == {first, second}
    assert [m.sid for m in channel.sent_to(*window, exclude={first})] == [second]


def test_fetch_of_an_unknown_sid_is_none(fake_twilio) -> None:
    assert channel_for(fake_twilio).fetch("SM" + "0" * 32) is None


def test_concurrent_sends_from_a_thread_pool_each_reach_twilio_once(fake_twilio) -> None:
    channel = channel_for(fake_twilio)
    with ThreadPoolExecutor(max_workers=8) as pool:
        sids = list(pool.map(lambda i: channel.send(sms(i, text=f"Glow Clinic: {i}")), range(200)))
    assert len(set(sids)) == 200
    assert fake_twilio.sends_by_message_id() == {i: 1 for i in range(200)}


def test_the_api_base_keeps_its_path_prefix() -> None:
    client = RebasedHttpClient("http://127.0.0.1:9/twilio/", timeout=1)
    assert client.rebase("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?To=1") == (
        "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC1/Messages.json?To=1"
    )
    assert RebasedHttpClient("", timeout=1).rebase("https://api.twilio.com/x") == (
        "https://api.twilio.com/x"
    )


def test_registry_picks_twilio_when_configured_and_the_console_otherwise(fake_twilio) -> None:
    configured = Settings(
        **{k.removeprefix("REMINDERS_").lower(): v for k, v in fake_twilio.env().items()}
    )
    assert isinstance(build_channels(configured)["sms"], TwilioChannel)
    assert build_channels(Settings())["sms"].name == "sms"
    assert not isinstance(build_channels(Settings())["sms"], TwilioChannel)


SUBACCOUNT, SUBACCOUNT_TOKEN = "AC" + "b" * 32, "clinic-subaccount-token"
CLINIC_FROM = "+15557770001"


def test_a_clinics_own_number_in_its_subaccount_sends_with_that_account(fake_twilio) -> None:
    fake_twilio.add_subaccount(SUBACCOUNT, SUBACCOUNT_TOKEN)
    channel = channel_for(fake_twilio)
    own = Sender(from_=CLINIC_FROM, account_sid=SUBACCOUNT, auth_token=SUBACCOUNT_TOKEN)
    channel.send(replace(sms(1), sender=own))
    channel.send(sms(2))
    sent = {(m["from"], m["account_sid"]) for m in fake_twilio.messages()}
    assert sent == {(CLINIC_FROM, SUBACCOUNT), (FROM, ACCOUNT_SID)}


def test_a_clinics_own_number_on_the_platform_account_uses_the_platform_account(
    fake_twilio,
) -> None:
    channel_for(fake_twilio).send(replace(sms(1), sender=Sender(from_=CLINIC_FROM)))
    [received] = fake_twilio.messages()
    assert (received["from"], received["account_sid"]) == (CLINIC_FROM, ACCOUNT_SID)


def test_reconciliation_asks_the_account_the_message_went_through(fake_twilio) -> None:
    fake_twilio.add_subaccount(SUBACCOUNT, SUBACCOUNT_TOKEN)
    channel = channel_for(fake_twilio)
    own = Sender(from_=CLINIC_FROM, account_sid=SUBACCOUNT, auth_token=SUBACCOUNT_TOKEN)
    sid = channel.send(replace(sms(1), sender=own))
    since, until = (
        datetime.now(UTC) - timedelta(minutes=5),
        datetime.now(UTC) + timedelta(minutes=1),
    )
    assert [m.sid for m in channel.sent_to(TO, since, until, account=own)] == [sid]
    assert channel.sent_to(TO, since, until) == []


def test_every_accounts_client_has_its_own_connections_and_the_timeout(fake_twilio) -> None:
    channel = channel_for(fake_twilio, timeout_seconds=3.0)
    own = Sender(from_=CLINIC_FROM, account_sid=SUBACCOUNT, auth_token=SUBACCOUNT_TOKEN)
    platform, clinic = channel.client(), channel.client(own)
    assert platform is not clinic and clinic is channel.client(own)
    for client in (platform, clinic):
        assert isinstance(client.http_client, RebasedHttpClient)
        assert client.http_client.timeout == 3.0
