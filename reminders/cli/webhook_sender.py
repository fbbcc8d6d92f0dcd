"""Sign a clinic event the Standard Webhooks way and post it: what a clinic's system does."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook


def signed_headers(
    secret: str, body: bytes, webhook_id: str | None = None, at: datetime | None = None
) -> dict[str, str]:
    """The webhook-id, webhook-timestamp and webhook-signature headers for this body."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(webhook_id, at, body)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def event_parts(document: Any, kind: str | None) -> tuple[str, dict[str, Any]]:
    """The event's type and data from a file holding its data or its whole {"type", "data"} body.

    ValueError names the problem: no type at all, or a --type that contradicts the body's.
    """
    if not isinstance(document, dict):
        raise ValueError("the event must be a JSON object")
    if set(document) == {"type", "data"}:
        if kind and kind != document["type"]:
            raise ValueError(
                f"--type {kind} contradicts the body's type {document['type']!r}: give one"
            )
        if not isinstance(document["data"], dict):
            raise ValueError('"data" must be a JSON object')
        return str(document["type"]), document["data"]
    if not kind:
        raise ValueError('give --type, or a whole body {"type": ..., "data": {...}}')
    return kind, document


def answer_text(response: httpx.Response) -> str:
    """The answer's body for a person: JSON indented, anything else (an HTML 500) as text."""
    if not response.content:
        return ""
    try:
        return json.dumps(response.json(), indent=2)
    except ValueError:
        return response.text[:2000]


def event_body(kind: str, data: dict[str, Any]) -> bytes:
    """The JSON body of an event."""
    return json.dumps({"type": kind, "data": data}, separators=(",", ":")).encode()


def send_event(
    base_url: str,
    clinic_id: str,
    secret: str,
    kind: str,
    data: dict[str, Any],
    webhook_id: str | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """Post a signed event to /v1/clinics/{clinic_id}/events and return the response."""
    body = event_body(kind, data)
    url = f"{base_url.rstrip('/')}/v1/clinics/{clinic_id}/events"
    headers = signed_headers(secret, body, webhook_id)
    return httpx.post(url, content=body, headers=headers, timeout=timeout)
