"""Dashboard pages of one message, the received-texts inbox, and bulk actions by filter.

Each is scoped by the operator's clinics: another clinic's message or clinic answers 403 and
shows nothing of it; one that does not exist, 404. A bulk action is for one clinic at a time
and is shown first as a confirmation page listing what it would do (a dry run).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from reminders.api.auth import Operator, acting_operator
from reminders.api.ops import State, Who, _date, missing, not_yours, render
from reminders.models import Clinic
from reminders.ops import bulk, inbox, listing
from reminders.ops.detail import message_clinic, message_detail

router = APIRouter(prefix="/ops", tags=["operators"], include_in_schema=False)
FILTER_FIELDS = ("status", "channel", "due_from", "due_to", "patient")
Acting = Annotated[Operator, Depends(acting_operator)]


@router.get("/messages/{message_id}", response_class=HTMLResponse)
def message_page(request: Request, message_id: int, who: Who, state: State) -> HTMLResponse:
    """One message: its text (rendered again, said so), times, provider reports, audit."""
    with Session(state.engine) as session:
        clinic = message_clinic(session, message_id)
        if clinic is None:
            return missing(request, who, f"message {message_id}")
        if not who.sees(clinic):
            return not_yours(request, who, f"message {message_id}")
        found = message_detail(session, message_id, state.renderer, who.clinic_ids)
    back = f"/ops/messages/{message_id}"
    return render(request, "message.html", who, d=found, m=found.row if found else None, back=back)


@router.get("/replies", response_class=HTMLResponse)
def replies_page(request: Request, who: Who, state: State) -> HTMLResponse:
    """Every received text of the operator's clinics, newest first, warning signs marked."""
    with Session(state.engine) as session:
        rows = inbox.received_texts(session, who.clinic_ids)
    return render(request, "replies.html", who, rows=rows, refresh=True)


def _bulk_filter(
    clinic_id: str, values: dict[str, str], errors: list[str]
) -> listing.MessageFilter:
    return listing.MessageFilter(
        status=values.get("status", ""),
        clinic=clinic_id,
        channel=values.get("channel", ""),
        due_from=_date("due_from", values.get("due_from", ""), errors),
        due_to=_date("due_to", values.get("due_to", ""), errors),
        patient=values.get("patient", ""),
    )


def _clinic_refusal(request: Request, who: Operator, state: State, clinic_id: str,
                    action: str) -> HTMLResponse | None:  # fmt: skip
    with Session(state.engine) as session:
        exists = session.get(Clinic, clinic_id) is not None
    if not exists:
        return missing(request, who, f"clinic {clinic_id!r}")
    if not who.sees(clinic_id):
        return not_yours(request, who, "that clinic")  # its id is not echoed back
    if action not in bulk.BULK_ACTIONS:
        return missing(request, who, f"action {action!r}")
    return None


@router.get("/clinics/{clinic_id}/bulk/{action}", response_class=HTMLResponse)
def bulk_confirm(
    request: Request, clinic_id: str, action: str, who: Who, state: State
) -> HTMLResponse:
    """What a bulk action would do to the messages the filter matches: confirm or go back."""
    refusal = _clinic_refusal(request, who, state, clinic_id, action)
    if refusal is not None:
        return refusal
    errors: list[str] = []
    values = {k: request.query_params.get(k, "").strip() for k in FILTER_FIELDS}
    wanted = _bulk_filter(clinic_id, values, errors)
    if not errors:
        planned = bulk.run_bulk(state.engine, action, wanted, who.actor, _now, who.clinic_ids,
                                dry_run=True)  # fmt: skip
        ids = planned.matched
    else:
        ids = []
    return render(request, "bulk.html", who, action=action, clinic_id=clinic_id, ids=ids,
                  values=values, errors=errors, limit=bulk.MAX_ROWS)  # fmt: skip


@router.post("/clinics/{clinic_id}/bulk/{action}", response_model=None)
def bulk_run(
    request: Request,
    clinic_id: str,
    action: str,
    who: Acting,
    state: State,
    status: Annotated[str, Form()] = "",
    channel: Annotated[str, Form()] = "",
    due_from: Annotated[str, Form()] = "",
    due_to: Annotated[str, Form()] = "",
    patient: Annotated[str, Form()] = "",
) -> RedirectResponse | HTMLResponse:
    """Run a confirmed bulk action, one audited action per row; back to the list with a notice."""
    refusal = _clinic_refusal(request, who, state, clinic_id, action)
    if refusal is not None:
        return refusal
    values = dict(status=status, channel=channel, due_from=due_from, due_to=due_to,
                  patient=patient)  # fmt: skip
    errors: list[str] = []
    wanted = _bulk_filter(clinic_id, values, errors)
    if errors or listing.MessageFilter(clinic=clinic_id) == wanted:
        # Every message of a clinic at once is never what a bulk action means.
        errors = errors or ["choose at least a status (or another filter) first"]
        return render(request, "bulk.html", who, status_code=400, action=action,
                      clinic_id=clinic_id, ids=[], values=values, errors=errors,
                      limit=bulk.MAX_ROWS)  # fmt: skip
    done = bulk.run_bulk(state.engine, action, wanted, who.actor, _now, who.clinic_ids)
    notice = (
        f"{action}: {len(done.done) - len(done.refused)} done, {len(done.refused)} refused "
        f"of {len(done.matched)} matched"
    )
    query = urlencode({"clinic": clinic_id, **{k: v for k, v in values.items() if v},
                       "notice": notice})  # fmt: skip
    return RedirectResponse(f"/ops/messages?{query}", status_code=303)


def _now() -> datetime:
    return datetime.now(UTC)
