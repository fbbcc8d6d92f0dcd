"""Operator authentication: a bearer token, or a signed session cookie from the login form.

The cookie is signed with a key derived from REMINDERS_OPERATOR_TOKEN, so changing the token
logs every browser out. Cookie sessions carry a CSRF token that every POST form must echo;
bearer requests need none (a browser never attaches the header by itself).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from reminders.api.deps import AppState, app_state

COOKIE = "reminders_ops"
SESSION_SECONDS = 12 * 3600
BEARER_ACTOR = "operator"
DISABLED = "operator access is disabled: set REMINDERS_OPERATOR_TOKEN to enable it"


class OperatorRefusedError(Exception):
    """The request is not an operator's: 401 (who are you), 403 (CSRF, or operators disabled)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


@dataclass(frozen=True)
class Operator:
    """Who is acting; `csrf` is the token forms must carry (None for bearer requests)."""

    name: str
    csrf: str | None = None


def _key(token: str) -> bytes:
    return hashlib.sha256(b"reminders-ops-session:" + token.encode()).digest()


def _sign(token: str, payload: str) -> str:
    return hmac.new(_key(token), payload.encode(), hashlib.sha256).hexdigest()


def new_session(token: str, name: str, now: float | None = None) -> str:
    """A cookie value naming the operator, valid for SESSION_SECONDS."""
    expires = int((now or time.time()) + SESSION_SECONDS)
    encoded = base64.urlsafe_b64encode(name.encode()).decode()
    payload = f"{encoded}.{secrets.token_hex(16)}.{expires}"
    return f"{payload}.{_sign(token, payload)}"


def read_session(token: str, value: str, now: float | None = None) -> Operator | None:
    """The operator of a valid, unexpired cookie, else None."""
    payload, _, signature = value.rpartition(".")
    if not payload or not hmac.compare_digest(signature, _sign(token, payload)):
        return None
    encoded, nonce, expires = payload.split(".")  # signed by us, so well formed
    if int(expires) < (now or time.time()):
        return None
    name = base64.urlsafe_b64decode(encoded.encode()).decode()
    return Operator(name=name, csrf=_sign(token, f"csrf:{nonce}"))


def configured_token(state: AppState) -> str:
    """The operator token, refusing every operator route when none is set."""
    token = state.settings.operator_token
    if not token:
        raise OperatorRefusedError(403, DISABLED)
    return token


def token_matches(token: str, given: str) -> bool:
    """Constant-time comparison of a presented token."""
    return hmac.compare_digest(token.encode(), given.encode())


async def operator(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Operator:
    """FastAPI dependency: the authenticated operator, or 401/403 (async: no thread hop)."""
    token = configured_token(state)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given:
        if token_matches(token, given.strip()):
            return Operator(name=BEARER_ACTOR)
        raise OperatorRefusedError(401, "wrong operator token")
    cookie = request.cookies.get(COOKIE)
    if cookie:
        found = read_session(token, cookie)
        if found is not None:
            return found
        raise OperatorRefusedError(401, "your session has expired: log in again")
    raise OperatorRefusedError(401, "operator login required (Authorization: Bearer <token>)")


async def checked_operator(
    who: Annotated[Operator, Depends(operator)], csrf_token: Annotated[str, Form()] = ""
) -> Operator:
    """FastAPI dependency for POST actions: the operator, after the CSRF check for cookies."""
    if who.csrf is not None and not hmac.compare_digest(who.csrf, csrf_token):
        raise OperatorRefusedError(403, "the form's CSRF token is missing or wrong; reload")
    return who


def refusal(request: Request, exc: Exception) -> Response:
    """Exception handler: the login page for dashboard 401s, JSON with the reason otherwise."""
    assert isinstance(exc, OperatorRefusedError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    if exc.status_code == 401 and request.url.path.startswith("/ops"):
        from reminders.api.ops import templates

        context = {"error": exc.detail}
        return templates.TemplateResponse(
            request, "login.html", context, status_code=401, headers=headers
        )
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)
