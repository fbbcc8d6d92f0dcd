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
