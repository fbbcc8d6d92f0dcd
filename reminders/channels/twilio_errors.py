"""PURE: classify Twilio API answers and transport failures into SendError kinds."""

from __future__ import annotations

from urllib3.exceptions import ConnectTimeoutError, HTTPError, SSLError

from reminders.channels.base import SendError
from reminders.outbox.lifecycle import AMBIGUOUS, PERMANENT, TRANSIENT

RATE_LIMITED = 20429
OPTED_OUT = 21610
# Refused for good: a resend of the same request would be refused the same way.
PERMANENT_CODES = frozenset({21211, OPTED_OUT, 21614, 30004, 30005, 30006, 30007})
# Our configuration is wrong (credentials, account, sender): fixable, so retry with backoff
# rather than failing every patient's message for good.
CONFIG_CODES = frozenset({20003, 20404, 21212, 21606, 21659})
CONFIG_STATUSES = frozenset({401, 403, 404})


def classify_answer(status: int, code: int | None, text: str) -> SendError:
    """An error answer from Twilio: the request reached it, and it said no (or broke)."""
    code_text = str(code if code is not None else status)
    detail = f"Twilio answered {status} (code {code_text}): {text}"
    if status == 429 or code == RATE_LIMITED:
        return SendError(TRANSIENT, detail, code_text)
    if code in PERMANENT_CODES:
        return SendError(PERMANENT, detail, code_text, opt_out=code == OPTED_OUT)
    if status >= 500:
        # Twilio may have queued the message before failing: only reconciliation can tell.
        return SendError(AMBIGUOUS, detail, code_text)
    if code in CONFIG_CODES or status in CONFIG_STATUSES:
        return SendError(TRANSIENT, f"check the Twilio settings: {detail}", code_text)
    return SendError(PERMANENT, detail, code_text)


def classify_transport(exc: HTTPError) -> SendError:
    """A transport failure: transient if nothing reached Twilio, else ambiguous."""
    name = type(exc).__name__
    # Connecting failed (refused, DNS, connect timeout, TLS): no request left this machine.
    if isinstance(exc, ConnectTimeoutError | SSLError):
        return SendError(TRANSIENT, f"could not connect to Twilio ({name}): {exc}", name)
    return SendError(AMBIGUOUS, f"Twilio did not answer after the request was sent ({name})", name)
