"""Operator logins and POST actions: retry, resend unknown, cancel, mark resolved."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from reminders.api.auth import (
    COOKIE,
    SESSION_SECONDS,
    Operator,
    checked_operator,
    configured_token,
    new_session,
    token_matches,
)
from reminders.api.deps import AppState, app_state
from reminders.api.ops import templates
from reminders.db import session_scope
from reminders.ops import actions as operations

router = APIRouter(prefix="/ops", tags=["operators"], include_in_schema=False)
State = Annotated[AppState, Depends(app_state)]
ACTIONS = {
    "retry": operations.retry,
    "cancel": operations.cancel,
    "resolve": operations.resolve,
}


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, state: State) -> HTMLResponse:
    """The login form (a browser cannot send a bearer header by itself)."""
    configured_token(state)
    return templates.TemplateResponse(request, "login.html", {"error": ""})


@router.post("/login", response_model=None)
def login(
    request: Request,
    state: State,
    token: Annotated[str, Form()],
    name: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Check the token and set an HttpOnly, SameSite=Strict session cookie."""
    expected = configured_token(state)
    if not token_matches(expected, token.strip()):
        context = {"error": "wrong operator token"}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse("/ops", status_code=303)
    response.set_cookie(
        COOKIE,
        new_session(expected, name.strip() or "operator"),
        max_age=SESSION_SECONDS,
        path="/ops",
        httponly=True,
        samesite="strict",
        secure=state.settings.public_url.startswith("https://"),
    )
    return response


@router.post("/logout")
def logout(who: Annotated[Operator, Depends(checked_operator)]) -> RedirectResponse:
    """Forget the session cookie."""
    response = RedirectResponse("/ops/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ops")
    return response


@router.post("/messages/{message_id}/{action}")
def act(
    message_id: int,
    action: str,
    state: State,
    who: Annotated[Operator, Depends(checked_operator)],
    resend_unknown: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ops/problems",
) -> RedirectResponse:
    """Run one action on one message, record it, and go back with a notice."""
    now = datetime.now(UTC)
    with session_scope(state.engine) as session:
        if action == "retry":
            result = operations.retry(session, message_id, who.name, now, resend_unknown == "yes")
        elif action in ACTIONS:
            result = ACTIONS[action](session, message_id, who.name, now)
        else:
            result = operations.ActionResult(message_id, action, False, "no such action")
    word = "done" if result.ok else "refused"
    notice = f"message {message_id}: {result.action.replace('_', ' ')} {word}: {result.detail}"
    # Only ever redirect inside the dashboard.
    target = back if back.startswith("/ops") and "//" not in back else "/ops/problems"
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}{urlencode({'notice': notice})}", status_code=303)
