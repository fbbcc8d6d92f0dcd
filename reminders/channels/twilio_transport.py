"""The HTTP transport under the official Twilio client: urllib3, a timeout, a rebased URL."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import urllib3
from twilio.http import HttpClient
from twilio.http.response import Response

log = logging.getLogger(__name__)
JSON_TYPES = ("application/json", "application/scim+json")


class RebasedHttpClient(HttpClient):
    """twilio-python's HttpClient on urllib3 (no requests layer: a third of the CPU per send).

    Every request has a timeout, goes to `api_base` when one is given, and is never retried
    here: a retry after the POST was sent could send an SMS twice, so that is the outbox's call.
    Request data (phone numbers) is never logged.
    """

    def __init__(self, api_base: str, timeout: float) -> None:
        super().__init__(log, False, timeout)
        self.api_base = urlsplit(api_base) if api_base else None
        self.pool = urllib3.PoolManager(
            maxsize=32, retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
        )

    def request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send one request; urllib3's exceptions propagate for the channel to classify."""
        headers = dict(headers or {})
        if auth:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        target = self.rebase(url)
        if params:
            target += "?" + urlencode(params, doseq=True)
        # An explicit timeout=None would mean "wait forever" to urllib3: fall back to ours.
        seconds = timeout or self.timeout
        answer = self.pool.request(
            method.upper(),
            target,
            body=encode(data, headers),
            headers=headers,
            redirect=allow_redirects,
            timeout=urllib3.Timeout(connect=seconds, read=seconds),
        )
        return Response(answer.status, answer.data.decode("utf-8"), dict(answer.headers))

    def rebase(self, url: str) -> str:
        """https://api.twilio.com/2010-04-01/... -> <api_base>/2010-04-01/..."""
        if self.api_base is None:
            return url
        parts = urlsplit(url)
        path = self.api_base.path.rstrip("/") + parts.path
        return urlunsplit((self.api_base.scheme, self.api_base.netloc, path, parts.query, ""))


def encode(data: Mapping[str, Any] | None, headers: dict[str, str]) -> str | None:
    """The body the way twilio-python's requests client would send it (form or JSON)."""
    if data is None:
        return None
    if headers.get("Content-Type") in JSON_TYPES:
        return json.dumps(data)
    headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return urlencode(data, doseq=True)
