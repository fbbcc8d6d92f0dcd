"""Operator POST actions on messages: retry, resend unknown, cancel, mark resolved.

Each runs within the operator's clinics: another clinic's message answers 403 and nothing is
written, exactly as for a message that does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from reminders.api.auth import Operator, acting_operator
from reminders.api.deps import AppState, app_state
from reminders.api.ops import missing, not_yours
from reminders.db import session_scope
from reminders.intake.fields import row_id
from reminders.models import Message
from reminders.ops import actions as operations

router = APIRouter(prefix="/ops", tags=["operators"], include_in_schema=False)
State = Annotated[AppState, Depends(app_state)]
ACTIONS = ("retry", "cancel", "resolve")


@router.post("/messages/{message_id}/{action}", response_model=None)
def act(
    request: Request,
    message_id: str,
    action: str,
    state: State,
    who: Annotated[Operator, Depends(acting_operator)],
    resend_unknown: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ops/problems",
) -> RedirectResponse | HTMLResponse:
    """Run one action on one message, record it, and go back with a notice."""
    if action not in ACTIONS:
        return missing(request, who, f"action {action[:20]!r}")
    wanted = row_id(message_id)
    if wanted is None:
        return missing(request, who, f"message {message_id[:20]!r}")
    result = _run(state, action, wanted, who, resend_unknown == "yes")
    if not result.found:
        with Session(state.engine) as session:
            exists = session.get(Message, wanted) is not None
        what = f"message {wanted}"
        return not_yours(request, who, what) if exists else missing(request, who, what)
    word = "done" if result.ok else "refused"
    notice = f"message {wanted}: {result.action.replace('_', ' ')} {word}: {result.detail}"
    # Only ever redirect inside the dashboard.
    target = back if back.startswith("/ops") and "//" not in back else "/ops/problems"
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}{urlencode({'notice': notice})}", status_code=303)


def _run(
    state: AppState, action: str, message_id: int, who: Operator, resend: bool
) -> operations.ActionResult:
    now, scope = datetime.now(UTC), who.clinic_ids
    with session_scope(state.engine) as session:
        if action == "retry":
            return operations.retry(session, message_id, who.actor, now, resend, scope)
        if action == "cancel":
            return operations.cancel(session, message_id, who.actor, now, scope)
        return operations.resolve(session, message_id, who.actor, now, scope)
