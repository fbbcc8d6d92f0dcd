"""PURE: the plain settings deliveries run by; the collaborators are passed separately."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from reminders.channels.senders import Sender, SenderSettings, clinic_sender, platform_sender
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
    # The platform's SMS sender; a clinic with its own sends as that instead.
    sms_sender: Sender = Sender()

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

    def sender_of(self, channel: str, clinic: SenderSettings) -> Sender | None:
        """The SMS sender of the clinic's texts (None for email)."""
        return clinic_sender(clinic, self.sms_sender) if channel == "sms" else None

    def rate_key(self, channel: str, clinic: SenderSettings) -> str:
        """The rate-limit key: per sender as Twilio counts it, or the channel's name."""
        sender = self.sender_of(channel, clinic)
        return channel if sender is None else sender.key

    @classmethod
    def from_settings(cls, settings: Settings, link_key: bytes) -> DeliveryPolicy:
        """The worker's policy; `link_key` is read by the caller (it may touch var/)."""
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
            sms_sender=platform_sender(settings),
        )
