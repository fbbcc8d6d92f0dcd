"""Bodies are bounded before anything reads them whole: 413 as soon as one is too large."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from reminders.channels.console import ConsoleChannel
from reminders.cli.webhook_sender import event_body, signed_headers
from tests.webhooks.conftest import Hooks, make_app, treatment_completed

EVENTS = "/v1/clinics/glow/events"
CHUNK = b"x" * 65536


def test_an_unsigned_event_above_the_limit_is_refused_before_its_signature(hooks: Hooks) -> None:
    before = hooks.counts()
    answer = hooks.client.post(EVENTS, content=b"{" + b" " * 300 * 1024 + b"}")
    assert answer.status_code == 413, answer.text
    assert answer.json() == {"detail": "body: at most 262144 bytes"}
    assert hooks.counts() == before


def test_a_chunked_event_stops_being_read_at_the_limit(hooks: Hooks) -> None:
    """A body without Content-Length is counted as it streams: the rest is never read."""
    before = hooks.counts()
    status, chunks_read = asyncio.run(stream(hooks.client.app, EVENTS, chunks=3200))  # 200 MB
    assert status == 413
    assert chunks_read <= 262144 // len(CHUNK) + 1
    assert hooks.counts() == before


def test_twilio_forms_and_the_login_form_have_a_smaller_limit(hooks: Hooks) -> None:
    big = {"Body": "x" * 40 * 1024, "From": "+34612345678", "MessageSid": "SM1"}
    for path in ("/v1/twilio/inbound", "/v1/twilio/status?message_id=1", "/ops/login"):
        answer = hooks.client.post(path, data=big)
        assert answer.status_code == 413, (path, answer.text)
        status, _read = asyncio.run(stream(hooks.client.app, path, chunks=100))
        assert status == 413, path


def test_a_content_length_that_is_not_a_number_is_refused(hooks: Hooks) -> None:
    status, _read = asyncio.run(stream(hooks.client.app, EVENTS, 1, [(b"content-length", b"1e9")]))
    assert status == 400


def test_the_event_limit_is_a_setting(
    engine: Engine, database_url: str, redis_url: str, hooks: Hooks
) -> None:
    channels: dict[str, Any] = {"email": ConsoleChannel("email", stream=io.StringIO())}
    app = make_app(database_url, redis_url, channels, api_max_event_bytes=1024)
    body = event_body("treatment.completed", treatment_completed()) + b" " * 2048
    with TestClient(app) as client:
        headers = signed_headers(hooks.secret, body)
        assert client.post(EVENTS, content=body, headers=headers).status_code == 413
    answer = hooks.client.post(EVENTS, content=body, headers=signed_headers(hooks.secret, body))
    assert answer.status_code == 202, answer.text


async def stream(
    app: Any, path: str, chunks: int, headers: list[tuple[bytes, bytes]] | None = None
) -> tuple[int, int]:
    """POST `chunks` chunks of 64 KB without Content-Length: (status, chunks the app read)."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers or [(b"content-type", b"application/x-www-form-urlencoded")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
        "app": app,
    }
    read, statuses = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": CHUNK, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0], read
