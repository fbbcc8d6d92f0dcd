"""PURE: the plain settings deliveries run by; the collaborators are passed separately."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from reminders.config import Settings


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried."""

    max_attempts: int = 6
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0


@dataclass(frozen=True)
class DeliveryPolicy:
    """Links, retries, lease, time budget, concurrency and rate-limit keys of a deliverer."""

    public_url: str
    link_key: bytes
    retry: RetryPolicy = RetryPolicy()
    lease: timedelta = timedelta(seconds=120)
    budget: timedelta = timedelta(seconds=60)
    longest_send: timedelta = timedelta(seconds=20)
    concurrency: int = 8
    chunk_size: int | None = None
    senders: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.link_key:
            raise ValueError("link_key is required: it signs the unsubscribe links in emails")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")

    @property
    def chunk(self) -> int:
        """Sends between two database round trips."""
        # A few per thread keeps the round trips few and the batch a crash could leave
        # `unknown` small.
        return self.chunk_size or self.concurrency * 4

    @property
    def send_budget(self) -> timedelta:
        """How long after a batch starts new sends may still start."""
        # Well before the lease or the task time limit runs out.
        return min(self.budget, self.lease / 2)

    @property
    def send_ceiling(self) -> timedelta:
        """The longest one send may take (connect plus read timeout)."""
        # No send may start unless it ends before the lease does: past it the sweeper may hand
        # the row to reconciliation, and then to another worker.
        return min(self.longest_send, self.lease / 2)

    def sender(self, channel: str) -> str:
        """The rate-limit key of a channel."""
        return self.senders.get(channel, channel)

    @classmethod
    def from_settings(cls, settings: Settings, link_key: bytes) -> DeliveryPolicy:
        """The worker's policy; `link_key` is read by the caller (it may touch var/)."""
        sms = settings.twilio_messaging_service_sid or settings.twilio_from or "console-sms"
        timeout = max(settings.twilio_timeout_seconds, settings.smtp_timeout_seconds)
        return cls(
            public_url=settings.public_url,
            link_key=link_key,
            retry=RetryPolicy(
                settings.max_attempts, settings.retry_base_seconds, settings.retry_cap_seconds
            ),
            lease=timedelta(seconds=settings.lease_seconds),
            longest_send=timedelta(seconds=2 * timeout),
            concurrency=settings.send_concurrency,
            senders={"sms": sms, "email": "email"},
        )
