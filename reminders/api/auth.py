"""Who is calling an operator route: a named account, the SSO proxy's user, or the machine token.

A browser signs in with a username and password and gets a signed session cookie (see
sessions.py); behind a single sign-on proxy, REMINDERS_SSO_USER_HEADER names the account, trusted
only from REMINDERS_SSO_PROXIES. Scripts and Prometheus send the bearer token
(REMINDERS_OPERATOR_TOKEN), read-only unless REMINDERS_OPERATOR_TOKEN_CAN_ACT. Sessions carry a
CSRF token every POST form must echo; bearer requests need none (a browser never adds the header).
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from reminders.api import sessions
from reminders.api.deps import AppState, app_state
from reminders.models import OperatorAccount
from reminders.ops import accounts

TOKEN_ROLE = "token"
DISABLED = "the operator token is not configured: set REMINDERS_OPERATOR_TOKEN to use one"
READ_ONLY = (
    "the operator token is read-only: sign in with an account, or set "
    "REMINDERS_OPERATOR_TOKEN_CAN_ACT=true to let it act"
)
# Where the sliding-expiry middleware finds a re-signed session cookie for this response.
REFRESH_STATE = "ops_cookie"


class OperatorRefusedError(Exception):
    """The request is not an operator's: 401 (who are you), 403 (CSRF, role, read-only token)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code, self.detail = status_code, detail


@dataclass(frozen=True)
class Operator:
    """Who is acting and on which clinics (None: every clinic); `csrf` is what forms carry."""

    name: str
    role: str
    clinic_ids: frozenset[str] | None
    csrf: str | None = None
    can_act: bool = True

    @property
    def actor(self) -> str:
        """The name recorded in the audit trail."""
        return "token" if self.role == TOKEN_ROLE else accounts.actor_of(self.name)

    def sees(self, clinic_id: str | None) -> bool:
        """Whether this operator may see or act on that clinic's things."""
        return self.clinic_ids is None or clinic_id in self.clinic_ids


def key_of(state: AppState) -> bytes:
    """The key session cookies and CSRF tokens are signed with."""
    return sessions.session_key(state.settings.session_secret, state.link_key)


def token_matches(token: str, given: str) -> bool:
    """Constant-time comparison of a presented token."""
    return hmac.compare_digest(token.encode(), given.encode())


def operator(request: Request, state: Annotated[AppState, Depends(app_state)]) -> Operator:
    """FastAPI dependency: the authenticated operator, or 401/403 (one account lookup).

    Plain `def` on purpose: the lookup blocks, so FastAPI runs it in its thread pool."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and given:
        return _bearer(state, given.strip())
    sso = _sso_username(request, state)
    if sso is not None:
        return _sso_operator(state, sso)
    cookie = request.cookies.get(sessions.COOKIE)
    if cookie:
        found = _cookie_operator(request, state, cookie)
        if found is not None:
            return found
        raise OperatorRefusedError(401, "your session has ended: log in again")
    raise OperatorRefusedError(401, "operator login required")


def _bearer(state: AppState, given: str) -> Operator:
    token = state.settings.operator_token
    if not token:
        raise OperatorRefusedError(403, DISABLED)
    if not token_matches(token, given):
        raise OperatorRefusedError(401, "wrong operator token")
    return Operator("token", TOKEN_ROLE, None, None, state.settings.operator_token_can_act)


def from_trusted_proxy(request: Request, state: AppState) -> bool:
    """Whether the request's peer is one of REMINDERS_SSO_PROXIES."""
    if request.client is None or not state.settings.sso_proxies.strip():
        return False
    try:
        peer = ipaddress.ip_address(request.client.host)
    except ValueError:
        return False
    networks = (p.strip() for p in state.settings.sso_proxies.split(",") if p.strip())
    return any(peer in ipaddress.ip_network(n, strict=False) for n in networks)


def client_address(request: Request, state: AppState) -> str:
    """The client's address: the peer, or the address a trusted proxy says it forwarded."""
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and from_trusted_proxy(request, state):
        return forwarded.split(",")[-1].strip()[:64] or peer
    return peer


def _sso_username(request: Request, state: AppState) -> str | None:
    header = state.settings.sso_user_header
    if not header or not from_trusted_proxy(request, state):
        return None  # a header from anyone else is ignored, never trusted
    value = request.headers.get(header, "").strip()
    return value or None


def _sso_operator(state: AppState, username: str) -> Operator:
    with Session(state.engine) as session:
        account = accounts.find(session, username)
    if account is None or account.disabled_at is not None:
        raise OperatorRefusedError(403, f"no enabled operator account {username[:64]!r}")
    key = key_of(state)
    csrf = sessions.csrf_token(key, f"sso:{account.id}:{account.session_generation}")
    return _of(account, csrf)


def _cookie_operator(request: Request, state: AppState, cookie: str) -> Operator | None:
    settings = state.settings
    key = key_of(state)
    ticket = sessions.unseal(key, cookie)
    now = state.clock().timestamp()
    if ticket is None or ticket.expired(
        now, settings.session_max_seconds, settings.session_idle_seconds
    ):
        return None
    with Session(state.engine) as session:
        account = session.get(OperatorAccount, ticket.account_id)
    if account is None or account.disabled_at is not None:
        return None
    if account.session_generation != ticket.generation:
        return None
    touched = ticket.touched(now)
    if touched is not None:
        left = touched.issued + settings.session_max_seconds - int(now)
        secure = settings.public_url.startswith("https://")
        value = sessions.seal(key, touched)
        setattr(request.state, REFRESH_STATE, sessions.cookie_headers(value, left, secure))
    return _of(account, sessions.csrf_token(key, ticket.nonce))


def _of(account: OperatorAccount, csrf: str) -> Operator:
    return Operator(account.username, account.role, accounts.clinic_scope(account), csrf)


async def checked_operator(
    who: Annotated[Operator, Depends(operator)], csrf_token: Annotated[str, Form()] = ""
) -> Operator:
    """FastAPI dependency for POST forms: the operator, after the CSRF check for browsers."""
    if who.csrf is not None and not hmac.compare_digest(who.csrf.encode(), csrf_token.encode()):
        raise OperatorRefusedError(403, "the form's CSRF token is missing or wrong; reload")
    return who


async def acting_operator(who: Annotated[Operator, Depends(checked_operator)]) -> Operator:
    """FastAPI dependency for actions that change something: refuses a read-only token."""
    if not who.can_act:
        raise OperatorRefusedError(403, READ_ONLY)
    return who


async def platform_operator(who: Annotated[Operator, Depends(operator)]) -> Operator:
    """FastAPI dependency for platform-wide views (/metrics): an admin or the token."""
    if who.clinic_ids is not None:
        raise OperatorRefusedError(403, "only an admin or the operator token sees every clinic")
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


class SessionRefresher:
    """ASGI middleware: add the re-signed session cookie the auth dependency left, if any.

    Routes return their own responses, so a dependency cannot set a header on them; this adds
    it on the way out. Plain ASGI, like the webhook counter.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(sessions.COOKIE_PATH):
            await self.app(scope, receive, send)
            return

        async def add_cookie(message: Message) -> None:
            headers = (scope.get("state") or {}).get(REFRESH_STATE)
            if message["type"] == "http.response.start" and headers:
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, add_cookie)
