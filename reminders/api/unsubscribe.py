"""Email unsubscribe: GET shows a confirmation (link scanners prefetch), POST unsubscribes."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse

from reminders.api import schemas
from reminders.api.deps import AppState, app_state
from reminders.consent.optout import replan_all
from reminders.consent.unsubscribe import patient_of
from reminders.db import session_scope
from reminders.models import Clinic, Patient

router = APIRouter(
    prefix="/v1/unsubscribe",
    tags=["patients"],
    responses={404: {"description": "no such unsubscribe link"}},
)
WORDING = {
    "en": (
        "Stop aftercare emails from {clinic}?",
        "Unsubscribe",
        "Done: {clinic} will send you no more aftercare emails. Text messages, if you get "
        "them, are not affected (reply STOP to end those).",
    ),
    "es": (
        "¿Dejar de recibir los correos de cuidados de {clinic}?",
        "Darme de baja",
        "Listo: {clinic} no te enviará más correos de cuidados. Los SMS, si los recibes, "
        "no cambian (responde STOP para dejarlos).",
    ),
}


@router.get(
    "/{token}",
    response_class=HTMLResponse,
    summary="Confirm unsubscribing from emails",
    responses={
        200: schemas.html_example(
            "A page asking to confirm",
            '<p>Stop aftercare emails from Glow Clinic?</p><form method="post">'
            '<button type="submit">Unsubscribe</button></form>',
        )
    },
)
def confirm(token: str, state: Annotated[AppState, Depends(app_state)]) -> HTMLResponse:
    """A page with one button; following the link alone changes nothing."""
    patient, clinic = find(state, token)
    question, button, _done = wording(patient)
    body = (
        f"<p>{escape(question.format(clinic=clinic.name))}</p>"
        f'<form method="post"><button type="submit">{escape(button)}</button></form>'
    )
    return page(body, patient)


@router.post(
    "/{token}",
    response_class=HTMLResponse,
    summary="Unsubscribe from aftercare emails (also the RFC 8058 one-click target)",
    responses={
        200: schemas.html_example(
            "Done",
            "<p>Done: Glow Clinic will send you no more aftercare emails.</p>",
        )
    },
)
def unsubscribe(token: str, state: Annotated[AppState, Depends(app_state)]) -> HTMLResponse:
    """Record the opt-out and skip every pending email; repeating it changes nothing."""
    patient_id = checked(state, token)
    now = datetime.now(UTC)
    with session_scope(state.engine) as session:
        patient = session.get(Patient, patient_id)
        clinic = session.get(Clinic, patient.clinic_id) if patient else None
        if patient is None or clinic is None:
            raise HTTPException(404, "no such unsubscribe link")
        if patient.email_opted_out_at is None:
            patient.email_opted_out_at = patient.updated_at = now
            session.add(patient)
            replan_all(session, patient, now, "patient unsubscribed from email")
    _question, _button, done = wording(patient)
    return page(f"<p>{escape(done.format(clinic=clinic.name))}</p>", patient)


def checked(state: AppState, token: str) -> int:
    """The patient id a genuine token names; 404 for anything else, saying nothing more."""
    patient_id = patient_of(token, state.link_key)
    if patient_id is None:
        raise HTTPException(404, "no such unsubscribe link")
    return patient_id


def find(state: AppState, token: str) -> tuple[Patient, Clinic]:
    """The patient and clinic behind a genuine token."""
    patient_id = checked(state, token)
    with session_scope(state.engine) as session:
        patient = session.get(Patient, patient_id)
        clinic = session.get(Clinic, patient.clinic_id) if patient else None
    if patient is None or clinic is None:
        raise HTTPException(404, "no such unsubscribe link")
    return patient, clinic


def wording(patient: Patient) -> tuple[str, str, str]:
    """The page's sentences in the patient's language (English when we have no translation)."""
    return WORDING.get(patient.locale.split("-")[0], WORDING["en"])


def page(body: str, patient: Patient) -> HTMLResponse:
    """A minimal page that reads well on a phone."""
    lang = escape(patient.locale.split("-")[0])
    return HTMLResponse(
        f'<!doctype html><html lang="{lang}"><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<body style="font-family:sans-serif;max-width:32rem;margin:2rem auto">{body}</body>'
        "</html>"
    )
