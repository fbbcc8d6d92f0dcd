"""The dashboard's events page: what was posted to clinics' own systems, what is dead."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from reminders.api.ops import State, Who, render, text_filter
from reminders.events.listing import STATUSES, list_events
from reminders.ops import listing

router = APIRouter(prefix="/ops", tags=["operators"], include_in_schema=False)


@router.get("/events", response_class=HTMLResponse)
def events_page(
    request: Request, who: Who, state: State, status: str = "", clinic: str = ""
) -> HTMLResponse:
    """Dead events first, then the newest, each with its attempts and last error (no bodies)."""
    chosen = status if status in STATUSES else ""
    errors: list[str] = []
    clinic = text_filter("clinic", clinic, errors)
    scope = who.clinic_ids
    with Session(state.engine) as session:
        dead = list_events(session, scope, status="dead", clinic=clinic)
        recent = list_events(session, scope, status=chosen, clinic=clinic)
        clinics = listing.clinic_ids(session, scope)
    return render(
        request, "events.html", who, dead=dead, recent=recent, clinics=clinics,
        statuses=STATUSES, status=chosen, clinic=clinic, errors=errors,
    )  # fmt: skip
