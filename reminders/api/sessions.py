"""Dashboard session cookies: signed with a server key, ending at an absolute and an idle limit.

A cookie carries the account id, the account's session generation when it was signed, when
the session began and when it was last used. Nothing is kept server-side: a disable, password
or role change bumps the generation, so checking the account on each request ends its sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace

from starlette.responses import Response

COOKIE = "reminders_ops"
COOKIE_PATH = "/ops"
# A used session is signed again (sliding the idle limit) at most this often.
REFRESH_SECONDS = 60


@dataclass(frozen=True)
class Ticket:
    """What a session cookie says: whose session, of which generation, since and last used."""

    account_id: int
    generation: int
    issued: int
    seen: int
    nonce: str

    def expired(self, now: float, max_seconds: int, idle_seconds: int) -> bool:
        """Past the absolute limit, or unused for longer than the idle limit."""
        return now >= self.issued + max_seconds or now >= self.seen + idle_seconds

    def touched(self, now: float) -> Ticket | None:
        """The ticket used now, when it is worth signing again; else None."""
        if now - self.seen < REFRESH_SECONDS:
            return None
        return replace(self, seen=int(now))


def session_key(secret: str, fallback: bytes) -> bytes:
    """From REMINDERS_SESSION_SECRET, else from the service's stable key (REMINDERS_SECRET_KEY)."""
    if secret:
        return hashlib.sha256(b"reminders-ops-session:" + secret.encode()).digest()
    return hmac.new(fallback, b"reminders-ops-session", hashlib.sha256).digest()


def new_ticket(account_id: int, generation: int, now: float) -> Ticket:
    """A session beginning now."""
    return Ticket(account_id, generation, int(now), int(now), secrets.token_hex(16))


def seal(key: bytes, ticket: Ticket) -> str:
    """The cookie value: the ticket and its signature."""
    payload = base64.urlsafe_b64encode(
        json.dumps(
            [ticket.account_id, ticket.generation, ticket.issued, ticket.seen, ticket.nonce]
        ).encode()
    ).decode()
    return f"{payload}.{_sign(key, payload)}"


def unseal(key: bytes, value: str) -> Ticket | None:
    """The ticket of a cookie we signed, else None."""
    payload, _, signature = value.rpartition(".")
    # Bytes: compare_digest raises on a str that is not ASCII (a forged cookie may be).
    expected = _sign(key, payload).encode()
    if not payload or not hmac.compare_digest(signature.encode(), expected):
        return None
    account_id, generation, issued, seen, nonce = json.loads(base64.urlsafe_b64decode(payload))
    return Ticket(int(account_id), int(generation), int(issued), int(seen), str(nonce))


def csrf_token(key: bytes, bound_to: str) -> str:
    """The token forms must echo: tied to the session (or the SSO account) it was made for."""
    return _sign(key, f"csrf:{bound_to}")


def cookie_headers(value: str, max_age: int, secure: bool) -> list[tuple[bytes, bytes]]:
    """Set-Cookie header(s) for a session: HttpOnly, SameSite=Strict, dashboard paths only."""
    response = Response()
    response.set_cookie(
        COOKIE,
        value,
        max_age=max(0, max_age),
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )
    return [(name, v) for name, v in response.raw_headers if name == b"set-cookie"]


def _sign(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
