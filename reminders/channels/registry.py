"""Build the channel for each kind from settings: real providers when configured, else console."""

from __future__ import annotations

from pathlib import Path

from reminders.channels.base import Channel
from reminders.channels.console import ConsoleChannel
from reminders.config import Settings, SettingsError


def build_channels(settings: Settings) -> dict[str, Channel]:
    """SMS and email channels for this process: Twilio / SMTP when configured, else console."""
    record = Path(settings.console_file) if settings.console_file else None
    shown = settings.console_show_bodies
    sms: Channel = ConsoleChannel("sms", record=record, show_bodies=shown)
    email: Channel = ConsoleChannel("email", record=record, show_bodies=shown)
    if settings.twilio_configured:
        from reminders.channels.twilio import TwilioChannel, TwilioConfig

        sms = TwilioChannel(TwilioConfig.from_settings(settings))
    if settings.smtp_url:
        from reminders.channels.smtp import SmtpChannel, SmtpConfig

        try:
            config = SmtpConfig.from_url(
                settings.smtp_url, settings.smtp_from, settings.smtp_timeout_seconds
            )
        except ValueError as exc:
            raise SettingsError(f"bad configuration: {exc}") from None
        email = SmtpChannel(config)
    return {"sms": sms, "email": email}


def console_kinds(settings: Settings) -> list[str]:
    """The channels that print instead of sending: SMS without Twilio, email without SMTP."""
    printed = [] if settings.twilio_configured else ["sms"]
    return printed + ([] if settings.smtp_url else ["email"])


def console_notice(settings: Settings) -> str:
    """A loud start-up notice when messages are printed, not sent ('' when all are sent)."""
    printed = console_kinds(settings)
    if not printed:
        return ""
    what = " and ".join(kind.upper() if kind == "sms" else kind for kind in printed)
    needs = {
        "sms": "REMINDERS_TWILIO_* for SMS",
        "email": "REMINDERS_SMTP_URL for email",
    }
    rule = "!" * 72
    return "\n".join(
        [
            rule,
            f"!! CONSOLE MODE: {what} messages are PRINTED here, NOT SENT to patients.",
            f"!! To send them set {' and '.join(needs[kind] for kind in printed)}"
            " (README: Configuration).",
            "!! Their rows are marked 'console' in the dashboard, `reminders status` and /metrics.",
            rule,
        ]
    )
