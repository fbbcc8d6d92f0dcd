"""Response shapes and examples for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from reminders.intake.events import EVENTS


class PlanItem(BaseModel):
    """One prompt of the patient's plan."""

    treatment_id: str
    key: str
    channel: str
    due_at: str
    status: str
    reason: str | None = None  # why a skipped, cancelled or failed row will not go


class EventAccepted(BaseModel):
    """The event was applied (or was a replay of one that was)."""

    webhook_id: str
    type: str
    patient_id: str
    plan: list[PlanItem]
    warnings: list[str]  # accepted, but worth knowing: e.g. nothing will be texted


class Problem(BaseModel):
    """One thing wrong with a request."""

    field: str
    problem: str


class EventRejected(BaseModel):
    """Every problem with the request; nothing was written."""

    detail: str
    problems: list[Problem]


class Refusal(BaseModel):
    """Why the request was refused."""

    detail: str


PATIENT_EXAMPLE = {
    "external_id": "p-1001",
    "first_name": "Ana",
    "phone": "+34 612 345 678",
    "email": "ana@example.com",
    "timezone": "Europe/Madrid",
    "locale": "es",
    "consent": {"sms": True, "email": True},
}
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "treatment.completed": {
        "type": "treatment.completed",
        "data": {
            "patient": PATIENT_EXAMPLE,
            "treatment": {
                "external_id": "t-5001",
                "ended_at": "2025-05-01T15:30:00+02:00",
                "area": "face",
                "needle_depth_mm": 1.0,
                "session_number": 1,
                "sessions_planned": 3,
                "next_session_at": "2025-06-05T10:00:00+02:00",
            },
        },
    },
    "treatment.cancelled": {"type": "treatment.cancelled", "data": {"treatment_id": "t-5001"}},
    "appointment.booked": {
        "type": "appointment.booked",
        "data": {"patient_id": "p-1001", "next_session_at": "2025-06-05T10:00:00+02:00"},
    },
    "appointment.cancelled": {"type": "appointment.cancelled", "data": {"patient_id": "p-1001"}},
    "patient.updated": {
        "type": "patient.updated",
        "data": {"patient": {"external_id": "p-1001", "timezone": "Atlantic/Canary"}},
    },
    "patient.opted_out": {
        "type": "patient.opted_out",
        "data": {"patient_id": "p-1001", "channel": "sms"},
    },
    "patient.erased": {"type": "patient.erased", "data": {"patient_id": "p-1001"}},
}


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema with its $defs written in place, to embed in the OpenAPI document."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return resolve(defs[node["$ref"].rsplit("/", 1)[-1]])
        # The discriminator's mapping names $defs; each branch's `type` const suffices.
        return {k: resolve(v) for k, v in node.items() if k not in ("$defs", "discriminator")}

    return resolve(schema)


# Each event's own schema, from the models that validate it (signatures are checked first).
EVENT_BODY_SCHEMA = inlined(EVENTS.json_schema())
ACCEPTED_EXAMPLE = {
    "webhook_id": "msg_2b9Jp1",
    "type": "treatment.completed",
    "patient_id": "p-1001",
    "plan": [
        {
            "treatment_id": "t-5001",
            "key": "first_night",
            "channel": "sms",
            "due_at": "2025-05-01T18:00:00+00:00",
            "status": "pending",
            "reason": None,
        },
        {
            "treatment_id": "t-5001",
            "key": "first_night",
            "channel": "email",
            "due_at": "2025-05-01T18:00:00+00:00",
            "status": "skipped",
            "reason": "no consent or contact for email",
        },
    ],
    "warnings": ["no email consent: nothing will be emailed"],
}
REJECTED_EXAMPLE = {
    "detail": "invalid event",
    "problems": [
        {"field": "data.patient.phone", "problem": "not a valid phone number"},
        {"field": "data.treatment.ended_at", "problem": "needs a UTC offset (e.g. +02:00 or Z)"},
    ],
}
SIGNATURE_HEADERS = [
    {
        "name": name,
        "in": "header",
        "required": False,
        "description": text,
        "schema": {"type": "string"},
    }
    for name, text in (
        ("webhook-id", "Unique id of this delivery; a replay returns the stored answer."),
        ("webhook-timestamp", "Unix seconds; refused when more than 5 minutes off."),
        ("webhook-signature", "'v1,<base64 HMAC-SHA256>' with the clinic's whsec_ secret."),
    )
]
TWIML_RESPONSE = {
    "content": {
        "application/xml": {
            "schema": {"type": "string"},
            "example": '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Glow Clinic: '
            "aftercare reminders. Questions? Call +34 911 234 567. Reply STOP to opt out."
            "</Message></Response>",
        }
    },
    "description": "TwiML (empty, or a reply to the patient)",
}


def twilio_form(fields: dict[str, str], example: dict[str, str]) -> dict[str, Any]:
    """The request body of a Twilio webhook: form fields, as Twilio posts them."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": properties},
                "example": example,
            }
        },
    }


STATUS_FORM = twilio_form(
    {
        "MessageSid": "Twilio's id of the message",
        "MessageStatus": "queued, sent, delivered, undelivered, failed, ...",
        "ErrorCode": "Twilio's error code when the message failed",
        "AccountSid": "The account that sent it",
        "To": "The patient's number",
    },
    {
        "MessageSid": "SM0123456789abcdef0123456789abcdef",
        "MessageStatus": "delivered",
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "To": "+34612345678",
    },
)
INBOUND_FORM = twilio_form(
    {
        "MessageSid": "Twilio's id of the incoming text",
        "From": "The sender's number (E.164)",
        "To": "Our number (the platform's or a clinic's own)",
        "AccountSid": "The Twilio account (ours or a clinic's subaccount): picks the token",
        "MessagingServiceSid": "Our Messaging Service, when the number belongs to one",
        "Body": "What the patient wrote",
    },
    {
        "MessageSid": "SM89abcdef0123456789abcdef01234567",
        "From": "+34612345678",
        "To": "+15550100000",
        "Body": "STOP",
    },
)


def html_example(description: str, html: str) -> dict[str, Any]:
    """A documented HTML response with an example page."""
    return {"description": description, "content": {"text/html": {"example": html}}}


def json_example(description: str, example: Any) -> dict[str, Any]:
    """A documented JSON response with an example body."""
    return {"description": description, "content": {"application/json": {"example": example}}}
