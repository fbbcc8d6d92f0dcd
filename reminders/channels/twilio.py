"""Twilio SMS channel on the official client: send, fetch, and look up for reconciliation."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException
from twilio.rest import Client
from urllib3.exceptions import HTTPError

from reminders.channels.base import Outgoing, SendError
from reminders.channels.senders import Sender
from reminders.channels.twilio_errors import classify_answer, classify_transport
from reminders.channels.twilio_transport import RebasedHttpClient
from reminders.config import Settings
from reminders.outbox.lifecycle import TRANSIENT

STATUS_PATH = "/v1/twilio/status"
# Twilio keeps a message in its outgoing queue at most this long when asked (ValidityPeriod).
MAX_VALIDITY_SECONDS = 36000


@dataclass(frozen=True)
class TwilioConfig:
    """What the channel needs from settings."""

    account_sid: str
    auth_token: str = ""
    api_key_sid: str = ""
    api_key_secret: str = ""
    from_: str = ""
    messaging_service_sid: str = ""
    api_base: str = ""
    timeout_seconds: float = 10.0
    public_url: str = "http://localhost:8000"

    @classmethod
    def from_settings(cls, settings: Settings) -> TwilioConfig:
        return cls(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            api_key_sid=settings.twilio_api_key_sid,
            api_key_secret=settings.twilio_api_key_secret,
            from_=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            api_base=settings.twilio_api_base,
            timeout_seconds=settings.twilio_timeout_seconds,
            public_url=settings.public_url,
        )


@dataclass(frozen=True)
class ProviderMessage:
    """What Twilio knows about one message."""

    sid: str
    status: str
    to: str
    body: str
    date_created: datetime | None
    error_code: int | None


class TwilioChannel:
    """Sends SMS through Twilio. Thread-safe: each thread gets its own client and connections."""

    name = "sms"

    def __init__(
        self, config: TwilioConfig, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        if not (config.messaging_service_sid or config.from_):
            raise ValueError("REMINDERS_TWILIO_MESSAGING_SERVICE_SID or REMINDERS_TWILIO_FROM")
        self.config, self.clock = config, clock
        self._local = threading.local()

    def client(self, sender: Sender | None = None) -> Client:
        """This thread's client for the sender's account (a clinic's subaccount, else ours)."""
        clients: dict[str, Client] | None = getattr(self._local, "clients", None)
        # A client made before a fork (celery prefork) would share its sockets with the parent.
        if clients is None or self._local.pid != os.getpid():
            clients = {}
            self._local.clients, self._local.pid = clients, os.getpid()
        config = self.config
        if sender is not None and sender.own_account:
            account, user, password = sender.account_sid, sender.account_sid, sender.auth_token
        elif config.api_key_sid:
            account, user, password = config.account_sid, config.api_key_sid, config.api_key_secret
        else:
            account, user, password = config.account_sid, config.account_sid, config.auth_token
        client = clients.get(account)
        if client is None or client.password != password:
            # Each account's client has its own connection pool and the same timeout.
            http = RebasedHttpClient(config.api_base, config.timeout_seconds)
            client = Client(user, password, account, http_client=http)
            clients[account] = client
        return client

    def sender_of(self, outgoing: Outgoing) -> Sender:
        """The sender the message goes out as: its own, else the platform's from settings."""
        given = outgoing.sender
        if given is not None and (given.from_ or given.messaging_service_sid):
            return given
        return Sender(self.config.from_, self.config.messaging_service_sid)

    def status_callback(self, message_id: int) -> str:
        """Where Twilio reports delivery for our message `message_id`."""
        return f"{self.config.public_url.rstrip('/')}{STATUS_PATH}?message_id={message_id}"

    def send(self, outgoing: Outgoing) -> str:
        """Create the message at Twilio; return its SID or raise a classified SendError."""
        params: dict[str, Any] = {
            "to": outgoing.to,
            "body": outgoing.text,
            "status_callback": self.status_callback(outgoing.message_id),
        }
        validity = self.validity_period(outgoing.valid_until)
        if validity is not None:
            params["validity_period"] = validity
        sender = self.sender_of(outgoing)
        if sender.messaging_service_sid:
            params["messaging_service_sid"] = sender.messaging_service_sid
        else:
            params["from_"] = sender.from_
        try:
            message = self.client(sender).messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify_answer(int(exc.status), _code(exc.code), _text(exc)) from exc
        except HTTPError as exc:
            raise classify_transport(exc) from exc
        except ValueError as exc:
            raise SendError("ambiguous", f"unreadable answer from Twilio: {exc}") from exc
        return str(message.sid)

    def validity_period(self, valid_until: datetime | None) -> int | None:
        """Seconds Twilio may queue the message before dropping it (a late prompt is worse)."""
        if valid_until is None:
            return None
        if valid_until.tzinfo is None:
            valid_until = valid_until.replace(tzinfo=UTC)
        seconds = int((valid_until - self.clock()).total_seconds())
        return min(max(seconds, 1), MAX_VALIDITY_SECONDS)

    def fetch(self, sid: str) -> ProviderMessage | None:
        """The message with this SID, or None if Twilio does not have it."""
        try:
            message = self.client().messages(sid).fetch()
        except (TwilioRestException, TwilioServiceException) as exc:
            if int(exc.status) == 404:
                return None
            raise _lookup_failed(exc) from exc
        except (HTTPError, TwilioException, ValueError) as exc:
            raise _lookup_failed(exc) from exc
        return _provider_message(message)

    def sent_to(
        self,
        to: str,
        since: datetime,
        until: datetime,
        exclude: Collection[str] = (),
        account: Sender | None = None,
    ) -> list[ProviderMessage]:
        """The messages to `to` Twilio created in [since, until], newest first.

        SIDs in `exclude` (already recorded on other rows) are left out, so each message
        Twilio holds accounts for one outbox row only. An empty list means Twilio received
        nothing for that number then. `account` names a clinic's own account to ask instead
        of ours. Raises SendError(transient) when it cannot be asked.
        """
        start, end = since.replace(microsecond=0), until
        # Twilio filters DateSent by day, and a still-queued message has no DateSent yet:
        # filter coarsely at Twilio, then precisely here on date_created.
        queries: list[dict[str, Any]] = [
            {"to": to, "date_sent_after": str((start - timedelta(days=1)).date()), "limit": 100},
            {"to": to, "limit": 20},
        ]
        found: dict[str, ProviderMessage] = {}
        for query in queries:
            try:
                listed = self.client(account).messages.list(**query)
            except (TwilioRestException, TwilioServiceException) as exc:
                raise _lookup_failed(exc) from exc
            except (HTTPError, TwilioException, ValueError) as exc:
                raise _lookup_failed(exc) from exc
            for message in listed:
                candidate = _provider_message(message)
                created = candidate.date_created
                if created is not None and start <= created <= end and candidate.sid not in exclude:
                    found.setdefault(candidate.sid, candidate)
        return sorted(found.values(), key=lambda m: m.date_created or start, reverse=True)


def _provider_message(message: Any) -> ProviderMessage:
    return ProviderMessage(
        sid=str(message.sid),
        status=str(message.status),
        to=str(message.to),
        body=str(message.body or ""),
        date_created=message.date_created,
        error_code=_code(message.error_code),
    )


def _code(code: object) -> int | None:
    try:
        return int(code) if code is not None else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None


def _text(exc: TwilioRestException | TwilioServiceException) -> str:
    return str(getattr(exc, "msg", None) or getattr(exc, "detail", None) or exc)


def _lookup_failed(exc: Exception) -> SendError:
    return SendError(TRANSIENT, f"could not ask Twilio: {type(exc).__name__}: {exc}")
