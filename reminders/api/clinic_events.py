"""POST /v1/clinics/{clinic_id}/events: signed, validated, idempotent clinic webhooks."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reminders.api import schemas
from reminders.api.deps import AppState, app_state
from reminders.consent.changes import numbers_withdrawn
from reminders.consent.gate import ConsentGate
from reminders.intake.clinics import accepted_secrets
from reminders.intake.effects import EventRefusedError, apply_event
from reminders.intake.events import Event, InvalidEventError, parse_event
from reminders.models import CLINICS, RECEIPTS, Clinic

router = APIRouter(tags=["clinic webhooks"])
log = logging.getLogger(__name__)


class SignatureError(Exception):
    """The request is not signed by the clinic; answered 401 with REFUSED, whatever the cause."""


REFUSED = (
    "unknown clinic or bad signature: check the clinic id, its whsec_ secret, the webhook-id, "
    "webhook-timestamp and webhook-signature headers, and the sender's clock (5 minutes)"
)


@router.post(
    "/v1/clinics/{clinic_id}/events",
    status_code=202,
    summary="Tell us about a treatment, an appointment or a patient",
    response_model=schemas.EventAccepted,
    responses={
        202: {"content": {"application/json": {"example": schemas.ACCEPTED_EXAMPLE}}},
        401: {"model": schemas.Refusal, "description": "Unknown clinic or bad signature"},
        409: {"model": schemas.Refusal, "description": "A concurrent change; retry"},
        422: {
            "model": schemas.EventRejected,
            "description": "Every problem with the body; nothing was written",
            "content": {"application/json": {"example": schemas.REJECTED_EXAMPLE}},
        },
    },
    openapi_extra={
        "parameters": schemas.SIGNATURE_HEADERS,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": schemas.EVENT_BODY_SCHEMA,
                    "examples": {
                        kind: {"value": body} for kind, body in schemas.EVENT_EXAMPLES.items()
                    },
                }
            },
        },
    },
)
async def receive_event(
    clinic_id: str, request: Request, state: Annotated[AppState, Depends(app_state)]
) -> JSONResponse:
    """Verify the Standard Webhooks signature, validate every field, apply in one transaction."""
    body = await request.body()
    headers = dict(request.headers)
    code, answer = await anyio.to_thread.run_sync(
        handle, state, clinic_id, body, headers, limiter=state.event_limiter
    )
    return JSONResponse(answer, status_code=code)


def handle(
    state: AppState, clinic_id: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """The status and body for one delivery: checked and applied in one session."""
    now = state.clock()
    webhook_id = headers.get("webhook-id", "")
    for _attempt in range(2):
        try:
            with Session(state.engine, expire_on_commit=False) as session:
                clinic, stored = clinic_and_receipt(session, clinic_id, webhook_id)
                try:
                    verify(clinic, body, headers, now)
                except SignatureError as exc:
                    # The reason goes to the log only: a caller told "unknown clinic" apart
                    # from "bad signature" could probe which clinic ids exist.
                    log.info("webhook refused for clinic %s: %s", clinic_id[:64], exc)
                    return 401, {"detail": REFUSED}
                assert clinic is not None
                if stored is not None:
                    return stored
                return process(session, state.gate, clinic, webhook_id, body, now)
        except IntegrityError:
            # A concurrent delivery of the same webhook-id (or the same patient) won the race;
            # the next attempt finds its receipt, or applies this event on top of its changes.
            continue
    return 409, {"detail": "a concurrent change to the same patient; retry"}


def verify(clinic: Clinic | None, body: bytes, headers: dict[str, str], now: datetime) -> None:
    """Accept the current secret, or the previous one during a rotation."""
    if clinic is None:
        raise SignatureError("unknown clinic")
    if not all(
        headers.get(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    ):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    problem = "no secret configured for this clinic"
    for secret in accepted_secrets(clinic, now):
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            return
        except (WebhookVerificationError, ValueError) as exc:
            problem = str(exc) or "bad signature"
    raise SignatureError(f"signature refused: {problem}")


# Built once, not per request: constructing the statement cost more than running it.
CLINIC_AND_RECEIPT = (
    select(Clinic, RECEIPTS.c.status_code, RECEIPTS.c.response)
    .outerjoin(
        RECEIPTS,
        (RECEIPTS.c.clinic_id == CLINICS.c.id) & (RECEIPTS.c.webhook_id == bindparam("webhook_id")),
    )
    .where(CLINICS.c.id == bindparam("clinic_id"))
)


# Inline: nothing reads the receipt's generated id, so it is not fetched with RETURNING.
STORE_RECEIPT = insert(RECEIPTS).inline()


def clinic_and_receipt(
    session: Session, clinic_id: str, webhook_id: str
) -> tuple[Clinic | None, tuple[int, dict[str, Any]] | None]:
    """The clinic, and its stored answer to an earlier delivery of this webhook-id, if any."""
    found = session.execute(
        CLINIC_AND_RECEIPT, {"clinic_id": clinic_id, "webhook_id": webhook_id}
    ).first()
    if found is None:
        return None, None
    clinic, status_code, response = found
    return clinic, None if status_code is None else (status_code, response)


def process(
    session: Session,
    gate: ConsentGate,
    clinic: Clinic,
    webhook_id: str,
    body: bytes,
    now: datetime,
) -> tuple[int, dict[str, Any]]:
    """Validate and apply in the session's transaction; a rejected request writes nothing."""
    if len(webhook_id) > 200:
        return 422, rejected([{"field": "webhook-id", "problem": "at most 200 characters"}])
    try:
        event = parse_event(body, clinic.default_region, now)
    except InvalidEventError as exc:
        return 422, rejected(exc.problems)
    # Like a texted STOP, a change that stops texting a number waits for sends to it in flight.
    with gate.changing(numbers_withdrawn(session, gate, clinic.id, event)):
        return apply(session, clinic, webhook_id, event, now)


def apply(
    session: Session, clinic: Clinic, webhook_id: str, event: Event, now: datetime
) -> tuple[int, dict[str, Any]]:
    """Apply the event and store the answer in one transaction; a refusal writes nothing."""
    try:
        applied = apply_event(session, clinic, event, now)
    except EventRefusedError as exc:
        session.rollback()
        return 422, rejected(exc.problems)
    answer = {
        "webhook_id": webhook_id,
        "type": event.type,
        "patient_id": applied.patient.external_id,
        "plan": applied.plan_json(),
        "warnings": applied.warnings(),
    }
    receipt_row = dict(
        clinic_id=clinic.id,
        webhook_id=webhook_id,
        event_type=event.type,
        status_code=202,
        response=answer,
        received_at=now,
    )
    session.execute(STORE_RECEIPT, receipt_row)
    session.commit()
    return 202, answer


def rejected(problems: list[dict[str, str]]) -> dict[str, Any]:
    """The 422 body."""
    return {"detail": "invalid event", "problems": problems}
