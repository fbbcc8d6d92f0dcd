"""What the fake Twilio server remembers: received messages, request counts and fault rules."""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

ERROR_TEXT = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    # Twilio quotes the recipient here: our logs and rows must not (reminders/redaction.py).
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21604: "A 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    20404: "The requested resource was not found",
    30004: "Message blocked",
    30005: "Unknown destination handset",
    30006: "Landline or unreachable carrier",
    30007: "Message filtered",
}


@dataclass
class Fault:
    """One rule: answer `status`/`code` (or hold the response `hold_seconds`) when it fires.

    A rule fires with `probability` (seeded), at most `times` times (None: forever), and only
    for `to` when given. `record` keeps the message as received although an error is answered,
    as Twilio may on a 5xx; a hold always records first (the request did reach Twilio).
    `drop` records the message, then closes the connection without any answer.
    """

    status: int = 500
    code: int | None = None
    probability: float = 1.0
    times: int | None = None
    to: str | None = None
    hold_seconds: float = 0.0
    record: bool = False
    drop: bool = False
    fired: int = 0

    def public(self) -> dict[str, Any]:
        """The rule as plain JSON values."""
        return asdict(self)


@dataclass
class Received:
    """A message the fake accepted, in Twilio's vocabulary."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    message_id: int | None
    date_created: datetime
    # Wall-clock seconds, finer than Twilio's whole-second dates: tests order sends by it.
    accepted_at: float = 0.0
    status: str = "queued"
    error_code: int | None = None
    validity_period: int | None = None
    callbacks: list[str] = field(default_factory=list)


def message_id_of(callback: str | None) -> int | None:
    """Our outbox id, read from the StatusCallback URL's `message_id` query parameter."""
    if not callback:
        return None
    values = parse_qs(urlsplit(callback).query).get("message_id")
    try:
        return int(values[0]) if values else None
    except ValueError:
        return None


def new_sid(prefix: str = "SM") -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


class TwilioState:
    """Thread-safe memory of the fake: every request counted, every accepted message kept."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self.faults: list[Fault] = []
        self.messages: dict[str, Received] = {}
        self.attempts: Counter[int | None] = Counter()
        self.requests = 0

    def reset(self, seed: int | None = None) -> None:
        """Forget messages, counts and faults."""
        with self._lock:
            self._rng = random.Random(seed)
            self.faults.clear()
            self.messages.clear()
            self.attempts.clear()
            self.requests = 0

    def add_fault(self, fault: Fault) -> None:
        """Append a rule; rules are tried in the order they were added."""
        with self._lock:
            self.faults.append(fault)

    def clear_faults(self) -> None:
        """Remove every rule: all later requests succeed."""
        with self._lock:
            self.faults.clear()

    def decide(self, to: str, message_id: int | None) -> Fault | None:
        """Count a create request and pick the rule that fires for it, if any."""
        with self._lock:
            self.requests += 1
            self.attempts[message_id] += 1
            for fault in self.faults:
                if fault.to is not None and fault.to != to:
                    continue
                if fault.times is not None and fault.fired >= fault.times:
                    continue
                if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                    continue
                fault.fired += 1
                return fault
            return None

    def record(self, account_sid: str, form: dict[str, str]) -> Received:
        """Keep an accepted message and return it."""
        callback = form.get("StatusCallback")
        service = form.get("MessagingServiceSid")
        received = Received(
            sid=new_sid(),
            account_sid=account_sid,
            to=form.get("To", ""),
            from_=form.get("From", "") or "",
            body=form.get("Body", ""),
            messaging_service_sid=service,
            status_callback=callback,
            message_id=message_id_of(callback),
            date_created=datetime.now(UTC).replace(microsecond=0),
            accepted_at=time.time(),
            status="accepted" if service and not form.get("From") else "queued",
            validity_period=int(form["ValidityPeriod"]) if form.get("ValidityPeriod") else None,
        )
        with self._lock:
            self.messages[received.sid] = received
        return received

    def snapshot(self) -> list[Received]:
        """All accepted messages, oldest first."""
        with self._lock:
            return list(self.messages.values())

    def get(self, sid: str) -> Received | None:
        """One accepted message by SID."""
        with self._lock:
            return self.messages.get(sid)

    def sends_for(self, message_id: int) -> int:
        """How many times Twilio accepted our outbox row `message_id` (more than 1 = duplicate)."""
        return sum(1 for m in self.snapshot() if m.message_id == message_id)

    def sends_to(self, to: str, body: str | None = None) -> int:
        """How many accepted messages went to `to` (with exactly `body`, when given)."""
        return sum(1 for m in self.snapshot() if m.to == to and (body is None or m.body == body))

    def sends_by_message_id(self) -> dict[int, int]:
        """Accepted messages per outbox id."""
        counts: Counter[int] = Counter(
            m.message_id for m in self.snapshot() if m.message_id is not None
        )
        return dict(counts)

    def attempts_by_message_id(self) -> dict[int, int]:
        """Create requests per outbox id, whatever the fake answered."""
        with self._lock:
            return {k: v for k, v in self.attempts.items() if k is not None}

    def attempts_for(self, message_id: int) -> int:
        """Create requests that carried `message_id`, whatever the fake answered."""
        with self._lock:
            return self.attempts[message_id]
