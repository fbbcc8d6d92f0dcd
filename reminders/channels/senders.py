"""PURE: which Twilio sender a clinic's texts go out as, and the key Twilio counts it by."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

# The key of the platform's sender when Twilio is not configured (texts go to the console).
UNCONFIGURED = "platform"


@dataclass(frozen=True)
class Sender:
    """A from-number or Messaging Service, and the account it belongs to ('' = the platform's)."""

    from_: str = ""
    messaging_service_sid: str = ""
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)

    @property
    def key(self) -> str:
        """The sender as Twilio counts it (rate limits, opt-outs): the service, else the number."""
        return self.messaging_service_sid or self.from_ or UNCONFIGURED

    @property
    def own_account(self) -> bool:
        """True when the sender belongs to a clinic's own (sub)account with its own token."""
        return bool(self.account_sid and self.auth_token)


# The platform's sender where none is configured (tests, the console channel).
NO_PLATFORM = Sender()


class SenderSettings(Protocol):
    """A clinic's sender columns (reminders.models.Clinic has them)."""

    sms_from: str
    sms_messaging_service_sid: str
    twilio_account_sid: str
    twilio_auth_token: str


def platform_sender(settings: Any) -> Sender:
    """The platform's default sender from Settings (twilio_from / twilio_messaging_service_sid)."""
    return Sender(
        from_=settings.twilio_from,
        messaging_service_sid=settings.twilio_messaging_service_sid,
    )


def own_key(clinic: SenderSettings) -> str:
    """The key of the clinic's own sender; '' when it uses the platform's."""
    return clinic.sms_messaging_service_sid or clinic.sms_from


def clinic_sender(clinic: SenderSettings, platform: Sender) -> Sender:
    """The sender the clinic's texts go out as: its own when it has one, else the platform's."""
    if not own_key(clinic):
        return platform
    return Sender(
        from_=clinic.sms_from,
        messaging_service_sid=clinic.sms_messaging_service_sid,
        account_sid=clinic.twilio_account_sid,
        auth_token=clinic.twilio_auth_token,
    )


def own_keys_sending_as(key: str, platform: Sender) -> tuple[str, ...]:
    """The own_key() values of the clinics whose texts go out as `key` ('' = the platform's)."""
    return (key, "") if key == platform.key else (key,)


def own_key_column(clinics: sa.FromClause) -> sa.ColumnElement[str]:
    """own_key() in SQL, for a clinic table (or an alias of it)."""
    service = sa.func.nullif(clinics.c.sms_messaging_service_sid, "")
    return sa.func.coalesce(service, clinics.c.sms_from)
