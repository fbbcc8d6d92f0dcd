"""Twilio webhooks: delivery status callbacks and inbound SMS, both signature-checked."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.datastructures import FormData
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.twiml.messaging_response import MessagingResponse

from reminders.api import schemas
from reminders.api.deps import AppState, app_state
from reminders.channels.senders import platform_sender
from reminders.consent.optout import opt_out_patient
from reminders.inbound.acknowledgement import ack_text
from reminders.inbound.alert_outbox import AlertPolicy, deliver_alert
from reminders.inbound.handler import Inbound, receive
from reminders.inbound.help_answer import help_text
from reminders.intake.clinics import clinic_with_account
from reminders.intake.fields import e164, row_id
from reminders.outbox.status_callbacks import Report, apply_report, unsubscribed_patient

router = APIRouter(tags=["twilio webhooks"])
log = logging.getLogger(__name__)
REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "model": schemas.Refusal,
        **schemas.json_example(
            "A signed form without a field Twilio always sends", {"detail": "MessageSid: required"}
        ),
    },
    401: {
        "model": schemas.Refusal,
        **schemas.json_example(
            "Missing or bad X-Twilio-Signature", {"detail": "missing or bad X-Twilio-Signature"}
        ),
    },
    403: {
        "model": schemas.Refusal,
        **schemas.json_example(
            "AccountSid is neither the platform's account nor a clinic's",
            {"detail": "unknown AccountSid"},
        ),
    },
}


class Signed(NamedTuple):
    """A form Twilio signed, and the clinic whose subaccount signed it (None: our account)."""

    form: FormData
    clinic_id: str | None


async def signed_form(request: Request, state: AppState) -> Signed | JSONResponse:
    """The form Twilio posted, checked with its account's auth token; else the refusal."""
    form = await request.form()
    signature = request.headers.get("x-twilio-signature", "")
    if not signature:
        return refused()
    account = str(form.get("AccountSid") or "")
    found = await run_in_threadpool(auth_token_for, state, account)
    if found is None:
        log.warning("Twilio webhook from an account that is neither ours nor a clinic's")
        return JSONResponse({"detail": "unknown AccountSid"}, status_code=403)
    url = state.settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    algorithm = get_signature_algorithm(request.headers.get("x-twilio-webhooks-signature-settings"))
    params = {key: str(value) for key, value in form.multi_items()}
    token, clinic_id = found
    if not token or not RequestValidator(token).validate(url, params, signature, algorithm):
        return refused()
    # PostgreSQL cannot compare or store NUL: a 400 naming the field, not a 500 (a text's
    # Body is the patient's words: its NULs are dropped where it is stored).
    nul = sorted(k for k, v in params.items() if "\x00" in k + v and k != "Body")
    if nul:
        detail = f"{', '.join(nul)[:200]}: must not contain NUL characters"
        return JSONResponse({"detail": detail}, status_code=400)
    return Signed(form, clinic_id)


def auth_token_for(state: AppState, account: str) -> tuple[str, str | None] | None:
    """The auth token of the account a webhook names and its clinic: a subaccount's, or ours.

    None for an account that is neither. Without our account SID configured, a webhook that
    names no clinic's account is checked with our token (a forged one fails the signature).
    """
    settings = state.settings
    if account and account != settings.twilio_account_sid:
        with Session(state.engine) as session:
            clinic = clinic_with_account(session, account)
        if clinic is not None:
            return clinic.twilio_auth_token, clinic.id
        if settings.twilio_account_sid:
            return None
    return settings.twilio_auth_token, None


def unsigned_fields(form: FormData, required: tuple[str, ...]) -> JSONResponse | None:
    """The 400 answer to a signed form lacking a field Twilio always sends, else None."""
    absent = [name for name in required if not str(form.get(name) or "").strip()]
    if not absent:
        return None
    log.warning("Twilio webhook without %s: ignored", ", ".join(absent))
    return JSONResponse({"detail": f"{', '.join(absent)}: required"}, status_code=400)


def refused() -> JSONResponse:
    """The 401 answer to an unsigned request."""
    return JSONResponse({"detail": "missing or bad X-Twilio-Signature"}, status_code=401)


@router.post(
    "/v1/twilio/status",
    summary="Twilio delivery status callback (set ?message_id=N on the send)",
    responses={
        200: {
            "model": schemas.Refusal,
            **schemas.json_example("Recorded (or ignored)", {"detail": "delivered"}),
        },
        **REFUSED,
    },
    openapi_extra={
        "requestBody": schemas.STATUS_FORM,
        "parameters": [
            {"name": "message_id", "in": "query", "required": False, "schema": {"type": "integer"}}
        ],
    },
)
async def status_callback(
    request: Request, state: Annotated[AppState, Depends(app_state)]
) -> JSONResponse:
    """Apply MessageStatus to our row, only ever forwards; unknown ids get 200 so Twilio stops."""
    signed = await signed_form(request, state)
    if isinstance(signed, JSONResponse):
        return signed
    form = signed.form
    missing = unsigned_fields(form, ("MessageSid", "MessageStatus"))
    if missing:
        return missing
    message_id = row_id(request.query_params.get("message_id", ""))
    if message_id is None:
        log.warning("status callback without a usable message_id")
        return JSONResponse({"detail": "no message_id; ignored"})
    report = Report(
        message_id=message_id,
        provider_id=str(form.get("MessageSid"))[:128],
        status=str(form.get("MessageStatus") or "").lower(),
        error_code=str(form.get("ErrorCode") or "")[:32] or None,
        clinic_id=signed.clinic_id,
    )
    now = datetime.now(UTC)
    outcome = await run_in_threadpool(apply_report, state.engine, report, now)
    log.info("status callback for message %s: %s", report.message_id, outcome)
    # 21610 can come here too (after Twilio accepted the send): the same as a texted STOP.
    patient_id = await run_in_threadpool(unsubscribed_patient, state.engine, report)
    if patient_id is not None:
        platform = platform_sender(state.settings)
        await run_in_threadpool(
            opt_out_patient, state.engine, state.gate, patient_id, now, platform
        )
    return JSONResponse({"detail": outcome})


@router.post(
    "/v1/twilio/inbound",
    summary="Twilio inbound SMS: STOP, START, HELP and replies",
    response_class=Response,
    responses={200: schemas.TWIML_RESPONSE, **REFUSED},
    openapi_extra={"requestBody": schemas.INBOUND_FORM},
)
async def inbound_sms(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Response:
    """Opt out or in, answer HELP, store replies and alert the clinic to warning signs."""
    signed = await signed_form(request, state)
    if isinstance(signed, JSONResponse):
        return signed
    form = signed.form
    missing = unsigned_fields(form, ("MessageSid", "From"))
    if missing:
        return missing
    text = Inbound(
        from_number=sender(str(form.get("From") or "")),
        body=str(form.get("Body") or ""),
        provider_id=str(form.get("MessageSid") or "")[:128] or None,
        to=sender(str(form.get("To") or "")),
        service=str(form.get("MessagingServiceSid") or "").strip()[:64],
    )
    answer = await run_in_threadpool(respond, state, text)
    twiml = MessagingResponse()
    if answer:
        twiml.message(answer)
    return Response(str(twiml), media_type="application/xml")


def respond(state: AppState, text: Inbound) -> str | None:
    """Handle the text in one transaction, email any alert it raised; the answer to text back."""
    platform = platform_sender(state.settings)
    result = receive(state.engine, state.gate, text, datetime.now(UTC), platform)
    if result.alert_id is not None:
        # A failure here is retried by beat (reminders.send_alerts), so Twilio still gets 200.
        policy = AlertPolicy.from_settings(state.settings)
        email = state.channels.get("email")
        deliver_alert(
            state.engine,
            email,
            result.alert_id,
            lambda: datetime.now(UTC),
            policy,
            renderer=state.renderer,
        )
    if result.ack is not None:
        return ack_text(state.renderer, result.ack)
    if result.help is not None:
        return help_text(state.renderer, result.help)
    return None


def sender(number: str) -> str:
    """Twilio sends E.164 already; normalize anyway so lookups match what we stored."""
    try:
        return e164(number, None)
    except ValueError:  # a short code or alphanumeric sender: no patient has it
        return number.strip()
