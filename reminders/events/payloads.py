"""PURE: the event types a clinic's system may receive and the JSON body of each.

Bodies name the clinic's own ids (patient and treatment external ids) and ours for messages
and replies, never a phone number, email address or name. A reply's text is included: it is
the clinic's own patient, and the body goes only over HTTPS to the clinic, signed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MESSAGE_DELIVERED = "message.delivered"
MESSAGE_FAILED = "message.failed"
PATIENT_REPLIED = "patient.replied"
WARNING_SIGN_RAISED = "warning_sign.raised"
PATIENT_OPTED_OUT = "patient.opted_out"
EVENT_TYPES = (
    MESSAGE_DELIVERED,
    MESSAGE_FAILED,
    PATIENT_REPLIED,
    WARNING_SIGN_RAISED,
    PATIENT_OPTED_OUT,
)


def envelope(event_type: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The Standard Webhooks body: type, when it happened, and the event's data."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    return {"type": event_type, "timestamp": at.isoformat(), "data": data}


def message_data(
    *,
    message_id: int,
    step: str,
    channel: str,
    status: str,
    patient: str,
    treatment: str,
    error_code: str | None,
) -> dict[str, Any]:
    """A message's delivery news; `error_code` is the provider's code, never its text."""
    return {
        "message": {"id": message_id, "step": step, "channel": channel, "status": status},
        "patient": {"external_id": patient},
        "treatment": {"external_id": treatment},
        "error_code": error_code,
    }


def reply_data(
    *, reply_id: int, patient: str, text: str, received_at: datetime, signs: tuple[str, ...]
) -> dict[str, Any]:
    """A patient's text reply (and the warning signs it reports, if any)."""
    return {
        "reply": {"id": reply_id, "text": text, "received_at": received_at.isoformat()},
        "patient": {"external_id": patient},
        "warning_signs": list(signs),
    }


def opt_out_data(*, patient: str, channel: str, source: str) -> dict[str, Any]:
    """A patient stopped one channel: `source` is how (sms_stop, carrier, unsubscribe_link)."""
    return {"patient": {"external_id": patient}, "channel": channel, "source": source}
