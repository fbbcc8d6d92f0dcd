"""GET /metrics: the Prometheus text format, for the operator bearer token or an admin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reminders.api.auth import Operator, platform_operator
from reminders.api.deps import AppState, app_state
from reminders.api.opsstate import OpsState, ops_state
from reminders.ops.metrics import RemindersCollector, counted_events

router = APIRouter(
    tags=["operators"],
    responses={
        401: {"description": "no or wrong operator token"},
        403: {"description": "REMINDERS_OPERATOR_TOKEN is unset, or a clinic staff account asked"},
    },
)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@router.get(
    "/metrics",
    summary="Prometheus metrics (operator bearer token)",
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "Prometheus text exposition",
            "content": {
                "text/plain": {
                    "example": "# HELP reminders_messages Outbox rows by status and channel\n"
                    "# TYPE reminders_messages gauge\n"
                    'reminders_messages{channel="sms",status="pending"} 42.0\n'
                }
            },
        }
    },
)
def metrics(
    _who: Annotated[Operator, Depends(platform_operator)],
    state: Annotated[AppState, Depends(app_state)],
    shared: Annotated[OpsState, Depends(ops_state)],
) -> Response:
    """Gauges computed now from the database and Redis, and the counts of this host."""
    registry = CollectorRegistry(auto_describe=False)
    prefix = state.settings.redis_key_prefix
    registry.register(RemindersCollector(state.engine, shared.redis, prefix, utc_now))
    registry.register(counted_events())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


# Clinic events and Twilio callbacks; a request under these paths is a webhook.
WEBHOOK_PATHS = ("/v1/clinics/", "/v1/twilio/")


class WebhookCounter:
    """ASGI middleware: count every clinic and Twilio webhook by outcome.

    Plain ASGI, because BaseHTTPMiddleware costs a task and a response stream per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(WEBHOOK_PATHS):
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            shared: OpsState = scope["app"].state.ops
            shared.recorder.record_webhook(status)
