"""Email unsubscribe: GET shows a confirmation (link scanners prefetch), POST unsubscribes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import HTMLResponse

from reminders.api import schemas
from reminders.api.deps import AppState, app_state
from reminders.consent.optout import replan_all
from reminders.consent.unsubscribe import patient_of
from reminders.db import session_scope
from reminders.events.emission import emit_opt_out
from reminders.models import Clinic, Patient

router = APIRouter(
    prefix="/v1/unsubscribe",
    tags=["patients"],
    responses={404: {"description": "no such unsubscribe link"}},
)


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
    return page(state, "unsubscribe_confirm", patient, clinic)


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
            emit_opt_out(session, patient, "email", "unsubscribe_link", now)
            replan_all(session, patient, now, "patient unsubscribed from email")
    return page(state, "unsubscribe_done", patient, clinic)


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


def page(state: AppState, key: str, patient: Patient, clinic: Clinic) -> HTMLResponse:
    """The page (templates page/<lang>/<key>.html) in the patient's language."""
    context = {"clinic_name": clinic.name}
    return HTMLResponse(state.renderer.page(key, patient.locale, context))
