"""Dashboard sign-in and sign-out: username and password, rate-limited, audited.

Failed logins are counted per account and per client address (login_limit.py); every attempt
is recorded in the audit trail with the address, never the password.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from reminders.api import sessions
from reminders.api.auth import REFRESH_STATE, Operator, checked_operator, client_address, key_of
from reminders.api.deps import AppState, app_state
from reminders.api.login_limit import LoginLimiter
from reminders.api.ops import templates
from reminders.api.opsstate import OpsState, ops_state
from reminders.db import session_scope
from reminders.ops import accounts, audit, passwords

router = APIRouter(prefix="/ops", tags=["operators"], include_in_schema=False)
State = Annotated[AppState, Depends(app_state)]
Shared = Annotated[OpsState, Depends(ops_state)]
WRONG = "wrong username or password"
MAX_USERNAME = 64


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The login form."""
    return templates.TemplateResponse(request, "login.html", {"error": ""})


@router.post("/login", response_model=None)
def login(
    request: Request,
    state: State,
    shared: Shared,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    """Check the password and set an HttpOnly, SameSite=Strict session cookie."""
    problem = form_problem(username, password)
    if problem:  # answered on the form itself, not as JSON
        return _form(request, problem, 422)
    settings = state.settings
    name, address = accounts.normal_username(username), client_address(request, state)
    limiter = LoginLimiter(
        shared.redis,
        settings.redis_key_prefix,
        settings.login_attempts,
        settings.login_window_seconds,
    )
    now = state.clock()
    wait = limiter.blocked(name, address)
    if wait:
        error = f"too many failed logins: try again in {max(1, wait // 60)} min"
        return _form(request, error, 429)
    with session_scope(state.engine) as session:
        outcome = accounts.sign_in(session, name, password)
        account = outcome.account or accounts.find(session, name)
        audit.record(
            session,
            accounts.actor_of(name),
            "login" if outcome.account else "login failed",
            clinic_id=account.clinic_id if account else None,
            target=f"operator:{name}",
            detail=f"from {address}" + (f": {outcome.problem}" if outcome.problem else ""),
            now=now,
        )
        signed_in = outcome.account
        ticket = None
        if signed_in is not None:
            session.flush()  # a rehashed password is written with the login entry
            assert signed_in.id is not None  # a stored account
            ticket = sessions.new_ticket(
                signed_in.id, signed_in.session_generation, now.timestamp()
            )
    if ticket is None:
        limiter.failed(name, address)
        return _form(request, WRONG, 401)
    limiter.succeeded(name)
    response = RedirectResponse("/ops", status_code=303)
    value = sessions.seal(key_of(state), ticket)
    secure = settings.public_url.startswith("https://")
    response.raw_headers.extend(
        sessions.cookie_headers(value, settings.session_max_seconds, secure)
    )
    return response


@router.post("/logout")
def logout(
    request: Request, who: Annotated[Operator, Depends(checked_operator)]
) -> RedirectResponse:
    """Forget the session cookie."""
    setattr(request.state, REFRESH_STATE, None)  # no re-signed cookie on the way out
    response = RedirectResponse("/ops/login", status_code=303)
    response.delete_cookie(sessions.COOKIE, path=sessions.COOKIE_PATH)
    return response


def form_problem(username: str, password: str) -> str | None:
    """What makes the login form unusable before any account is looked up, or None."""
    if not username.strip() or not password:
        return "username and password: both required"
    if len(username) > MAX_USERNAME or "\x00" in username:
        return f"username: at most {MAX_USERNAME} characters, without NUL"
    if len(password) > passwords.MAX_PASSWORD:
        return f"password: at most {passwords.MAX_PASSWORD} characters"
    return None


def _form(request: Request, error: str, status_code: int) -> HTMLResponse:
    context = {"error": error}
    return templates.TemplateResponse(request, "login.html", context, status_code=status_code)
