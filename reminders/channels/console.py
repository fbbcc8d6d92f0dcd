"""Console channel: prints a readable SMS or email, and optionally appends it as JSON lines."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TextIO

from reminders.channels.base import Outgoing
from reminders.masking import mask_address

# A console "send" returns PROVIDER_PREFIX + the message id: how the dashboard, `status` and
# /metrics tell a printed message from one a provider took.
PROVIDER_PREFIX = "console-"
log = logging.getLogger("reminders.console")


def is_console(provider_id: str | None) -> bool:
    """Whether a row's provider id says the console channel printed it instead of sending it."""
    return bool(provider_id) and str(provider_id).startswith(PROVIDER_PREFIX)


class ConsoleChannel:
    """Stands in for Twilio or SMTP when no credentials are set, so `make up` just works."""

    def __init__(
        self,
        name: str,
        stream: TextIO | None = None,
        record: Path | None = None,
        show_bodies: bool = False,
    ) -> None:
        # Texts carry names and clinical details: printed only when asked for (a terminal on
        # the embedded defaults), never into a deployment's collected logs.
        self.name, self.show_bodies = name, show_bodies
        # None: logged at INFO (a Celery worker would file plain prints under WARNING).
        self._stream = stream
        self._record = record
        self._lock = threading.Lock()

    def send(self, outgoing: Outgoing) -> str:
        """Print the message and return a console provider id derived from its key."""
        with self._lock:
            if self._stream is None:
                log.info("\n%s", self.format(outgoing).rstrip("\n"))
            else:
                self._stream.write(self.format(outgoing))
                self._stream.flush()
            if self._record is not None:
                self._record.parent.mkdir(parents=True, exist_ok=True)
                with self._record.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record_of(outgoing)) + "\n")
        return f"{PROVIDER_PREFIX}{outgoing.message_id}"

    def format(self, outgoing: Outgoing) -> str:
        """A boxed, human-readable rendering that says it was printed, not sent."""
        to = mask_address(outgoing.to)
        header = (
            f"── CONSOLE, NOT SENT: {outgoing.channel.upper()} to {to} · "
            f"message {outgoing.message_id} "
        )
        lines = [header.ljust(72, "─")]
        if not self.show_bodies:
            lines.append("(text not shown: set REMINDERS_CONSOLE_SHOW_BODIES=1 to print it)")
        elif outgoing.subject:
            lines.append(f"Subject: {outgoing.subject}")
            lines.append("")
        if self.show_bodies:
            lines.extend(outgoing.text.rstrip().splitlines())
        lines.append("─" * 72)
        return "\n".join(lines) + "\n"


def record_of(outgoing: Outgoing) -> dict[str, object]:
    """The JSON-lines record of one console send."""
    return {
        "message_id": outgoing.message_id,
        "idempotency_key": outgoing.idempotency_key,
        "channel": outgoing.channel,
        "to": outgoing.to,
        "subject": outgoing.subject,
        "text": outgoing.text,
    }
