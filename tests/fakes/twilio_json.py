"""Twilio-shaped JSON bodies: a Message resource, a Messages page and an error."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Any

from tests.fakes.twilio_state import ERROR_TEXT, Received

API = "/2010-04-01"


def rfc2822(moment: datetime | None) -> str | None:
    """Twilio's date format: 'Sat, 21 Nov 2026 05:00:00 +0000'."""
    return format_datetime(moment) if moment is not None else None


def message_json(message: Received) -> dict[str, Any]:
    """A Message resource as Twilio returns it."""
    uri = f"{API}/Accounts/{message.account_sid}/Messages/{message.sid}.json"
    segments = 1 if len(message.body) <= 160 else -(-len(message.body) // 153)
    return {
        "account_sid": message.account_sid,
        "api_version": "2010-04-01",
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_created),
        "date_updated": rfc2822(message.date_created),
        "direction": "outbound-api",
        "error_code": message.error_code,
        "error_message": ERROR_TEXT.get(message.error_code) if message.error_code else None,
        "from": message.from_ or None,
        "messaging_service_sid": message.messaging_service_sid,
        "num_media": "0",
        "num_segments": str(segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        "to": message.to,
        "uri": uri,
    }


def page_json(
    account_sid: str, messages: list[Received], page: int, size: int, query: str
) -> dict[str, Any]:
    """One page of the Messages list, newest first, with Twilio's paging keys."""
    base = f"{API}/Accounts/{account_sid}/Messages.json"
    start = page * size
    chunk = messages[start : start + size]
    more = start + size < len(messages)
    extra = f"&{query}" if query else ""
    return {
        "messages": [message_json(m) for m in chunk],
        "end": start + max(len(chunk) - 1, 0),
        "first_page_uri": f"{base}?PageSize={size}&Page=0{extra}",
        "next_page_uri": f"{base}?PageSize={size}&Page={page + 1}{extra}" if more else None,
        "previous_page_uri": f"{base}?PageSize={size}&Page={page - 1}{extra}" if page else None,
        "page": page,
        "page_size": size,
        "start": start,
        "uri": f"{base}?PageSize={size}&Page={page}{extra}",
    }


def error_json(status: int, code: int | None, to: str = "") -> dict[str, Any]:
    """Twilio's error body: code, message (quoting the recipient as Twilio may), status."""
    code = code if code is not None else status
    text = ERROR_TEXT.get(code, "Internal Server Error" if status >= 500 else "Error")
    return {
        "code": code,
        "message": text.replace("{to}", to),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
