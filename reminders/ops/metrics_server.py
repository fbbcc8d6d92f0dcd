"""A /metrics endpoint of its own for a worker host without the API: its processes' counts.

Behind the same operator bearer token as the API's /metrics; serves no gauges (the API does).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.registry import Collector, CollectorRegistry

from reminders.api.auth import DISABLED, token_matches

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def guarded(token: str, app: WSGIApp) -> WSGIApp:
    """Answer only requests bearing the operator token: 403 when none is set, else 401."""

    def check(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not token:
            return refuse(start_response, "403 Forbidden", DISABLED)
        if scheme.lower() != "bearer" or not token_matches(token, given.strip()):
            return refuse(start_response, "401 Unauthorized", "operator bearer token required")
        return app(environ, start_response)

    return check


def refuse(start_response: StartResponse, status: str, reason: str) -> list[bytes]:
    """A plain-text refusal naming the reason."""
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [reason.encode() + b"\n"]


class QuietHandler(WSGIRequestHandler):
    """No access log line per scrape."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        """Say nothing."""


def serve_counts(
    port: int,
    token: str,
    counts: Collector,
    host: str = "0.0.0.0",  # noqa: S104 (a container)
) -> WSGIServer:
    """Serve `counts` at /metrics on a daemon thread; the caller may `shutdown()` the server."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(counts)
    server = make_server(
        host, port, guarded(token, make_wsgi_app(registry)), handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
