"""Post one signed event to a clinic's endpoint: Standard Webhooks, short timeouts, no redirects."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from reminders.config import Settings
from reminders.intake.fields import endpoint_problem


def wall_clock() -> datetime:
    """The real time: receivers check webhook-timestamp against theirs (5 minutes' tolerance)."""
    return datetime.now(UTC)


def body_of(payload: dict[str, Any]) -> bytes:
    """The exact bytes posted and signed."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(secret: str, webhook_id: str, body: bytes, at: datetime) -> dict[str, str]:
    """webhook-id, webhook-timestamp and webhook-signature for this body."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, at, body),
        "content-type": "application/json",
        "user-agent": "aftercare-reminders-events/1",
    }


class Poster:
    """Posts events with one pooled HTTP client; close() it when the process is done."""

    def __init__(
        self,
        timeout_seconds: float,
        allow_local_http: bool = False,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], datetime] = wall_clock,
    ) -> None:
        self.allow_local_http, self.clock = allow_local_http, clock
        # Redirects are not followed: the signature is for the registered URL only.
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, transport=transport
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Poster:
        """A poster with the configured timeout and local-http allowance."""
        return cls(settings.events_timeout_seconds, settings.events_allow_local_http)

    def close(self) -> None:
        """Close the pooled connections."""
        self.client.close()

    def post(self, url: str, secret: str, webhook_id: str, payload: dict[str, Any]) -> str | None:
        """None when the endpoint answered 2xx, else what went wrong: short, and no body text."""
        if not url or not secret:
            return "the clinic has no events endpoint now"
        problem = endpoint_problem(url, self.allow_local_http)
        if problem is not None:
            return f"endpoint refused: {problem}"[:300]
        body = body_of(payload)
        try:
            response = self.client.post(
                url, content=body, headers=signed_headers(secret, webhook_id, body, self.clock())
            )
        except httpx.TimeoutException as exc:
            return f"timed out ({type(exc).__name__})"
        except httpx.HTTPError as exc:  # the message may hold the URL's query: the name only
            return f"could not post: {type(exc).__name__}"
        if response.is_success:
            return None
        if response.is_redirect:
            return f"HTTP {response.status_code}: redirects are not followed"
        return f"HTTP {response.status_code}"
