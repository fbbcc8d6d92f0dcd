"""Bound request bodies before anything buffers them: 413 as soon as a body is too large."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Clinic events: signed JSON that may list a whole patient; everything else is a small form.
EVENT_PATH_PREFIX = "/v1/clinics/"


class BodyLimit:
    """ASGI middleware: refuse a body above its path's limit, by Content-Length or as it streams.

    Plain ASGI, so the limit holds before the route (or the signature check) reads the body;
    chunked bodies are counted as they arrive.
    """

    def __init__(self, app: ASGIApp, event_bytes: int, form_bytes: int) -> None:
        self.app = app
        self.event_bytes, self.form_bytes = event_bytes, form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.event_bytes if scope["path"].startswith(EVENT_PATH_PREFIX) else self.form_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            problem = length_problem(declared, limit)
            if problem is not None:
                await JSONResponse({"detail": problem[1]}, status_code=problem[0])(
                    scope, receive, send
                )
                return
        received = 0

        async def bounded() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                # An HTTPException: FastAPI's body parsing passes it on, the app answers it.
                raise HTTPException(413, too_large(limit))
            return message

        await self.app(scope, bounded, send)


def length_problem(declared: bytes, limit: int) -> tuple[int, str] | None:
    """(status, detail) refusing a Content-Length header, or None if the body may come."""
    if not declared.isdigit() or len(declared) > 18:
        return 400, "Content-Length: not a number of bytes"
    if int(declared) > limit:
        return 413, too_large(limit)
    return None


def too_large(limit: int) -> str:
    """The 413 detail."""
    return f"body: at most {limit} bytes"
