"""The operator dashboard's pages: overview, messages, a patient's timeline, problems, audit.

Every page shows only the clinics of the signed-in operator (staff: their own clinic); another
clinic's patient answers 403 and shows nothing of it; one that does not exist, 404.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from reminders.api.auth import Operator, operator
from reminders.api.deps import AppState, app_state
from reminders.api.opsstate import OpsState, ops_state
from reminders.inbound.alert_outbox import unsent_alerts
from reminders.intake.fields import row_id
from reminders.intake.warnings import contact_warnings, spacing_warning
from reminders.models import Patient
from reminders.ops import audit_listing, listing, overview, timeline
from reminders.ops.times import both, zones_of
from reminders.ops.unrouted import unrouted_replies

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["duration"] = lambda seconds: human_duration(float(seconds))
templates.env.filters["both"] = both
router = APIRouter(prefix="/ops", tags=["operators"], include_in_schema=False)
Who = Annotated[Operator, Depends(operator)]
State = Annotated[AppState, Depends(app_state)]
Shared = Annotated[OpsState, Depends(ops_state)]


def render(
    request: Request, name: str, who: Operator, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a dashboard template with the operator and the page's notice."""
    context.update(who=who, notice=request.query_params.get("notice", ""))
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def missing(request: Request, who: Operator, what: str) -> HTMLResponse:
    """404: no such thing."""
    return render(request, "missing.html", who, status_code=404, what=what)


def not_yours(request: Request, who: Operator, what: str) -> HTMLResponse:
    """403: it exists, in a clinic this operator may not see (nothing of it is shown)."""
    return render(request, "not_yours.html", who, status_code=403, what=what)


@router.get("", response_class=HTMLResponse)
def overview_page(request: Request, who: Who, state: State, shared: Shared) -> HTMLResponse:
    """Queues, workers, backlog, lag, the last 24 hours and the top failure reasons."""
    with Session(state.engine) as session:
        numbers = overview.build_overview(
            session,
            shared.redis,
            state.settings.redis_key_prefix,
            _now(),
            shared.ping,
            who.clinic_ids,
        )
    return render(request, "overview.html", who, o=numbers, refresh=True)


@router.get("/messages", response_class=HTMLResponse)
def messages_page(
    request: Request,
    who: Who,
    state: State,
    status: str = "",
    clinic: str = "",
    channel: str = "",
    due_from: str = "",
    due_to: str = "",
    patient: str = "",
    after: Annotated[str, Query(max_length=80)] = "",
    order: str = "-due",
) -> HTMLResponse:
    """Outbox rows filtered by status, clinic, channel, due dates and patient external id;
    a bad filter is named above the page (and ignored), never a JSON error.

    Pages by key: "next page" carries the last row's cursor; there is no total to count.
    """
    errors: list[str] = []
    if order not in listing.ORDERS:
        errors.append(f"order: expected one of {', '.join(listing.ORDERS)}, got {order!r}")
        order = "-due"
    wanted = listing.MessageFilter(
        status=_choice("status", status, listing.status_choices(), errors),
        clinic=text_filter("clinic", clinic, errors),
        channel=_choice("channel", channel, ("sms", "email"), errors),
        due_from=_date("due_from", due_from, errors),
        due_to=_date("due_to", due_to, errors),
        patient=text_filter("patient", patient, errors),
        after=text_filter("after", after, errors),
        order=order,
    )
    with Session(state.engine) as session:
        try:
            found = listing.find_messages(session, wanted, who.clinic_ids)
        except listing.BadCursorError as exc:
            errors.append(str(exc))
            wanted = replace(wanted, after="")
            found = listing.find_messages(session, wanted, who.clinic_ids)
        clinics = listing.clinic_ids(session, who.clinic_ids)
        zones = zones_of(session, [r.patient_id for r in found.rows])
    return render(
        request,
        "messages.html",
        who,
        f=wanted,
        result=found,
        errors=errors,
        clinics=clinics,
        statuses=listing.status_choices(),
        query=_query_without_page(request),
        zones=zones,
        orders=listing.ORDERS,
    )


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def timeline_page(request: Request, patient_id: str, who: Who, state: State) -> HTMLResponse:
    """One patient's prompts as a picture on a time axis, and as a table with reasons."""
    wanted = row_id(patient_id)
    if wanted is None:
        return missing(request, who, f"patient {patient_id[:20]!r}")
    with Session(state.engine) as session:
        patient = session.get(Patient, wanted)
        if patient is None:
            return missing(request, who, f"patient {patient_id}")
        if not who.sees(patient.clinic_id):
            return not_yours(request, who, f"patient {patient_id}")
        rows = listing.patient_messages(session, wanted)
        treatments = listing.patient_treatments(session, wanted)
    picture = timeline.lay_out(rows, _now())
    spacing = {
        t.id: spacing_warning(t.external_id, t.ended_at, t.next_session_at) for t in treatments
    }
    return render(
        request,
        "timeline.html",
        who,
        patient=patient,
        rows=rows,
        picture=picture,
        treatments=treatments,
        spacing=spacing,
        warnings=contact_warnings(patient),
    )


# Replies of no clinic shown on the problems page: recent enough to still call the clinics.
UNROUTED_DAYS = timedelta(days=14)


@router.get("/problems", response_class=HTMLResponse)
def problems_page(request: Request, who: Who, state: State) -> HTMLResponse:
    """Failed, dead and unknown rows with their actions, unsent clinic alerts, the audit trail."""
    with Session(state.engine) as session:
        rows = listing.problems(session, who.clinic_ids)
        audit = audit_listing.find_entries(session, audit_listing.AuditFilter(), who.clinic_ids)
        since = _now() - UNROUTED_DAYS
        unrouted = unrouted_replies(session, since, who.clinic_ids, limit=50)
        zones = zones_of(session, [r.patient_id for r in rows])
    alerts = unsent_alerts(state.engine, who.clinic_ids)
    return render(
        request, "problems.html", who, rows=rows, audit=audit, alerts=alerts, unrouted=unrouted,
        zones=zones, refresh=True,
    )  # fmt: skip


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    who: Who,
    state: State,
    clinic: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """The audit trail of the operator's clinics, newest first, filtered by clinic/actor/action."""
    errors: list[str] = []
    wanted = audit_listing.AuditFilter(
        text_filter("clinic", clinic, errors).strip(),
        text_filter("actor", actor, errors).strip(),
        text_filter("action", action, errors).strip(),
        limit=200,
    )
    with Session(state.engine) as session:
        entries = audit_listing.find_entries(session, wanted, who.clinic_ids)
        clinics = listing.clinic_ids(session, who.clinic_ids)
        actions = audit_listing.action_names(session, who.clinic_ids)
    return render(
        request,
        "audit.html",
        who,
        f=wanted,
        audit=entries,
        clinics=clinics,
        actions=actions,
        errors=errors,
    )


def human_duration(seconds: float) -> str:
    """'42 s', '7 min', '3 h 5 min', '2 d 4 h': lag an operator can read at a glance."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _now() -> datetime:
    return datetime.now(UTC)


def text_filter(name: str, value: str, errors: list[str]) -> str:
    """A text filter as given, or "" (any) with an error if no row could match it."""
    # PostgreSQL refuses NUL in a query parameter: a 500 if it reached the database.
    if "\x00" in value:
        errors.append(f"{name}: must not contain NUL characters")
        return ""
    return value


def _date(name: str, value: str, errors: list[str]) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors.append(f"{name}: expected a date as YYYY-MM-DD, got {value!r}")
        return None


def _choice(name: str, value: str, allowed: tuple[str, ...], errors: list[str]) -> str:
    if not value.strip() or value.strip() in allowed:
        return value.strip()
    errors.append(f"{name}: expected one of {', '.join(allowed)}, got {value[:40]!r}")
    return ""


def _query_without_page(request: Request) -> str:
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "after" and v]
    return urlencode(kept)
