"""Status callbacks posted the way Twilio posts them: form-encoded and signed."""

from __future__ import annotations

import httpx
from twilio.request_validator import RequestValidator

from tests.fakes.twilio_state import Received


def callback_params(message: Received, status: str, error_code: int | None) -> dict[str, str]:
    """The form Twilio sends to a StatusCallback URL."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": "2010-04-01",
        "From": message.from_,
        "MessageSid": message.sid,
        "MessageStatus": status,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "To": message.to,
    }
    if message.messaging_service_sid:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def sign(url: str, params: dict[str, str], auth_token: str) -> str:
    """X-Twilio-Signature for a POST of `params` to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def post_status(
    message: Received,
    status: str,
    auth_token: str,
    error_code: int | None = None,
    url: str | None = None,
    timeout: float = 10.0,
) -> int:
    """POST a signed status callback for `message`; returns the receiver's HTTP status.

    The signature covers the message's StatusCallback URL; `url` only changes where the
    request is delivered (as a proxy in front of the API would).
    """
    if not message.status_callback:
        raise ValueError(f"message {message.sid} has no StatusCallback URL")
    message.status = status
    message.error_code = error_code
    params = callback_params(message, status, error_code)
    headers = {"X-Twilio-Signature": sign(message.status_callback, params, auth_token)}
    response = httpx.post(
        url or message.status_callback, data=params, headers=headers, timeout=timeout
    )
    message.callbacks.append(status)
    return response.status_code
