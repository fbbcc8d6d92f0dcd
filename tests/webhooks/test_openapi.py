"""Schemathesis against the app's own OpenAPI document: no 5xx, responses match the schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

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
    for path in ("/v1/twilio/status", "/v1/twilio/inbound"):
        assert "401" in document["paths"][path]["post"]["responses"]
