"""Schemathesis against the app's own OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from reminders.intake.events import EVENT_TYPES
from tests.webhooks.conftest import Hooks


def test_the_api_honours_its_own_openapi_document(hooks: Hooks) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", hooks.client.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 5
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: Any) -> None:
            case.call_and_validate()

        conforms()


def test_every_endpoint_is_documented_with_examples(hooks: Hooks) -> None:
    document = hooks.client.get("/openapi.json").json()
    event = document["paths"]["/v1/clinics/{clinic_id}/events"]["post"]
    examples = event["requestBody"]["content"]["application/json"]["examples"]
    assert set(examples) >= {"treatment.completed", "appointment.booked", "patient.opted_out"}
    assert {"202", "401", "422"} <= set(event["responses"])
    for path, field in (("/v1/twilio/status", "MessageStatus"), ("/v1/twilio/inbound", "Body")):
        operation = document["paths"][path]["post"]
        assert "401" in operation["responses"]
        form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
        assert field in form["schema"]["properties"] and field in form["example"]
    assert "text/plain" in document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert has_example(operation), f"{method.upper()} {path} has no example"


def test_the_event_body_is_documented_with_each_events_own_schema(hooks: Hooks) -> None:
    document = hooks.client.get("/openapi.json").json()
    body = document["paths"]["/v1/clinics/{clinic_id}/events"]["post"]["requestBody"]
    events = {
        event["properties"]["type"]["const"]: event["properties"]["data"]
        for event in body["content"]["application/json"]["schema"]["oneOf"]
    }
    assert set(events) == set(EVENT_TYPES)
    booked = events["appointment.booked"]
    assert booked["additionalProperties"] is False
    assert set(booked["required"]) == {"patient_id", "next_session_at"}
    assert booked["properties"]["next_session_at"]["format"] == "date-time"
    patient = events["treatment.completed"]["properties"]["patient"]
    assert {"phone", "email", "consent"} <= set(patient["properties"])
    assert events["patient.opted_out"]["properties"]["channel"]["enum"] == ["sms", "email", "all"]


def has_example(operation: dict[str, Any]) -> bool:
    """True when the request body or a response of the operation shows an example."""
    bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
    return any(
        "example" in media or "examples" in media
        for body in bodies
        for media in body.get("content", {}).values()
    )
