"""The channel interface: send an outgoing message, get a provider id or one error type."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reminders.channels.senders import Sender
from reminders.outbox.lifecycle import AMBIGUOUS, PERMANENT, TRANSIENT
from reminders.redaction import redact


@dataclass(frozen=True)
class Outgoing:
    """A rendered message ready for a channel."""

    message_id: int
    idempotency_key: str
    channel: str
    to: str
    text: str
    subject: str = ""
    html: str = ""
    clinic_name: str = ""
    unsubscribe_url: str = ""
    reply_to: str = ""
    # Past this moment the message is useless (a time-bound prompt); providers may drop it.
    valid_until: datetime | None = None
    # The SMS sender (the clinic's own or the platform's); None = the channel's default.
    sender: Sender | None = None


class SendError(Exception):
    """A failed send: `kind` is transient, permanent or ambiguous; `code` the provider's.

    `opt_out` is True when the provider says the recipient has opted out (Twilio 21610): the
    caller must record the patient's opt-out for the channel, not just fail this message.
    """

    def __init__(
        self, kind: str, message: str, code: str | None = None, *, opt_out: bool = False
    ) -> None:
        if kind not in (TRANSIENT, PERMANENT, AMBIGUOUS):
            raise ValueError(f"unknown SendError kind {kind!r}")
        # Redacted here, once: the text goes to logs and to the row's last_error and reason,
        # and providers quote the recipient ("550 <ana@example.com>: no such user").
        super().__init__(redact(message))
        self.kind, self.code, self.opt_out = kind, code, opt_out


class Channel(Protocol):
    """Anything that can deliver an Outgoing and return the provider's id for it."""

    name: str

    def send(self, outgoing: Outgoing) -> str:
        """Hand the message to the provider; raise SendError on failure."""
        ...
