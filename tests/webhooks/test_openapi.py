"""Schemathesis against the app's own OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.engine import Engine

from reminders.intake.events import EVENT_TYPES
from tests.webhooks.conftest import (
    CLINIC,
    OPERATOR_TOKEN,
    PUBLIC_URL,
    TWILIO_TOKEN,
    Hooks,
    open_hooks,
)
from tests.webhooks.signing import SIGNER, Signer

# Per operation: enough to reach deep event fields, few enough for a couple of minutes.
MAX_EXAMPLES = 100
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_the_api_honours_its_own_openapi_document_behind_its_signatures(
    any_engine: Engine, redis_url: str
) -> None:
    """Every request signed as its sender would: no 5xx, every answer as documented."""
    url = any_engine.url.render_as_string(hide_password=False)
    with open_hooks(any_engine, url, redis_url) as hooks:
        schema = schemathesis.openapi.from_asgi("/openapi.json", hooks.client.app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 5
        signer = Signer(CLINIC, hooks.secret, TWILIO_TOKEN, PUBLIC_URL, OPERATOR_TOKEN)
        token = SIGNER.set(signer)
        answers: list[tuple[str, int]] = []
        try:
            for operation in operations:
                fuzz(operation, answers)
        finally:
            SIGNER.reset(token)
    # Signed, the fuzzer got past the signatures: events were judged on their fields.
    events = {code for path, code in answers if path.endswith("/events")}
    assert 422 in events and 401 not in events, events
    assert {code for path, code in answers if path.startswith("/v1/twilio/")} >= {200, 400}


def fuzz(operation: Any, answers: list[tuple[str, int]]) -> None:
    """A bounded, derandomized run on one operation: the same cases on every machine."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case: Any) -> None:
        response = case.call_and_validate(checks=CHECKS)
        answers.append((operation.path, response.status_code))

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
