"""The options of `reminders clinics create/set`, and how their values become clinic settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from reminders.channels.senders import own_key, platform_sender
from reminders.config import load_settings
from reminders.intake.clinics import ClinicError
from reminders.models import Clinic

TOKEN_ENV = "REMINDERS_CLINIC_TWILIO_AUTH_TOKEN"

Name = Annotated[str | None, typer.Option(help="Clinic name shown to patients.")]
Phone = Annotated[str | None, typer.Option(help="Clinic phone, shown in HELP replies.")]
Email = Annotated[str | None, typer.Option(help="Where warning-sign alerts go.")]
Booking = Annotated[str | None, typer.Option("--booking-url", help="Booking page URL.")]
Region = Annotated[str | None, typer.Option("--region", help="Region for national numbers (US).")]
Window = Annotated[str | None, typer.Option(help="Local sending window, e.g. 08:00-20:00.")]
Locale = Annotated[
    str | None, typer.Option(help="Language of new patients whose events name none: en or es.")
]
SmsPerDay = Annotated[
    int | None, typer.Option("--sms-per-day", help="SMS cap per local day, 0-24 (0: no SMS).")
]
SmsPerWeek = Annotated[
    int | None, typer.Option("--sms-per-week", help="SMS cap per rolling 7 days, 0-168.")
]
Overrides = Annotated[
    str | None,
    typer.Option(
        "--protocol-overrides", help='JSON or @file.json: {"steps": {"day_1": {"at": "09:00"}}}.'
    ),
]

SmsFrom = Annotated[
    str | None, typer.Option("--sms-from", help="The clinic's own Twilio number (E.164).")
]
ServiceSid = Annotated[
    str | None,
    typer.Option("--messaging-service-sid", help="The clinic's own Messaging Service (MG...)."),
]
AccountSid = Annotated[
    str | None,
    typer.Option(
        "--twilio-account-sid",
        help=f"The clinic's own Twilio (sub)account (AC...); its auth token is read from "
        f"${TOKEN_ENV} or asked for, never echoed.",
    ),
]
DefaultSender = Annotated[
    bool, typer.Option("--default-sender", help="Go back to the platform's sender and account.")
]


def settings_of(**options: Any) -> dict[str, Any]:
    """Option values as clinic settings; '@path' reads overrides from a file."""
    overrides = options.pop("protocol_overrides", None)
    if overrides and overrides.startswith("@"):
        overrides = Path(overrides[1:]).read_text(encoding="utf-8")
    return {**options, "protocol_overrides": overrides}


def sender_settings(
    sms_from: str | None, service_sid: str | None, account_sid: str | None, default: bool
) -> dict[str, Any]:
    """The sender options as clinic settings; the account's token from the env or a prompt."""
    token = None
    if account_sid is not None:
        token = os.environ.get(TOKEN_ENV) or typer.prompt(
            "Auth token of that account", hide_input=True
        )
    return {
        "sms_from": sms_from,
        "sms_messaging_service_sid": service_sid,
        "twilio_account_sid": account_sid,
        "twilio_auth_token": token,
        "default_sender": default or None,
    }


def refuse_platform_sender(clinic: Clinic) -> None:
    """A clinic's own sender or account must not be the platform's: shared unawares."""
    settings = load_settings()
    platform = platform_sender(settings)
    if own_key(clinic) and own_key(clinic) in (platform.from_, platform.messaging_service_sid):
        raise ClinicError("sender: that is the platform's sender; use --default-sender")
    if clinic.twilio_account_sid and clinic.twilio_account_sid == settings.twilio_account_sid:
        raise ClinicError(
            "twilio_account_sid: that is the platform's account; leave --twilio-account-sid out"
        )
