"""A clinic's system as a local HTTP server: verifies each event with standardwebhooks."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Received:
    """One post as the receiver saw it; `payload` only when its signature verified."""

    webhook_id: str
    verified: bool
    payload: dict[str, Any] | None
    at: float  # time.monotonic() when it came


@dataclass
class Behaviour:
    """What the receiver answers: scripted status codes first, then `status`; or it hangs."""

    status: int = 204
    script: list[int] = field(default_factory=list)
    hang_seconds: float = 0.0


class EventReceiver:
    """Listens on 127.0.0.1; `secret` is the one the clinic was given. Use as a context manager."""

    def __init__(self, secret: str = "", path: str = "/hooks/aftercare") -> None:
        self.secret, self.path = secret, path
        self.received: list[Received] = []
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where the clinic says its events go."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"

    def __enter__(self) -> EventReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.released.set()  # a hanging handler returns
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        """The verified bodies, in the order they came."""
        return [r.payload for r in self.received if r.verified and r.payload is not None]

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        """Verify and record one post; the status code to answer."""
        try:
            payload = Webhook(self.secret).verify(body, headers)
            verified = True
        except WebhookVerificationError:
            payload, verified = None, False
        with self.lock:
            webhook_id = headers.get("webhook-id", "")
            self.received.append(Received(webhook_id, verified, payload, time.monotonic()))
            behaviour = self.behaviour
            status = behaviour.script.pop(0) if behaviour.script else behaviour.status
        if behaviour.hang_seconds:
            self.released.wait(behaviour.hang_seconds)
        return status if verified else 401

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status = receiver.answer(body, headers)
                self.send_response(status)
                self.send_header("content-length", "0")
                if 300 <= status < 400:
                    self.send_header("location", "https://elsewhere.example/")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        return Handler
