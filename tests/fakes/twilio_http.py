"""The fake Twilio server's HTTP side: Twilio's Messages endpoints and /_fake/ controls."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
from datetime import UTC, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.fakes.twilio_callbacks import post_status
from tests.fakes.twilio_json import error_json, message_json, page_json
from tests.fakes.twilio_state import Fault, Received, TwilioState, message_id_of

MESSAGES = re.compile(r"/2010-04-01/Accounts/(AC\w+)/Messages\.json")
MESSAGE = re.compile(r"/2010-04-01/Accounts/(AC\w+)/Messages/(SM\w+)\.json")


class FakeTwilioHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the fake's state and credentials."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port: int, state: TwilioState, account_sid: str, auth_token: str) -> None:
        super().__init__(("127.0.0.1", port), TwilioHandler)
        self.state, self.account_sid, self.auth_token = state, account_sid, auth_token
        self.stopping = threading.Event()
        self.auto_status: str | None = None
        # Subaccounts (a clinic's own): SID -> auth token; each reaches only its own messages.
        self.subaccounts: dict[str, str] = {}


class TwilioHandler(BaseHTTPRequestHandler):
    """Answers like api.twilio.com for Messages, plus JSON control endpoints under /_fake/."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True
    server: FakeTwilioHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet: benchmarks send thousands of requests."""

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        if url.path.startswith("/_fake/"):
            return self.control_get(url.path)
        if not self.authorized():
            return None
        if found := MESSAGE.fullmatch(url.path):
            message = self.server.state.get(found.group(2))
            if message is None:
                return self.reply(404, error_json(404, 20404))
            return self.reply(200, message_json(message))
        if found := MESSAGES.fullmatch(url.path):
            return self.reply(200, self.page(found.group(1), url.query))
        return self.reply(404, error_json(404, 20404))

    def do_POST(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if url.path.startswith("/_fake/"):
            return self.control_post(url.path, json.loads(body or "{}"))
        if not self.authorized():
            return None
        if found := MESSAGES.fullmatch(url.path):
            form = {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}
            return self.create(found.group(1), form)
        return self.reply(404, error_json(404, 20404))

    def do_DELETE(self) -> None:  # noqa: N802
        if urlsplit(self.path).path == "/_fake/faults":
            self.server.state.clear_faults()
            return self.reply(200, {})
        return self.reply(404, error_json(404, 20404))

    def authorized(self) -> bool:
        """HTTP Basic with the account SID and token, a subaccount's on its own URLs, or any
        API key (SK...)."""
        header = self.headers.get("Authorization", "")
        user, _, password = "", "", ""
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        subaccount = self.server.subaccounts.get(user)
        ok = (
            user.startswith("SK")
            or (user == self.server.account_sid and password == self.server.auth_token)
            or (subaccount == password and f"/Accounts/{user}/" in self.path)
        )
        if not ok:
            self.reply(401, error_json(401, 20003))
        return ok

    def create(self, account_sid: str, form: dict[str, str]) -> None:
        """POST Messages.json: validate, consult the fault rules, record, answer."""
        if not form.get("To"):
            return self.reply(400, error_json(400, 21604))
        if not form.get("Body"):
            return self.reply(400, error_json(400, 21602))
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return self.reply(400, error_json(400, 21606))
        fault = self.server.state.decide(form["To"], message_id_of(form.get("StatusCallback")))
        if fault is None or fault.hold_seconds or fault.record or fault.drop:
            message = self.server.state.record(account_sid, form)
        if fault is None:
            self.reply(201, message_json(message))
            return self.auto_callback(message)
        if fault.drop:
            self.close_connection = True
            return None
        if fault.hold_seconds:
            # The message is already received: the client times out and cannot know that.
            self.server.stopping.wait(fault.hold_seconds)
            return self.reply(201, message_json(message))
        return self.reply(fault.status, error_json(fault.status, fault.code, form["To"]))

    def auto_callback(self, message: Received) -> None:
        """When auto_status is set, post that status for every accepted message."""
        status = self.server.auto_status
        if status and message.status_callback:
            token = self.server.auth_token
            threading.Thread(target=_quietly, args=(message, status, token), daemon=True).start()

    def page(self, account_sid: str, query: str) -> dict[str, Any]:
        """GET Messages.json with To/From/DateSent filters, newest first."""
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        state = self.server.state.snapshot()
        selected = [m for m in state if m.account_sid == account_sid and matches(m, params)]
        selected.sort(key=lambda m: m.date_created, reverse=True)
        size = int(params.get("PageSize", 50))
        rest = urlencode({k: v for k, v in params.items() if k not in ("PageSize", "Page")})
        return page_json(account_sid, selected, int(params.get("Page", 0)), size, rest)

    def control_get(self, path: str) -> None:
        state = self.server.state
        if path == "/_fake/messages":
            return self.reply(200, [public(m) for m in state.snapshot()])
        if path == "/_fake/counts":
            attempts = {str(k): v for k, v in state.attempts_by_message_id().items()}
            sends = {str(k): v for k, v in state.sends_by_message_id().items()}
            counts = {"requests": state.requests, "sends": sends, "attempts": attempts}
            return self.reply(200, counts)
        return self.reply(404, {"error": path})

    def control_post(self, path: str, data: dict[str, Any]) -> None:
        state = self.server.state
        if path == "/_fake/faults":
            state.add_fault(Fault(**data))
        elif path == "/_fake/reset":
            state.reset(data.get("seed"))
            self.server.auto_status = None
        elif path == "/_fake/auto_status":
            self.server.auto_status = data.get("status")
        elif path == "/_fake/status":
            message = state.get(data["sid"])
            if message is None:
                return self.reply(404, {"error": f"no message {data['sid']}"})
            try:
                code = post_status(
                    message,
                    data["status"],
                    self.server.auth_token,
                    data.get("error_code"),
                    data.get("url"),
                )
            except ValueError as exc:
                return self.reply(400, {"error": str(exc)})
            return self.reply(200, {"callback_status": code})
        else:
            return self.reply(404, {"error": path})
        return self.reply(200, {})

    def reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _quietly(message: Received, status: str, token: str) -> None:
    # A receiver that is down must not kill the fake.
    with contextlib.suppress(httpx.HTTPError):
        post_status(message, status, token)


def public(message: Received) -> dict[str, Any]:
    """A received message for /_fake/messages."""
    return {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "message_id": message.message_id,
        "status_callback": message.status_callback,
        "messaging_service_sid": message.messaging_service_sid,
        "validity_period": message.validity_period,
        "date_created": message.date_created.isoformat(),
        "accepted_at": message.accepted_at,
    }


def matches(message: Received, params: dict[str, str]) -> bool:
    """Twilio's list filters: To, From, DateSent (a day), DateSent> / DateSent< (inclusive)."""
    if "To" in params and message.to != params["To"]:
        return False
    if "From" in params and message.from_ != params["From"]:
        return False
    sent = message.date_created
    if "DateSent" in params and sent.date() != moment(params["DateSent"], time.min).date():
        return False
    if "DateSent>" in params and sent < moment(params["DateSent>"], time.min):
        return False
    return not ("DateSent<" in params and sent > moment(params["DateSent<"], time.max))


def moment(text: str, default: time) -> datetime:
    """'2026-11-21' or '2026-11-21T05:00:00Z' as an aware UTC datetime."""
    if "T" in text:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    return datetime.combine(datetime.fromisoformat(text).date(), default, tzinfo=UTC)
