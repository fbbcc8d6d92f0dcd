"""A real TwilioChannel pointed at the fake Twilio server."""

from __future__ import annotations

from reminders.channels.twilio import TwilioChannel, TwilioConfig
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, FROM, FakeTwilio


def channel_for(fake: FakeTwilio, **overrides: object) -> TwilioChannel:
    values: dict[str, object] = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_": FROM,
        "api_base": fake.base_url,
        "timeout_seconds": 5.0,
        "public_url": "https://reminders.example.org/",
    }
    values.update(overrides)
    return TwilioChannel(TwilioConfig(**values))  # type: ignore[arg-type]
