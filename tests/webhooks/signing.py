"""A schemathesis hook signing every fuzzed request as its real sender would.

Clinic events get a Standard Webhooks signature with the clinic's secret, Twilio endpoints
Twilio's X-Twilio-Signature, everything else the operator token, so the fuzzer's inputs reach
the validation behind the signatures. Active only while a test has set `SIGNER`.
"""

from __future__ import annotations

import json
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
import schemathesis
from standardwebhooks.webhooks import Webhook
from twilio.request_validator import RequestValidator


@dataclass(frozen=True)
class Signer:
    """The secrets the app under test trusts."""

    clinic: str
    clinic_secret: str
    twilio_token: str
    public_url: str
    operator_token: str


SIGNER: ContextVar[Signer | None] = ContextVar("SIGNER", default=None)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Serialize the body ourselves (so the signature covers the bytes sent) and sign it."""
    signer = SIGNER.get()
    if signer is None:
        return
    path = case.operation.path
    headers = dict(case.headers or {})
    if path.startswith("/v1/clinics/"):
        case.path_parameters = {**(case.path_parameters or {}), "clinic_id": signer.clinic}
        body = json_body(case.body)
        kwargs["data"] = body
        webhook_id = str(headers.get("webhook-id") or f"msg_{uuid.uuid4().hex}")
        at = datetime.now(UTC)
        headers |= {
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(signer.clinic_secret).sign(webhook_id, at, body),
            "content-type": "application/json",
        }
    elif path.startswith("/v1/twilio/"):
        form = {str(k): str(v) for k, v in (case.body or {}).items()}
        kwargs["data"] = urlencode(form).encode()
        query = urlsplit(
            requests.Request("GET", "http://x/", params=case.query).prepare().url
        ).query
        url = signer.public_url + path + (f"?{query}" if query else "")
        signature = RequestValidator(signer.twilio_token).compute_signature(url, form)
        headers |= {
            "X-Twilio-Signature": signature,
            "content-type": "application/x-www-form-urlencoded",
        }
    else:
        headers["Authorization"] = f"Bearer {signer.operator_token}"
    case.headers = headers


def json_body(body: Any) -> bytes:
    """The JSON bytes schemathesis would send for a generated body (none: empty)."""
    if type(body).__name__ == "NotSet":
        return b""
    return json.dumps(body).encode()
